// Opening a received envelope against the sessions kept for one peer device in the sealed local
// store. Which session opens it, replays, quarantine and simultaneous initiation are the
// protocol's rules (crypto/session_store.h); this file stores its session slots under the
// client's record names:
//   session/…       SessionSlot::kActive
//   session-prev/…  SessionSlot::kPrevious
//   session-new/…   SessionSlot::kQuarantined
//   base-keys/…     the used base keys (v1::IdList of 32-byte keys, oldest first)
//   spk/…, opk/…    our signed and one-time prekeys (v1::PreKeyPairRecord)
//
//   StoredSessionSlots slots(txn, contact_hex, device, rng);
//   ALLIANCE_RETURN_IF_ERROR(crypto::AcceptQuarantined(slots, crypto::AsBytes(new_key)));
//
// Thread safety: runs inside one LocalStore transaction.
#ifndef ALLIANCE_CLIENT_ENVELOPE_OPENER_H_
#define ALLIANCE_CLIENT_ENVELOPE_OPENER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "alliance/v1/client_records.pb.h"
#include "alliance/v1/common.pb.h"
#include "client/local_store.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/session.h"
#include "crypto/session_store.h"

namespace alliance::client {

// The session slots of the peer device `device` of contact `contact_hex`, with our prekeys, in
// `txn`. Errors are the store's (DATA_LOSS for a damaged record). `txn` and `rng` are borrowed
// and must outlive this object and the sessions it loads.
class StoredSessionSlots final : public crypto::SessionSlots {
 public:
  StoredSessionSlots(LocalStore::Txn& txn, const std::string& contact_hex, uint32_t device,
                     crypto::Random& rng)
      : txn_(txn), contact_hex_(contact_hex), device_(device), rng_(rng) {}

  absl::StatusOr<std::optional<crypto::Session>> Load(crypto::SessionSlot slot) override;
  absl::Status Store(crypto::SessionSlot slot, const crypto::Session& session) override;
  absl::Status Clear(crypto::SessionSlot slot) override;
  absl::StatusOr<std::vector<crypto::PublicKey>> LoadUsedBaseKeys() override;
  absl::Status StoreUsedBaseKeys(const std::vector<crypto::PublicKey>& keys) override;
  absl::StatusOr<std::optional<crypto::SignedPreKeyPair>> SignedPreKey(uint32_t id) override;
  absl::StatusOr<std::optional<crypto::OneTimePreKeyPair>> OneTimePreKey(uint32_t id) override;
  absl::Status ConsumeOneTimePreKey(uint32_t id) override;

 private:
  std::string Name(crypto::SessionSlot slot) const;

  LocalStore::Txn& txn_;
  const std::string contact_hex_;
  const uint32_t device_;
  crypto::Random& rng_;
};

struct OpenedEnvelope {
  bool ok = false;                   // Decrypted and authenticated.
  bool replay = false;               // A prekey message of a session already built (not ok).
  // A prekey message under an identity key that belongs to another account (not ok): see
  // OpenEnvelope. Nothing was changed; drop it like a replay.
  bool misaddressed = false;
  bool identity_unverified = false;  // Under a key other than the pinned one.
  std::string remote_identity;       // The sender's identity key (32 bytes) when ok.
  size_t missing = 0;                // crypto::OpenedMessage::missing.
};

// Decrypts `envelope` from the contact `contact_hex` whose pinned identity key is `pinned_key`,
// writing the plaintext to `plain` and the updated sessions into `txn` (crypto::OpenWithSessions
// over the sender device's StoredSessionSlots). A message that cannot be opened, or of an
// unknown type, returns {ok = false} (nothing changed), with `replay` set for a replayed prekey
// message; errors are local store failures only (DATA_LOSS for a damaged record).
//
// The relay names an envelope's sender, and a prekey message carries its sender's identity
// key in-band. A key other than `pinned_key` is a key change of that contact (opened,
// quarantined and flagged) unless the key is known to belong to another account — ours, or
// another contact's pinned or pending key: then the relay re-addressed someone else's first
// message (or reflected ours), and it returns {misaddressed = true} before any session or
// one-time prekey is touched. An identity key names one account.

[[nodiscard]] absl::StatusOr<OpenedEnvelope> OpenEnvelope(
    LocalStore::Txn& txn, const crypto::IdentityKeyPair& identity, const v1::Envelope& envelope,
    const std::string& contact_hex, const std::string& pinned_key, int64_t now_unix,
    crypto::Random& rng, std::vector<uint8_t>* plain);

// Reads and writes session records (wiping the intermediate copies). LoadSession returns nullopt
// when `name` is absent, DATA_LOSS when its record is damaged.
[[nodiscard]] absl::StatusOr<std::optional<crypto::Session>> LoadSession(LocalStore::Txn& txn,
                                                                         const std::string& name,
                                                                         crypto::Random& rng);
[[nodiscard]] absl::Status StoreSession(LocalStore::Txn& txn, const std::string& name,
                                        const crypto::Session& session);

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_ENVELOPE_OPENER_H_

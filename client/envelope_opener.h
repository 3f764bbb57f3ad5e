// Opening a received envelope against the sessions kept for one peer device.
//
// Three session slots per peer device, all in the sealed local store:
//   session/…       the active session (its remote identity is always the pinned key); sending
//                   uses only this one;
//   session-prev/…  the session it replaced, still tried for late messages (e.g. both sides
//                   started a session at once);
//   session-new/…   a session whose remote identity is NOT the pinned key (quarantine): its
//                   messages are shown flagged, and only accept-key promotes it.
// When both sides started a session at once, both keep the one with the lower base key active,
// so they converge on one session.
//
// Replays: a prekey message is matched to sessions by its X3DH base key (the initiator's
// ephemeral key) before any state changes. When a stored session has that base key, only that
// session may open it; when none does but the base key already built a session (remembered in
// a bounded per-peer-device list, kMaxUsedBaseKeys, oldest evicted), or a stored session with
// that base key refuses it, the message is a replay: {replay = true}, nothing changed. A
// replayed first message therefore never rebuilds or re-activates a session, whether or not
// it used a one-time prekey.
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

namespace alliance::client {

// Base keys remembered per peer device. Default: 256.
inline constexpr int kMaxUsedBaseKeys = 256;

struct OpenedEnvelope {
  bool ok = false;                   // Decrypted and authenticated.
  bool replay = false;               // A prekey message of a session already built (not ok).
  bool identity_unverified = false;  // Under a key other than the pinned one.
  std::string remote_identity;       // The sender's identity key (32 bytes) when ok.
};

// Decrypts `envelope` from the contact `contact_hex` whose pinned identity key is `pinned_key`,
// writing the plaintext to `plain` and the updated sessions into `txn`. A message that cannot be
// opened returns {ok = false} (nothing changed), with `replay` set for a replayed prekey message;
// errors are local store failures only (DATA_LOSS for a damaged record).
[[nodiscard]] absl::StatusOr<OpenedEnvelope> OpenEnvelope(
    LocalStore::Txn& txn, const crypto::IdentityKeyPair& identity, const v1::Envelope& envelope,
    const std::string& contact_hex, const std::string& pinned_key, int64_t now_unix,
    crypto::Random& rng, std::vector<uint8_t>* plain);

// Reads and writes session records (wiping the intermediate copies).
[[nodiscard]] absl::StatusOr<std::optional<crypto::Session>> LoadSession(LocalStore::Txn& txn,
                                                                         const std::string& name,
                                                                         crypto::Random& rng);
[[nodiscard]] absl::Status StoreSession(LocalStore::Txn& txn, const std::string& name,
                                        const crypto::Session& session);

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_ENVELOPE_OPENER_H_

// A pairwise end-to-end session: X3DH to start, the Double Ratchet afterwards.
//
// Until the initiator has decrypted a reply, each of its messages is a *prekey message*:
//   0x01 ‖ IK_A (32) ‖ EK_A (32) ‖ spk_id (u32 BE) ‖ has_opk (u8, 0|1) ‖ opk_id (u32 BE, 0 if
//   none) ‖ ratchet message
// so the responder can build the session from whichever of them arrives first. The keys are
// bound by the ratchet message's AEAD (a changed key changes the shared secret); the ids only
// select the responder's keys, so a changed id names a key that fails or does not exist.
//
//   // Alice
//   ALLIANCE_ASSIGN_OR_RETURN(VerifiedBundle b, VerifyPreKeyBundle(bundle_from_relay, now));
//   ALLIANCE_ASSIGN_OR_RETURN(Session s, Session::Initiate(alice_identity, b, rng));
//   OutgoingMessage m;
//   ALLIANCE_RETURN_IF_ERROR(s.Encrypt(text, &m));      // m.type == MessageType::kPreKey
//   // Bob
//   ALLIANCE_ASSIGN_OR_RETURN(PreKeyMessage pm, ParsePreKeyMessage(m.bytes));
//   ... look up the signed prekey pm.signed_prekey_id and one-time prekey pm.one_time_prekey_id ...
//   ALLIANCE_ASSIGN_OR_RETURN(Session bob, Session::Respond(bob_identity, spk, opk, pm, now,
//                                                           &text_out, rng));
//
// Thread safety: none (owned by one conversation).
#ifndef ALLIANCE_CRYPTO_SESSION_H_
#define ALLIANCE_CRYPTO_SESSION_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "alliance/v1/records.pb.h"
#include "crypto/keys.h"
#include "crypto/ratchet.h"
#include "crypto/x3dh.h"

namespace alliance::crypto {

enum class MessageType : uint8_t { kPreKey = 1, kMessage = 2 };

inline constexpr size_t kPreKeyHeaderSize = 1 + 32 + 32 + 4 + 1 + 4;

struct OutgoingMessage {
  MessageType type = MessageType::kMessage;
  std::vector<uint8_t> bytes;
};

// A parsed prekey message. `ratchet_message` borrows from the parsed buffer.
struct PreKeyMessage {
  PublicKey initiator_identity{};
  PublicKey ephemeral_key{};
  uint32_t signed_prekey_id = 0;
  std::optional<uint32_t> one_time_prekey_id;
  ByteSpan ratchet_message;
};

// Parses the prekey envelope (no cryptography). INVALID_ARGUMENT if malformed or not canonical.
[[nodiscard]] absl::StatusOr<PreKeyMessage> ParsePreKeyMessage(ByteSpan bytes);

class Session {
 public:
  // Starts a session with the owner of `bundle` (already verified). `rng` is borrowed and must
  // outlive the session. INVALID_ARGUMENT for a bundle key of small order.
  [[nodiscard]] static absl::StatusOr<Session> Initiate(const IdentityKeyPair& ours,
                                                        const VerifiedBundle& bundle, Random& rng);
  // Same, with caller-chosen ephemeral and first ratchet keys (known-answer tests).
  [[nodiscard]] static absl::StatusOr<Session> InitiateWithKeys(const IdentityKeyPair& ours,
                                                                const VerifiedBundle& bundle,
                                                                const DhKeyPair& ephemeral,
                                                                DhKeyPair first_ratchet,
                                                                Random& rng);

  // Builds the responder's session from a prekey message and decrypts it into `plaintext`.
  // `one_time_prekey` must be the key named by `message.one_time_prekey_id` (null if none);
  // the caller deletes that key once the result is stored. Returns DecryptError() on any
  // cryptographic failure.
  [[nodiscard]] static absl::StatusOr<Session> Respond(
      const IdentityKeyPair& ours, const DhKeyPair& signed_prekey, const DhKeyPair* one_time_prekey,
      const PreKeyMessage& message, int64_t now_unix, std::vector<uint8_t>* plaintext, Random& rng);

  [[nodiscard]] static absl::StatusOr<Session> FromRecord(const v1::SessionRecord& record,
                                                          Random& rng);
  void ToRecord(v1::SessionRecord* record) const;

  Session(Session&&) = default;
  Session& operator=(Session&&) = default;

  // Encrypts `plaintext` into `out` (type and bytes replaced). Errors as Ratchet::Encrypt.
  [[nodiscard]] absl::Status Encrypt(ByteSpan plaintext, OutgoingMessage* out);

  // Decrypts a message of either type for this session. A prekey message must belong to this
  // session (same initiator identity and base key) — otherwise DecryptError(); the caller may
  // then try Respond() to start a new one. On failure nothing changes.
  [[nodiscard]] absl::Status Decrypt(MessageType type, ByteSpan bytes, int64_t now_unix,
                                     std::vector<uint8_t>* plaintext);

  // The peer's Ed25519 identity key.
  const PublicKey& remote_identity() const;
  // The initiator's X3DH ephemeral key (identifies the session).
  const PublicKey& base_key() const { return base_key_; }
  bool is_initiator() const { return is_initiator_; }
  // True while the initiator has not yet heard back (it still sends prekey messages).
  bool awaiting_reply() const { return pending_.has_value(); }
  Ratchet& ratchet() { return ratchet_; }
  // Messages of this session the peer sent before the latest one received that have not
  // arrived (their keys are held as skipped keys until they do, or expire).
  size_t missing_messages() const { return ratchet_.skipped_key_count(); }

 private:
  struct Pending {
    uint32_t signed_prekey_id = 0;
    std::optional<uint32_t> one_time_prekey_id;
  };

  Session(Ratchet ratchet, bool is_initiator, const PublicKey& base_key,
          std::optional<Pending> pending)
      : ratchet_(std::move(ratchet)),
        is_initiator_(is_initiator),
        base_key_(base_key),
        pending_(pending) {}

  Ratchet ratchet_;
  bool is_initiator_;
  PublicKey base_key_;
  std::optional<Pending> pending_;
};

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_SESSION_H_

// The Double Ratchet (Signal's published specification; constants in the DESIGN appendix).
//
// Wire format of a ratchet message (version 1):
//   header  = 0x01 ‖ ratchet public key (32) ‖ PN (u32 BE) ‖ N (u32 BE)       41 bytes
//   message = header ‖ XChaCha20-Poly1305(padded plaintext)                  (+16-byte tag)
// AEAD key and nonce come from HKDF(0^32, message key, "alliance/v1/message", 56); the associated
// data is "alliance/v1/ad" ‖ IK_initiator ‖ IK_responder ‖ the exact header bytes received.
//
// Decryption is transactional: the new state is staged and committed only after the AEAD tag
// verifies, so a forged, replayed or truncated message leaves the session exactly as it was.
// Every decryption failure returns the same status (kDecryptError), whatever the cause.
//
//   ALLIANCE_ASSIGN_OR_RETURN(Ratchet alice, Ratchet::InitInitiator(sk, bob_spk, ik_a, ik_b, rng));
//   std::vector<uint8_t> wire;
//   ALLIANCE_RETURN_IF_ERROR(alice.Encrypt(text, &wire));
//   std::vector<uint8_t> text_out;
//   ALLIANCE_RETURN_IF_ERROR(bob.Decrypt(wire, now_unix, &text_out));
//
// Thread safety: none; a Ratchet is owned by one session and used under its owner's lock.
#ifndef ALLIANCE_CRYPTO_RATCHET_H_
#define ALLIANCE_CRYPTO_RATCHET_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/status/statusor.h"
#include "alliance/v1/records.pb.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/secret.h"

namespace alliance::crypto {

inline constexpr uint8_t kRatchetVersion = 1;
inline constexpr size_t kRatchetHeaderSize = 1 + 32 + 4 + 4;
inline constexpr size_t kAeadTagSize = 16;
// Largest plaintext a message may carry. Default: 64 KiB.
inline constexpr size_t kMaxPlaintextSize = 64 * 1024;
// At most this many message keys are derived and kept for one chain.
inline constexpr uint32_t kMaxSkipPerChain = 1000;
// At most this many skipped message keys are kept in all; the oldest is evicted first.
inline constexpr size_t kMaxSkippedKeys = 2000;

// The one status every decryption failure returns.
absl::Status DecryptError();

struct RatchetOptions {
  // Skipped message keys older than this are dropped. Default: 30 days.
  int64_t skipped_key_max_age_seconds = 30 * 24 * 3600;
};

class Ratchet {
 public:
  // Initiator (Alice) after X3DH: `remote_ratchet` is the responder's signed prekey.
  // `initiator_identity`/`responder_identity` are the Ed25519 identity keys (AD order).
  // `rng` is borrowed and must outlive the Ratchet. INVALID_ARGUMENT for a bad remote key.
  [[nodiscard]] static absl::StatusOr<Ratchet> InitInitiator(const WipedArray<32>& shared_key,
                                                             const PublicKey& remote_ratchet,
                                                             const PublicKey& initiator_identity,
                                                             const PublicKey& responder_identity,
                                                             Random& rng);
  // Same with a caller-chosen first ratchet key pair (known-answer tests).
  [[nodiscard]] static absl::StatusOr<Ratchet> InitInitiatorWithKey(
      const WipedArray<32>& shared_key, const PublicKey& remote_ratchet,
      const PublicKey& initiator_identity, const PublicKey& responder_identity,
      DhKeyPair first_ratchet_key, Random& rng);
  // Responder (Bob): his signed prekey pair is the first ratchet key pair. Cannot send until it
  // has received a message.
  static Ratchet InitResponder(const WipedArray<32>& shared_key, const DhKeyPair& signed_prekey,
                               const PublicKey& initiator_identity,
                               const PublicKey& responder_identity, Random& rng);

  // Restores from a record. INVALID_ARGUMENT when the record is malformed.
  [[nodiscard]] static absl::StatusOr<Ratchet> FromRecord(const v1::SessionRecord& record,
                                                          Random& rng,
                                                          const RatchetOptions& options = {});
  // Writes the full state (secrets included) into `record`; the caller seals and wipes it.
  void ToRecord(v1::SessionRecord* record) const;

  Ratchet(Ratchet&&) = default;
  Ratchet& operator=(Ratchet&&) = default;

  // Appends the encrypted message to `out`. FAILED_PRECONDITION before a responder has
  // received anything; INVALID_ARGUMENT when plaintext exceeds kMaxPlaintextSize.
  [[nodiscard]] absl::Status Encrypt(ByteSpan plaintext, std::vector<uint8_t>* out);

  // Decrypts `message` into `plaintext` (replacing its contents). `now_unix` stamps skipped keys
  // for expiry. On any failure returns DecryptError() and changes nothing.
  [[nodiscard]] absl::Status Decrypt(ByteSpan message, int64_t now_unix,
                                     std::vector<uint8_t>* plaintext);

  // Drops skipped keys stored before `now_unix - options.skipped_key_max_age_seconds`.
  void ExpireSkippedKeys(int64_t now_unix);

  // False only for a responder that has not received anything yet.
  bool can_send() const { return state_.has_remote; }
  size_t skipped_key_count() const { return skipped_.size(); }
  const PublicKey& initiator_identity() const { return initiator_identity_; }
  const PublicKey& responder_identity() const { return responder_identity_; }

 private:
  // The part of the state a decryption stages and commits as a whole.
  struct State {
    WipedArray<32> root_key;
    DhKeyPair self;
    PublicKey remote{};
    bool has_remote = false;
    WipedArray<32> send_chain;
    bool has_send = false;  // False with has_remote: the sending half of a DH step is due.
    WipedArray<32> recv_chain;
    bool has_recv = false;
    uint32_t send_n = 0;
    uint32_t recv_n = 0;
    uint32_t prev_send_n = 0;
  };
  struct SkippedKey {
    PublicKey ratchet{};
    uint32_t counter = 0;
    WipedArray<32> key;
    int64_t stored_at = 0;
  };
  struct Header;

  Ratchet(const PublicKey& initiator_identity, const PublicKey& responder_identity, Random& rng,
          const RatchetOptions& options);

  // Derives message keys up to (not including) `until` on the staged receiving chain.
  absl::Status SkipTo(State& st, uint32_t until, int64_t now,
                      std::vector<SkippedKey>* staged) const;
  // Steps the staged state to the peer's new ratchet key (receiving half).
  absl::Status DhStep(State& st, const PublicKey& remote) const;
  // The sending half of a DH step: a fresh ratchet key pair and the new sending chain.
  absl::Status SendStep();
  // AEAD open of `message` with message key `mk`.
  absl::Status Open(const WipedArray<32>& mk, ByteSpan message,
                    std::vector<uint8_t>* plaintext) const;

  State state_;
  std::deque<SkippedKey> skipped_;  // Oldest first.
  PublicKey initiator_identity_{};
  PublicKey responder_identity_{};
  Random* rng_;  // Borrowed.
  RatchetOptions options_;
};

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_RATCHET_H_

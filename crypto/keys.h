// Identity keys, X25519 key pairs and prekeys (DESIGN §4).
//
// An account's identity is an Ed25519 key pair; its X25519 form (libsodium's birational map) is
// used for key agreement. Prekeys are X25519 key pairs: a signed prekey (rotated weekly) and
// single-use one-time prekeys.
//
//   SystemRandom rng;
//   ALLIANCE_ASSIGN_OR_RETURN(IdentityKeyPair id, IdentityKeyPair::Generate(rng));
//   SignedPreKeyPair spk = SignedPreKeyPair::Create(id, /*id=*/1, /*created_at=*/now_s, rng);
//
// Thread safety: the key types are values; const methods may be called concurrently.
#ifndef ALLIANCE_CRYPTO_KEYS_H_
#define ALLIANCE_CRYPTO_KEYS_H_

#include <array>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "alliance/v1/prekeys.pb.h"
#include "alliance/v1/records.pb.h"
#include "crypto/random.h"
#include "crypto/secret.h"

namespace alliance::crypto {

inline constexpr size_t kKeySize = 32;
inline constexpr size_t kSignatureSize = 64;
using Signature = std::array<uint8_t, kSignatureSize>;

// Ed25519 signature check. Returns true only for a valid signature by `public_key`.
[[nodiscard]] bool VerifySignature(const PublicKey& public_key, ByteSpan message,
                                   ByteSpan signature);

// Converts an Ed25519 public key to its X25519 form. INVALID_ARGUMENT for a key that is not a
// valid curve point or has small order.
[[nodiscard]] absl::StatusOr<PublicKey> IdentityToDhPublic(const PublicKey& identity);

// Copies exactly 32 bytes into a PublicKey. INVALID_ARGUMENT when the size is wrong.
[[nodiscard]] absl::StatusOr<PublicKey> ParsePublicKey(ByteSpan bytes);

// An X25519 key pair. The secret half is wiped on destruction.
struct DhKeyPair {
  WipedArray<kKeySize> secret;
  PublicKey public_key{};

  static DhKeyPair Generate(Random& rng);
  // Builds a pair from a secret; INVALID_ARGUMENT if the size is wrong.
  [[nodiscard]] static absl::StatusOr<DhKeyPair> FromSecret(ByteSpan secret);
};

// X25519(secret, public) into `out`. INVALID_ARGUMENT (fixed message) when the peer key has
// small order (all-zero output), which would make the shared secret predictable.
[[nodiscard]] absl::Status Dh(const WipedArray<kKeySize>& secret, const PublicKey& peer,
                              WipedArray<kKeySize>* out);

// The long-term Ed25519 identity of an account, with its cached X25519 form.
class IdentityKeyPair {
 public:
  // A fresh identity. RESOURCE_EXHAUSTED if secure memory is unavailable.
  [[nodiscard]] static absl::StatusOr<IdentityKeyPair> Generate(Random& rng);
  // Deterministic identity from a 32-byte seed (known-answer tests). INVALID_ARGUMENT on size.
  [[nodiscard]] static absl::StatusOr<IdentityKeyPair> FromSeed(ByteSpan seed);
  // Restores from a record. INVALID_ARGUMENT if the record is malformed or inconsistent.
  [[nodiscard]] static absl::StatusOr<IdentityKeyPair> FromRecord(const v1::IdentityRecord& record);

  IdentityKeyPair(IdentityKeyPair&&) = default;
  IdentityKeyPair& operator=(IdentityKeyPair&&) = default;

  // Writes the record (including the secret key) into `record`; the caller seals and wipes it.
  void ToRecord(v1::IdentityRecord* record) const;

  const PublicKey& public_key() const { return public_key_; }
  const PublicKey& dh_public() const { return dh_public_; }
  // The X25519 secret (for X3DH). Borrowed; valid while this object lives.
  const WipedArray<kKeySize>& dh_secret() const { return dh_secret_; }

  // Ed25519 signature over `message`.
  Signature Sign(ByteSpan message) const;

 private:
  IdentityKeyPair() = default;
  [[nodiscard]] absl::Status DeriveDh();

  SecretBytes secret_key_;  // libsodium's 64-byte Ed25519 secret key (seed || public).
  PublicKey public_key_{};
  WipedArray<kKeySize> dh_secret_;
  PublicKey dh_public_{};
};

// A signed prekey with its secret half.
struct SignedPreKeyPair {
  uint32_t id = 0;
  uint64_t created_at = 0;  // Unix seconds.
  DhKeyPair key;
  Signature signature{};

  static SignedPreKeyPair Create(const IdentityKeyPair& identity, uint32_t id, uint64_t created_at,
                                 Random& rng);
  // A signed prekey of one device of an account (several devices, DESIGN §4): signed by the
  // device's own key over wire::DeviceSignedPreKeyMessage, which names the account and device,
  // so the relay cannot serve it as another device's or another account's.
  static SignedPreKeyPair CreateForDevice(const IdentityKeyPair& device_key, ByteSpan account_id,
                                          uint32_t device_id, uint32_t id, uint64_t created_at,
                                          Random& rng);
  // The public part, as published to the relay.
  v1::SignedPreKey ToPublic() const;
  void ToRecord(v1::PreKeyPairRecord* record) const;
  [[nodiscard]] static absl::StatusOr<SignedPreKeyPair> FromRecord(
      const v1::PreKeyPairRecord& record);
};

// A one-time prekey with its secret half.
struct OneTimePreKeyPair {
  uint32_t id = 0;
  DhKeyPair key;

  static OneTimePreKeyPair Create(uint32_t id, Random& rng);
  v1::OneTimePreKey ToPublic() const;
  void ToRecord(v1::PreKeyPairRecord* record) const;
  [[nodiscard]] static absl::StatusOr<OneTimePreKeyPair> FromRecord(
      const v1::PreKeyPairRecord& record);
};

// The bytes an Ed25519 signed-prekey signature covers (appendix: domain ‖ id ‖ time ‖ key).
std::array<uint8_t, 15 + 4 + 8 + 32> SignedPreKeyMessage(uint32_t id, uint64_t created_at,
                                                         const PublicKey& public_key);

// A prekey bundle whose signature and freshness have been checked.
struct VerifiedBundle {
  PublicKey identity{};     // Ed25519.
  PublicKey identity_dh{};  // X25519 form of `identity`.
  uint32_t signed_prekey_id = 0;
  PublicKey signed_prekey{};
  std::optional<uint32_t> one_time_prekey_id;
  PublicKey one_time_prekey{};
};

// Options for bundle verification.
struct BundlePolicy {
  // Reject signed prekeys created longer ago than this. Default: 37 days (7-day rotation plus
  // the 30 days a previous key is kept).
  int64_t max_age_seconds = 37 * 24 * 3600;
  // Tolerated clock skew for keys dated in the future. Default: 1 day.
  int64_t max_future_seconds = 24 * 3600;
};

// Verifies a bundle received from the relay: sizes first, then the signed-prekey signature by
// the bundle's identity key, then freshness against `now_unix`. Returns INVALID_ARGUMENT for a
// malformed bundle (a wrong size, or a prekey with the top bit set: not canonical), PERMISSION_DENIED for a bad signature, FAILED_PRECONDITION for a stale key.
[[nodiscard]] absl::StatusOr<VerifiedBundle> VerifyPreKeyBundle(const v1::PreKeyBundle& bundle,
                                                                int64_t now_unix,
                                                                const BundlePolicy& policy = {});

// Verifies the bundle of one device of an account whose identity key is pinned as `identity`
// and whose signed device list (crypto/devices.h) names `device_id` with `device_key`: the
// bundle must carry exactly that identity, account and device, and its signed prekey must be
// signed by `device_key` over wire::DeviceSignedPreKeyMessage; then sizes and freshness as in
// VerifyPreKeyBundle. PERMISSION_DENIED for a bundle of another identity, account or device or
// a bad signature; INVALID_ARGUMENT for a malformed bundle; FAILED_PRECONDITION for a stale key.
[[nodiscard]] absl::StatusOr<VerifiedBundle> VerifyDeviceBundle(
    const v1::PreKeyBundle& bundle, const PublicKey& identity, ByteSpan account_id,
    uint32_t device_id, const PublicKey& device_key, int64_t now_unix,
    const BundlePolicy& policy = {});

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_KEYS_H_

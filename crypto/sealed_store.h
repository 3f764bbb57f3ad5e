// Sealed storage for the client's local store (DESIGN §4, §7).
//
// A random 32-byte store key encrypts every value; the store key itself is wrapped by a key
// derived from the user's passphrase with Argon2id (parameters stored beside it, so they can be
// raised later). Record names are keyed BLAKE2b hashes, so the store reveals no identifiers.
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto created, StoreKey::Create(passphrase));
//   write(created.wrapped)  // a v1::WrappedStoreKey record, no secrets in clear
//   ALLIANCE_ASSIGN_OR_RETURN(StoreKey key, StoreKey::Unwrap(passphrase, wrapped));
//   std::array<uint8_t,32> name = key.Name(AsBytes("session/…"));
//   ALLIANCE_ASSIGN_OR_RETURN(std::vector<uint8_t> sealed, key.Seal(name, value));
//   ALLIANCE_ASSIGN_OR_RETURN(SecretBytes value, key.Open(name, sealed));
//
// Thread safety: a StoreKey's const methods may be called concurrently.
#ifndef ALLIANCE_CRYPTO_SEALED_STORE_H_
#define ALLIANCE_CRYPTO_SEALED_STORE_H_

#include <array>
#include <vector>

#include "absl/status/statusor.h"
#include "alliance/v1/records.pb.h"
#include "crypto/aead.h"
#include "crypto/secret.h"

namespace alliance::crypto {

// Argon2id cost of wrapping the store key. A profile holds therapy records, so the default is
// libsodium's MODERATE profile (3 passes over 256 MiB; about 0.8 s to unlock on the 2-core
// development VM, see README), not the INTERACTIVE minimum. Tests use Interactive() to stay fast.
// Default: Moderate().
struct PassphraseCost {
  uint64_t ops_limit = crypto_pwhash_OPSLIMIT_MODERATE;
  uint64_t mem_limit = crypto_pwhash_MEMLIMIT_MODERATE;

  // libsodium's named profiles: 2 passes / 64 MiB, 3 / 256 MiB, 4 / 1 GiB.
  static constexpr PassphraseCost Interactive() {
    return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
  }
  static constexpr PassphraseCost Moderate() {
    return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
  }
  static constexpr PassphraseCost Sensitive() {
    return {crypto_pwhash_OPSLIMIT_SENSITIVE, crypto_pwhash_MEMLIMIT_SENSITIVE};
  }
};

// Bounds on a cost, for new keys and for the parameters read back from a key file (which an
// attacker with write access may have altered to make unlocking allocate gigabytes or run for
// hours). At least INTERACTIVE; at most kMaxPassphraseOpsLimit passes over
// kMaxPassphraseMemLimit bytes (SENSITIVE's memory, a little over twice its passes).
inline constexpr uint64_t kMaxPassphraseOpsLimit = 10;
inline constexpr uint64_t kMaxPassphraseMemLimit = uint64_t{1} << 30;  // 1 GiB.

inline constexpr size_t kSealNonceSize = Aead::kNonceSize;
inline constexpr size_t kSealOverhead = kSealNonceSize + Aead::kTagSize;
// Largest value Seal accepts. Default: 16 MiB.
inline constexpr size_t kMaxSealedValue = 16 * 1024 * 1024;

using RecordName = std::array<uint8_t, 32>;

class StoreKey {
 public:
  struct Created;

  // Creates a fresh random store key wrapped under `passphrase`. INVALID_ARGUMENT when the
  // cost is below the INTERACTIVE limits or above kMaxPassphraseOpsLimit /
  // kMaxPassphraseMemLimit, or the passphrase is empty; RESOURCE_EXHAUSTED when Argon2id
  // cannot get its memory.
  [[nodiscard]] static absl::StatusOr<Created> Create(ByteSpan passphrase,
                                                      const PassphraseCost& cost = {});

  // Unwraps the store key. PERMISSION_DENIED ("wrong passphrase or damaged key file") when the
  // passphrase is wrong or the record was altered — the two are indistinguishable;
  // INVALID_ARGUMENT when the record is malformed or its cost is outside the bounds above
  // (checked before any memory is allocated or any hashing is done); RESOURCE_EXHAUSTED when
  // Argon2id cannot get its memory.
  [[nodiscard]] static absl::StatusOr<StoreKey> Unwrap(ByteSpan passphrase,
                                                       const v1::WrappedStoreKey& wrapped);

  // Re-wraps this key under a new passphrase (passphrase change). Errors as Create.
  [[nodiscard]] absl::StatusOr<v1::WrappedStoreKey> Wrap(ByteSpan passphrase,
                                                         const PassphraseCost& cost = {}) const;

  StoreKey(StoreKey&&) = default;
  StoreKey& operator=(StoreKey&&) = default;

  // The keyed BLAKE2b-256 name of a logical record name.
  RecordName Name(ByteSpan logical_name) const;

  // nonce (24, random) ‖ XChaCha20-Poly1305(value, AD = name). INVALID_ARGUMENT when the value
  // exceeds kMaxSealedValue.
  [[nodiscard]] absl::StatusOr<std::vector<uint8_t>> Seal(ByteSpan name, ByteSpan value) const;

  // Opens a sealed value stored under `name`. DATA_LOSS ("stored value is damaged") when the
  // bytes were altered, moved to another name, or sealed with another key.
  [[nodiscard]] absl::StatusOr<SecretBytes> Open(ByteSpan name, ByteSpan sealed) const;

 private:
  StoreKey() = default;
  [[nodiscard]] absl::Status DeriveNameKey();

  SecretBytes key_;
  SecretBytes name_key_;
};

struct StoreKey::Created {
  StoreKey key;
  v1::WrappedStoreKey wrapped;
};

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_SEALED_STORE_H_

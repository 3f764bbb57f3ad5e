#include "crypto/sealed_store.h"

#include <cstring>
#include <string>

#include "base/status_macros.h"
#include "crypto/aead.h"
#include "crypto/hkdf.h"
#include "wire/protocol.h"

namespace alliance::crypto {
namespace {

constexpr std::string_view kNamesInfo = wire::kStoreNamesInfo;
constexpr std::string_view kWrapAd = wire::kStoreKeyWrapAd;
constexpr size_t kSaltSize = crypto_pwhash_SALTBYTES;
static_assert(kSaltSize == 16);

absl::Status CheckCost(uint64_t ops, uint64_t mem) {
  if (ops < crypto_pwhash_OPSLIMIT_INTERACTIVE || mem < crypto_pwhash_MEMLIMIT_INTERACTIVE ||
      ops > kMaxPassphraseOpsLimit || mem > kMaxPassphraseMemLimit) {
    return absl::InvalidArgumentError("passphrase cost is outside the accepted range");
  }
  return absl::OkStatus();
}

absl::StatusOr<SecretBytes> DeriveWrapKey(ByteSpan passphrase, ByteSpan salt, uint64_t ops,
                                          uint64_t mem) {
  ALLIANCE_ASSIGN_OR_RETURN(SecretBytes k, SecretBytes::Allocate(32));
  if (crypto_pwhash(k.data(), k.size(), reinterpret_cast<const char*>(passphrase.data()),
                    passphrase.size(), salt.data(), ops, static_cast<size_t>(mem),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return absl::ResourceExhaustedError("passphrase hashing ran out of memory");
  }
  return k;
}

}  // namespace

absl::StatusOr<StoreKey::Created> StoreKey::Create(ByteSpan passphrase,
                                                   const PassphraseCost& cost) {
  StoreKey key;
  ALLIANCE_ASSIGN_OR_RETURN(key.key_, SecretBytes::Random(32));
  ALLIANCE_RETURN_IF_ERROR(key.DeriveNameKey());
  ALLIANCE_ASSIGN_OR_RETURN(v1::WrappedStoreKey wrapped, key.Wrap(passphrase, cost));
  return Created{std::move(key), std::move(wrapped)};
}

absl::StatusOr<v1::WrappedStoreKey> StoreKey::Wrap(ByteSpan passphrase,
                                                   const PassphraseCost& cost) const {
  if (passphrase.empty()) return absl::InvalidArgumentError("passphrase is empty");
  ALLIANCE_RETURN_IF_ERROR(CheckCost(cost.ops_limit, cost.mem_limit));
  uint8_t salt[kSaltSize];
  randombytes_buf(salt, sizeof salt);
  ALLIANCE_ASSIGN_OR_RETURN(SecretBytes wrap_key,
                            DeriveWrapKey(passphrase, salt, cost.ops_limit, cost.mem_limit));
  std::string sealed(kSealOverhead + key_.size(), '\0');
  uint8_t* out = reinterpret_cast<uint8_t*>(sealed.data());
  randombytes_buf(out, kSealNonceSize);
  Aead::Seal(out + kSealNonceSize, key_.span(), AsBytes(kWrapAd), out, wrap_key.data());
  v1::WrappedStoreKey w;
  w.set_version(1);
  w.set_ops_limit(cost.ops_limit);
  w.set_mem_limit(cost.mem_limit);
  w.set_salt(reinterpret_cast<const char*>(salt), sizeof salt);
  w.set_sealed_key(std::move(sealed));
  return w;
}

absl::StatusOr<StoreKey> StoreKey::Unwrap(ByteSpan passphrase, const v1::WrappedStoreKey& w) {
  if (w.version() != 1 || w.salt().size() != kSaltSize ||
      w.sealed_key().size() != kSealOverhead + 32) {
    return absl::InvalidArgumentError("malformed key file");
  }
  ALLIANCE_RETURN_IF_ERROR(CheckCost(w.ops_limit(), w.mem_limit()));
  ALLIANCE_ASSIGN_OR_RETURN(SecretBytes wrap_key, DeriveWrapKey(passphrase, AsBytes(w.salt()),
                                                                w.ops_limit(), w.mem_limit()));
  StoreKey key;
  ALLIANCE_ASSIGN_OR_RETURN(key.key_, SecretBytes::Allocate(32));
  const uint8_t* in = reinterpret_cast<const uint8_t*>(w.sealed_key().data());
  if (!Aead::Open(key.key_.data(),
                  ByteSpan(in + kSealNonceSize, w.sealed_key().size() - kSealNonceSize),
                  AsBytes(kWrapAd), in, wrap_key.data())) {
    return absl::PermissionDeniedError("wrong passphrase or damaged key file");
  }
  ALLIANCE_RETURN_IF_ERROR(key.DeriveNameKey());
  return key;
}

absl::Status StoreKey::DeriveNameKey() {
  ALLIANCE_ASSIGN_OR_RETURN(name_key_, SecretBytes::Allocate(32));
  HkdfSha256({}, key_.span(), AsBytes(kNamesInfo), name_key_.mutable_span());
  return absl::OkStatus();
}

RecordName StoreKey::Name(ByteSpan logical_name) const {
  RecordName out;
  crypto_generichash(out.data(), out.size(), logical_name.data(), logical_name.size(),
                     name_key_.data(), name_key_.size());
  return out;
}

absl::StatusOr<std::vector<uint8_t>> StoreKey::Seal(ByteSpan name, ByteSpan value) const {
  if (value.size() > kMaxSealedValue) return absl::InvalidArgumentError("value is too large");
  std::vector<uint8_t> out(kSealOverhead + value.size());
  randombytes_buf(out.data(), kSealNonceSize);
  Aead::Seal(out.data() + kSealNonceSize, value, name, out.data(), key_.data());
  return out;
}

absl::StatusOr<SecretBytes> StoreKey::Open(ByteSpan name, ByteSpan sealed) const {
  if (sealed.size() < kSealOverhead || sealed.size() > kSealOverhead + kMaxSealedValue) {
    return absl::DataLossError("stored value is damaged");
  }
  ALLIANCE_ASSIGN_OR_RETURN(SecretBytes out, SecretBytes::Allocate(sealed.size() - kSealOverhead));
  if (!Aead::Open(out.data(), sealed.subspan(kSealNonceSize), name, sealed.data(), key_.data())) {
    return absl::DataLossError("stored value is damaged");
  }
  return out;
}

}  // namespace alliance::crypto

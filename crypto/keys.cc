#include "crypto/keys.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::crypto {
namespace {

using base::PutU32;
using base::PutU64;

static_assert(wire::kSignedPreKeyDomain.size() == 15);

ByteSpan StringBytes(const std::string& s) { return AsBytes(s); }

// A 32-byte X25519 public key with the top bit clear.
bool IsCanonicalDhKey(ByteSpan key) { return key.size() == kKeySize && (key[31] & 0x80) == 0; }

// X25519(secret, base point) into `public_key`. Checked like every scalar multiplication, though
// a clamped secret never gives the all-zero output libsodium refuses.
[[nodiscard]] bool ScalarMultBase(const WipedArray<kKeySize>& secret, PublicKey* public_key) {
  return crypto_scalarmult_curve25519_base(public_key->data(), secret.data()) == 0;
}

// Places `bytes` into a proto bytes field.
void SetBytes(std::string* field, ByteSpan bytes) {
  field->assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

bool VerifySignature(const PublicKey& public_key, ByteSpan message, ByteSpan signature) {
  if (signature.size() != kSignatureSize) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     public_key.data()) == 0;
}

absl::StatusOr<PublicKey> ParsePublicKey(ByteSpan bytes) {
  if (bytes.size() != kKeySize) return absl::InvalidArgumentError("public key must be 32 bytes");
  PublicKey key;
  std::memcpy(key.data(), bytes.data(), kKeySize);
  return key;
}

absl::StatusOr<PublicKey> IdentityToDhPublic(const PublicKey& identity) {
  PublicKey out;
  if (crypto_sign_ed25519_pk_to_curve25519(out.data(), identity.data()) != 0) {
    return absl::InvalidArgumentError("invalid identity key");
  }
  return out;
}

DhKeyPair DhKeyPair::Generate(Random& rng) {
  DhKeyPair pair;
  rng.Fill(pair.secret.mutable_span());
  // A broken invariant, not an input: clamping makes every secret a valid scalar.
  if (!ScalarMultBase(pair.secret, &pair.public_key)) std::abort();
  return pair;
}

absl::StatusOr<DhKeyPair> DhKeyPair::FromSecret(ByteSpan secret) {
  if (secret.size() != kKeySize) return absl::InvalidArgumentError("secret key must be 32 bytes");
  DhKeyPair pair;
  pair.secret.Assign(secret);
  if (!ScalarMultBase(pair.secret, &pair.public_key)) {
    return absl::InvalidArgumentError("invalid secret key");
  }
  return pair;
}

absl::Status Dh(const WipedArray<kKeySize>& secret, const PublicKey& peer,
                WipedArray<kKeySize>* out) {
  if (crypto_scalarmult_curve25519(out->data(), secret.data(), peer.data()) != 0) {
    return absl::InvalidArgumentError("invalid public key");
  }
  return absl::OkStatus();
}

absl::StatusOr<IdentityKeyPair> IdentityKeyPair::Generate(Random& rng) {
  WipedArray<crypto_sign_SEEDBYTES> seed;
  rng.Fill(seed.mutable_span());
  return FromSeed(seed.span());
}

absl::StatusOr<IdentityKeyPair> IdentityKeyPair::FromSeed(ByteSpan seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return absl::InvalidArgumentError("identity seed must be 32 bytes");
  }
  IdentityKeyPair pair;
  ALLIANCE_ASSIGN_OR_RETURN(pair.secret_key_, SecretBytes::Allocate(crypto_sign_SECRETKEYBYTES));
  crypto_sign_seed_keypair(pair.public_key_.data(), pair.secret_key_.data(), seed.data());
  ALLIANCE_RETURN_IF_ERROR(pair.DeriveDh());
  return pair;
}

absl::StatusOr<IdentityKeyPair> IdentityKeyPair::FromRecord(const v1::IdentityRecord& record) {
  if (record.version() != 1) return absl::InvalidArgumentError("unsupported identity record");
  if (record.secret_key().size() != crypto_sign_SECRETKEYBYTES ||
      record.public_key().size() != crypto_sign_PUBLICKEYBYTES) {
    return absl::InvalidArgumentError("malformed identity record");
  }
  // The secret key embeds the seed; rebuild from it and check the stored public key matches.
  ALLIANCE_ASSIGN_OR_RETURN(
      IdentityKeyPair pair,
      FromSeed(StringBytes(record.secret_key()).first(crypto_sign_SEEDBYTES)));
  if (std::memcmp(pair.public_key_.data(), record.public_key().data(), kKeySize) != 0) {
    return absl::InvalidArgumentError("malformed identity record");
  }
  return pair;
}

absl::Status IdentityKeyPair::DeriveDh() {
  if (crypto_sign_ed25519_sk_to_curve25519(dh_secret_.data(), secret_key_.data()) != 0) {
    return absl::InternalError("identity key conversion failed");
  }
  if (!ScalarMultBase(dh_secret_, &dh_public_)) {
    return absl::InternalError("identity key conversion failed");
  }
  return absl::OkStatus();
}

void IdentityKeyPair::ToRecord(v1::IdentityRecord* record) const {
  record->set_version(1);
  SetBytes(record->mutable_public_key(), public_key_);
  SetBytes(record->mutable_secret_key(), secret_key_.span());
}

Signature IdentityKeyPair::Sign(ByteSpan message) const {
  Signature sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_key_.data());
  return sig;
}

std::array<uint8_t, 15 + 4 + 8 + 32> SignedPreKeyMessage(uint32_t id, uint64_t created_at,
                                                         const PublicKey& public_key) {
  std::array<uint8_t, 15 + 4 + 8 + 32> m;
  const std::string bytes = wire::SignedPreKeyMessage(
      id, created_at,
      std::string_view(reinterpret_cast<const char*>(public_key.data()), public_key.size()));
  static_assert(std::tuple_size_v<decltype(m)> == 15 + 4 + 8 + 32);
  std::memcpy(m.data(), bytes.data(), m.size());
  return m;
}

SignedPreKeyPair SignedPreKeyPair::Create(const IdentityKeyPair& identity, uint32_t id,
                                          uint64_t created_at, Random& rng) {
  SignedPreKeyPair spk;
  spk.id = id;
  spk.created_at = created_at;
  spk.key = DhKeyPair::Generate(rng);
  spk.signature = identity.Sign(SignedPreKeyMessage(id, created_at, spk.key.public_key));
  return spk;
}

v1::SignedPreKey SignedPreKeyPair::ToPublic() const {
  v1::SignedPreKey out;
  out.set_id(id);
  out.set_created_at(created_at);
  SetBytes(out.mutable_public_key(), key.public_key);
  SetBytes(out.mutable_signature(), signature);
  return out;
}

void SignedPreKeyPair::ToRecord(v1::PreKeyPairRecord* record) const {
  record->set_version(1);
  record->set_id(id);
  record->set_created_at(created_at);
  SetBytes(record->mutable_public_key(), key.public_key);
  SetBytes(record->mutable_secret_key(), key.secret.span());
  SetBytes(record->mutable_signature(), signature);
}

absl::StatusOr<SignedPreKeyPair> SignedPreKeyPair::FromRecord(const v1::PreKeyPairRecord& record) {
  if (record.version() != 1 || record.signature().size() != kSignatureSize) {
    return absl::InvalidArgumentError("malformed prekey record");
  }
  SignedPreKeyPair spk;
  spk.id = record.id();
  spk.created_at = record.created_at();
  ALLIANCE_ASSIGN_OR_RETURN(spk.key, DhKeyPair::FromSecret(StringBytes(record.secret_key())));
  std::memcpy(spk.signature.data(), record.signature().data(), kSignatureSize);
  return spk;
}

OneTimePreKeyPair OneTimePreKeyPair::Create(uint32_t id, Random& rng) {
  return OneTimePreKeyPair{id, DhKeyPair::Generate(rng)};
}

v1::OneTimePreKey OneTimePreKeyPair::ToPublic() const {
  v1::OneTimePreKey out;
  out.set_id(id);
  SetBytes(out.mutable_public_key(), key.public_key);
  return out;
}

void OneTimePreKeyPair::ToRecord(v1::PreKeyPairRecord* record) const {
  record->set_version(1);
  record->set_id(id);
  SetBytes(record->mutable_public_key(), key.public_key);
  SetBytes(record->mutable_secret_key(), key.secret.span());
}

absl::StatusOr<OneTimePreKeyPair> OneTimePreKeyPair::FromRecord(
    const v1::PreKeyPairRecord& record) {
  if (record.version() != 1) return absl::InvalidArgumentError("malformed prekey record");
  OneTimePreKeyPair opk;
  opk.id = record.id();
  ALLIANCE_ASSIGN_OR_RETURN(opk.key, DhKeyPair::FromSecret(StringBytes(record.secret_key())));
  return opk;
}

namespace {

// The checks of a bundle that do not depend on who signs the signed prekey: sizes, canonical
// keys, then `signature_ok` (the signer's rule), then freshness.
absl::StatusOr<VerifiedBundle> VerifyBundleWith(
    const v1::PreKeyBundle& bundle, int64_t now_unix, const BundlePolicy& policy,
    absl::FunctionRef<bool(const VerifiedBundle&, const v1::SignedPreKey&)> signature_ok) {
  // Sizes first, then the signature, then freshness.
  const v1::SignedPreKey& spk = bundle.signed_prekey();
  if (bundle.identity_key().size() != kKeySize || spk.public_key().size() != kKeySize ||
      spk.signature().size() != kSignatureSize) {
    return absl::InvalidArgumentError("malformed prekey bundle");
  }
  const bool has_opk = bundle.has_one_time_prekey();
  if (has_opk && bundle.one_time_prekey().public_key().size() != kKeySize) {
    return absl::InvalidArgumentError("malformed prekey bundle");
  }
  // Canonical X25519 keys only (DESIGN appendix): X25519 ignores the top bit, so a relay could
  // otherwise hand out a second encoding of a key, and the one-time prekey is not signed.
  if (!IsCanonicalDhKey(AsBytes(spk.public_key())) ||
      (has_opk && !IsCanonicalDhKey(AsBytes(bundle.one_time_prekey().public_key())))) {
    return absl::InvalidArgumentError("malformed prekey bundle");
  }
  VerifiedBundle out;
  ALLIANCE_ASSIGN_OR_RETURN(out.identity, ParsePublicKey(StringBytes(bundle.identity_key())));
  ALLIANCE_ASSIGN_OR_RETURN(out.signed_prekey, ParsePublicKey(StringBytes(spk.public_key())));
  if (!signature_ok(out, spk)) {
    return absl::PermissionDeniedError("prekey bundle signature is invalid");
  }
  const int64_t created = static_cast<int64_t>(spk.created_at());
  if (spk.created_at() > static_cast<uint64_t>(INT64_MAX) ||
      created > now_unix + policy.max_future_seconds ||
      now_unix - created > policy.max_age_seconds) {
    return absl::FailedPreconditionError("signed prekey is stale");
  }
  ALLIANCE_ASSIGN_OR_RETURN(out.identity_dh, IdentityToDhPublic(out.identity));
  out.signed_prekey_id = spk.id();
  if (has_opk) {
    out.one_time_prekey_id = bundle.one_time_prekey().id();
    ALLIANCE_ASSIGN_OR_RETURN(out.one_time_prekey,
                              ParsePublicKey(StringBytes(bundle.one_time_prekey().public_key())));
  }
  return out;
}

}  // namespace

absl::StatusOr<VerifiedBundle> VerifyPreKeyBundle(const v1::PreKeyBundle& bundle, int64_t now_unix,
                                                  const BundlePolicy& policy) {
  return VerifyBundleWith(bundle, now_unix, policy,
                          [](const VerifiedBundle& b, const v1::SignedPreKey& spk) {
                            return VerifySignature(
                                b.identity, SignedPreKeyMessage(spk.id(), spk.created_at(),
                                                                b.signed_prekey),
                                StringBytes(spk.signature()));
                          });
}

absl::StatusOr<VerifiedBundle> VerifyDeviceBundle(const v1::PreKeyBundle& bundle,
                                                  const PublicKey& identity, ByteSpan account_id,
                                                  uint32_t device_id, const PublicKey& device_key,
                                                  int64_t now_unix, const BundlePolicy& policy) {
  // The bundle must be the one asked for: the account's pinned identity, that account, that
  // device. (The device-spk signature binds the last two as well; checked here first for a
  // clear answer.)
  if (account_id.size() != wire::kAccountIdSize || bundle.identity_key().size() != kKeySize ||
      std::memcmp(bundle.identity_key().data(), identity.data(), kKeySize) != 0 ||
      bundle.account_id().size() != account_id.size() ||
      std::memcmp(bundle.account_id().data(), account_id.data(), account_id.size()) != 0 ||
      bundle.device_id() != device_id) {
    return absl::PermissionDeniedError("prekey bundle is not for the device asked for");
  }
  const std::string account(reinterpret_cast<const char*>(account_id.data()), account_id.size());
  return VerifyBundleWith(
      bundle, now_unix, policy, [&](const VerifiedBundle& b, const v1::SignedPreKey& spk) {
        const std::string m = wire::DeviceSignedPreKeyMessage(
            account, device_id, spk.id(), spk.created_at(),
            std::string_view(reinterpret_cast<const char*>(b.signed_prekey.data()), kKeySize));
        return VerifySignature(device_key, AsBytes(m), StringBytes(spk.signature()));
      });
}

SignedPreKeyPair SignedPreKeyPair::CreateForDevice(const IdentityKeyPair& device_key,
                                                   ByteSpan account_id, uint32_t device_id,
                                                   uint32_t id, uint64_t created_at, Random& rng) {
  SignedPreKeyPair spk;
  spk.id = id;
  spk.created_at = created_at;
  spk.key = DhKeyPair::Generate(rng);
  const std::string m = wire::DeviceSignedPreKeyMessage(
      std::string_view(reinterpret_cast<const char*>(account_id.data()), account_id.size()),
      device_id, id, created_at,
      std::string_view(reinterpret_cast<const char*>(spk.key.public_key.data()), kKeySize));
  spk.signature = device_key.Sign(AsBytes(m));
  return spk;
}

}  // namespace alliance::crypto

#include "crypto/x3dh.h"

#include <cstring>

#include "base/status_macros.h"
#include "crypto/hkdf.h"
#include "wire/protocol.h"

namespace alliance::crypto {
namespace {

constexpr std::string_view kX3dhInfo = wire::kX3dhInfo;

// Holds 0xFF^32 ‖ DH1..DH4 and wipes it afterwards.
struct X3dhInput {
  WipedArray<32 * 5> bytes;
  size_t used = 32;
  X3dhInput() { std::memset(bytes.data(), 0xFF, 32); }
  absl::Status Add(const WipedArray<32>& secret, const PublicKey& peer) {
    WipedArray<32> dh;
    ALLIANCE_RETURN_IF_ERROR(Dh(secret, peer, &dh));
    std::memcpy(bytes.data() + used, dh.data(), 32);
    used += 32;
    return absl::OkStatus();
  }
  SharedKey Derive() const {
    SharedKey sk;
    HkdfSha256({}, bytes.span().first(used), AsBytes(kX3dhInfo), sk.mutable_span());
    return sk;
  }
};

}  // namespace

absl::StatusOr<X3dhInitiation> X3dhInitiate(const IdentityKeyPair& ours,
                                            const VerifiedBundle& bundle, Random& rng) {
  return X3dhInitiateWithEphemeral(ours, bundle, DhKeyPair::Generate(rng));
}

absl::StatusOr<X3dhInitiation> X3dhInitiateWithEphemeral(const IdentityKeyPair& ours,
                                                         const VerifiedBundle& bundle,
                                                         const DhKeyPair& ephemeral) {
  X3dhInput in;
  ALLIANCE_RETURN_IF_ERROR(in.Add(ours.dh_secret(), bundle.signed_prekey));
  ALLIANCE_RETURN_IF_ERROR(in.Add(ephemeral.secret, bundle.identity_dh));
  ALLIANCE_RETURN_IF_ERROR(in.Add(ephemeral.secret, bundle.signed_prekey));
  if (bundle.one_time_prekey_id.has_value()) {
    ALLIANCE_RETURN_IF_ERROR(in.Add(ephemeral.secret, bundle.one_time_prekey));
  }
  X3dhInitiation out;
  out.shared_key = in.Derive();
  out.ephemeral_key = ephemeral.public_key;
  return out;
}

absl::StatusOr<SharedKey> X3dhRespond(const IdentityKeyPair& ours, const DhKeyPair& signed_prekey,
                                      const DhKeyPair* one_time_prekey,
                                      const PublicKey& their_identity,
                                      const PublicKey& their_ephemeral) {
  ALLIANCE_ASSIGN_OR_RETURN(PublicKey their_identity_dh, IdentityToDhPublic(their_identity));
  X3dhInput in;
  ALLIANCE_RETURN_IF_ERROR(in.Add(signed_prekey.secret, their_identity_dh));
  ALLIANCE_RETURN_IF_ERROR(in.Add(ours.dh_secret(), their_ephemeral));
  ALLIANCE_RETURN_IF_ERROR(in.Add(signed_prekey.secret, their_ephemeral));
  if (one_time_prekey != nullptr) {
    ALLIANCE_RETURN_IF_ERROR(in.Add(one_time_prekey->secret, their_ephemeral));
  }
  return in.Derive();
}

}  // namespace alliance::crypto

// X3DH key agreement (Signal's published specification, DESIGN appendix constants).
//
//   DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B)
//   SK  = HKDF-SHA256(salt = 0^32, ikm = 0xFF^32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4],
//                     info = "alliance/v1/x3dh", 32 bytes)
//
// Identity keys are Ed25519; their X25519 forms are used in the DHs.
//
//   ALLIANCE_ASSIGN_OR_RETURN(X3dhInitiation init, X3dhInitiate(alice, bundle, rng));
//   // send init.ephemeral_key, bundle ids; on Bob's side:
//   ALLIANCE_ASSIGN_OR_RETURN(auto sk, X3dhRespond(bob, spk, &opk, alice_ik, init.ephemeral_key));
//
// Thread safety: pure functions.
#ifndef ALLIANCE_CRYPTO_X3DH_H_
#define ALLIANCE_CRYPTO_X3DH_H_

#include "absl/status/statusor.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/secret.h"

namespace alliance::crypto {

using SharedKey = WipedArray<32>;

struct X3dhInitiation {
  SharedKey shared_key;       // SK: the initial root key.
  PublicKey ephemeral_key{};  // EK_A public, sent in the prekey message.
};

// Initiator side. `bundle` must come from VerifyPreKeyBundle. INVALID_ARGUMENT if a bundle key
// has small order.
[[nodiscard]] absl::StatusOr<X3dhInitiation> X3dhInitiate(const IdentityKeyPair& ours,
                                                          const VerifiedBundle& bundle,
                                                          Random& rng);

// Same with a caller-chosen ephemeral key pair (known-answer tests).
[[nodiscard]] absl::StatusOr<X3dhInitiation> X3dhInitiateWithEphemeral(const IdentityKeyPair& ours,
                                                                       const VerifiedBundle& bundle,
                                                                       const DhKeyPair& ephemeral);

// Responder side. `one_time_prekey` is null when the initiator used none. `their_identity` is
// the initiator's Ed25519 identity key. INVALID_ARGUMENT if a received key is invalid.
[[nodiscard]] absl::StatusOr<SharedKey> X3dhRespond(const IdentityKeyPair& ours,
                                                    const DhKeyPair& signed_prekey,
                                                    const DhKeyPair* one_time_prekey,
                                                    const PublicKey& their_identity,
                                                    const PublicKey& their_ephemeral);

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_X3DH_H_

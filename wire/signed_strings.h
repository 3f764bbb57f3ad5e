// The exact byte strings Alliance signs (DESIGN appendix), built in one place for the signer
// (client, crypto/) and the verifier (relay, client), so the two can never drift apart.
//
//   std::string m = wire::SignedPreKeyMessage(id, created_at, public_key);
//   bool ok = VerifyEd25519(identity_key, m, signature);
//
// Inputs are taken as given (sizes are the caller's to check first; see protocol.h). Pure
// functions; thread-safe. tests/wire/signed_strings_test.cc pins every layout byte for byte.
#ifndef ALLIANCE_WIRE_SIGNED_STRINGS_H_
#define ALLIANCE_WIRE_SIGNED_STRINGS_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace alliance::wire {

// "alliance/v1/login" || relay id (16) || nonce (32) || expires_at u64.
std::string LoginMessage(std::string_view relay_id, std::string_view nonce, uint64_t expires_at);

// "alliance/v1/register" || relay id (16) || invite code (16) || identity key (32).
std::string RegisterMessage(std::string_view relay_id, std::string_view invite_code,
                            std::string_view identity_key);

// "alliance/v1/spk" || spk id u32 || created_at u64 (Unix s) || spk public key (32).
std::string SignedPreKeyMessage(uint32_t id, uint64_t created_at, std::string_view public_key);

// "alliance/v1/doc/" || kind || document bytes (kind: kAgreementDocument, kGoalDocument,
// kOutOfOfficeDocument).
std::string DocumentMessage(std::string_view kind, std::string_view document);

}  // namespace alliance::wire

#endif  // ALLIANCE_WIRE_SIGNED_STRINGS_H_

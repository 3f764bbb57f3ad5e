// The few primitives the relay needs, straight from libsodium: random bytes, BLAKE2b-256 and
// Ed25519 signature verification. The relay never holds a private key and never links the
// ratchet (DESIGN §3).
//
// REQUIRES: sodium_init() has succeeded (RelayServer::Create and main() check it).
// All functions are thread-safe.
#ifndef ALLIANCE_SERVER_INFRA_CRYPTO_UTIL_H_
#define ALLIANCE_SERVER_INFRA_CRYPTO_UTIL_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "wire/protocol.h"

namespace alliance::server {

// Protocol sizes, from the one definition in wire/protocol.h.
using wire::kAccountIdSize;
using wire::kEd25519PublicKeySize;
using wire::kEd25519SignatureSize;
using wire::kHashSize;
using wire::kInviteCodeSize;
using wire::kMessageIdSize;
using wire::kNonceSize;
using wire::kRelayIdSize;
using wire::kTokenSize;
using wire::kX25519PublicKeySize;

// `n` bytes from libsodium's CSPRNG.
std::string RandomBytes(size_t n);

// BLAKE2b with a 32-byte output (unkeyed).
std::string Blake2b256(std::string_view data);

// True iff `signature` (64 bytes) is a valid Ed25519 signature of `message` by `public_key`
// (32 bytes). Wrong sizes give false.
bool VerifyEd25519(std::string_view public_key, std::string_view message,
                   std::string_view signature);

// A 32-byte secret key in sodium_malloc'd memory (guard pages, wiped on free), filled from
// the CSPRNG. Move-only. For relay-held MAC keys (the stateless login challenge).
class MacKey {
 public:
  MacKey();
  // A key shared by the relay processes of one database (the bytes: crypto_auth_hmacsha256_KEYBYTES).
  explicit MacKey(std::string_view key);
  ~MacKey();
  MacKey(const MacKey&) = delete;
  MacKey& operator=(const MacKey&) = delete;
  // HMAC-SHA256 of `data` under this key (32 bytes).
  std::string Mac(std::string_view data) const;

 private:
  unsigned char* key_;
};

// Constant-time equality of two equal-length strings (false when lengths differ).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_CRYPTO_UTIL_H_

#include "server/infra/crypto_util.h"

#include <sodium.h>

#include <cstdlib>

namespace alliance::server {

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::string Blake2b256(std::string_view data) {
  std::string out(kHashSize, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr, 0);
  return out;
}

bool VerifyEd25519(std::string_view public_key, std::string_view message,
                   std::string_view signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES) {
    return false;
  }
  return crypto_sign_verify_detached(
             reinterpret_cast<const unsigned char*>(signature.data()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
             reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

MacKey::MacKey()
    : key_(static_cast<unsigned char*>(sodium_malloc(crypto_auth_hmacsha256_KEYBYTES))) {
  if (key_ == nullptr) std::abort();  // Out of memory at startup: nothing sensible to do.
  crypto_auth_hmacsha256_keygen(key_);
  sodium_mprotect_readonly(key_);
}

MacKey::MacKey(std::string_view key)
    : key_(static_cast<unsigned char*>(sodium_malloc(crypto_auth_hmacsha256_KEYBYTES))) {
  if (key_ == nullptr) std::abort();
  // A short key would leave bytes unset: hash whatever was given to the key size.
  crypto_generichash(key_, crypto_auth_hmacsha256_KEYBYTES,
                     reinterpret_cast<const unsigned char*>(key.data()), key.size(), nullptr, 0);
  sodium_mprotect_readonly(key_);
}

MacKey::~MacKey() { sodium_free(key_); }

std::string MacKey::Mac(std::string_view data) const {
  std::string out(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256(reinterpret_cast<unsigned char*>(out.data()),
                         reinterpret_cast<const unsigned char*>(data.data()), data.size(), key_);
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace alliance::server

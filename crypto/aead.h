// XChaCha20-Poly1305-IETF (libsodium's crypto_aead_xchacha20poly1305_ietf), the one AEAD of
// Alliance, with its sizes named once. Used by the ratchet (message keys) and sealed storage.
//
//   Aead::Seal(out, plaintext, ad, nonce, key);          // out.size() == plaintext + kTagSize
//   if (!Aead::Open(plain, sealed, ad, nonce, key)) return DecryptError();
//
// `out` may alias the plaintext (in-place sealing). Thread safety: pure functions.
#ifndef ALLIANCE_CRYPTO_AEAD_H_
#define ALLIANCE_CRYPTO_AEAD_H_

#include <sodium.h>

#include <cstddef>
#include <cstdint>

#include "crypto/secret.h"

namespace alliance::crypto {

struct Aead {
  static constexpr size_t kKeySize = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
  static constexpr size_t kNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  static constexpr size_t kTagSize = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  static_assert(kKeySize == 32 && kNonceSize == 24 && kTagSize == 16);

  // Writes ciphertext ‖ tag (plaintext.size() + kTagSize bytes) to `out`.
  // REQUIRES: `out` has room for them; `nonce` and `key` hold kNonceSize and kKeySize bytes.
  static void Seal(uint8_t* out, ByteSpan plaintext, ByteSpan ad, const uint8_t* nonce,
                   const uint8_t* key) {
    crypto_aead_xchacha20poly1305_ietf_encrypt(out, nullptr, plaintext.data(), plaintext.size(),
                                               ad.data(), ad.size(), nullptr, nonce, key);
  }

  // Verifies and decrypts `sealed` (ciphertext ‖ tag) into `out` (sealed.size() - kTagSize
  // bytes). False, with nothing to trust in `out`, when the tag does not verify or `sealed` is
  // shorter than a tag.
  [[nodiscard]] static bool Open(uint8_t* out, ByteSpan sealed, ByteSpan ad, const uint8_t* nonce,
                                 const uint8_t* key) {
    if (sealed.size() < kTagSize) return false;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(out, nullptr, nullptr, sealed.data(),
                                                      sealed.size(), ad.data(), ad.size(), nonce,
                                                      key) == 0;
  }
};

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_AEAD_H_

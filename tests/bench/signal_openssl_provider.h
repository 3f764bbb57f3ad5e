// A libsignal-protocol-c crypto provider built on OpenSSL 3, for the comparison benchmark.
//
// libsignal-protocol-c ships no cryptography of its own besides Curve25519/XEdDSA; the
// application supplies randomness, HMAC-SHA256, SHA-512 and AES (CBC with PKCS#5 padding and
// CTR, 128/192/256-bit keys). This provider fetches every OpenSSL algorithm once, up front, so a
// call costs only the operation itself.
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto provider, SignalOpensslProvider::Create());
//   signal_crypto_provider callbacks = provider->Callbacks();
//   signal_context_set_crypto_provider(global_context, &callbacks);
//
// Thread safety: Callbacks() may be used from any thread; each call allocates its own OpenSSL
// context and the shared algorithm handles are read-only after Create().
#ifndef ALLIANCE_TESTS_BENCH_SIGNAL_OPENSSL_PROVIDER_H_
#define ALLIANCE_TESTS_BENCH_SIGNAL_OPENSSL_PROVIDER_H_

#include <openssl/evp.h>
#include <signal_protocol.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace alliance::bench {

class SignalOpensslProvider final {
 public:
  // Fetches HMAC (bound to SHA-256), SHA-512 and the six AES variants from OpenSSL's default
  // library context. Returns INTERNAL if OpenSSL lacks any of them.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SignalOpensslProvider>> Create();

  SignalOpensslProvider(const SignalOpensslProvider&) = delete;
  SignalOpensslProvider& operator=(const SignalOpensslProvider&) = delete;
  ~SignalOpensslProvider();

  // The callback table for signal_context_set_crypto_provider (which copies it). Its user_data
  // points at *this: this object must outlive every signal_context given the table.
  signal_crypto_provider Callbacks() const;

 private:
  SignalOpensslProvider() = default;

  // Returns the AES cipher for `cipher` (SG_CIPHER_AES_CTR_NOPADDING or SG_CIPHER_AES_CBC_PKCS5)
  // with a key of `key_len` bytes (16, 24 or 32), or nullptr for any other combination.
  const EVP_CIPHER* Aes(int cipher, size_t key_len) const;

  // The signal_crypto_provider callbacks; `user_data` is the SignalOpensslProvider.
  static int Random(uint8_t* data, size_t len, void* user_data);
  static int HmacInit(void** hmac_context, const uint8_t* key, size_t key_len, void* user_data);
  static int HmacUpdate(void* hmac_context, const uint8_t* data, size_t len, void* user_data);
  static int HmacFinal(void* hmac_context, signal_buffer** output, void* user_data);
  static void HmacCleanup(void* hmac_context, void* user_data);
  static int Sha512Init(void** digest_context, void* user_data);
  static int Sha512Update(void* digest_context, const uint8_t* data, size_t len, void* user_data);
  static int Sha512Final(void* digest_context, signal_buffer** output, void* user_data);
  static void Sha512Cleanup(void* digest_context, void* user_data);
  static int Encrypt(signal_buffer** output, int cipher, const uint8_t* key, size_t key_len,
                     const uint8_t* iv, size_t iv_len, const uint8_t* plaintext,
                     size_t plaintext_len, void* user_data);
  static int Decrypt(signal_buffer** output, int cipher, const uint8_t* key, size_t key_len,
                     const uint8_t* iv, size_t iv_len, const uint8_t* ciphertext,
                     size_t ciphertext_len, void* user_data);

  EVP_MAC* hmac_ = nullptr;
  EVP_MAC_CTX* hmac_template_ = nullptr;  // HMAC with digest SHA-256 set, no key yet.
  EVP_MD* sha512_ = nullptr;
  // Indexed [mode][key size]: mode 0 = CTR, 1 = CBC; key size 0/1/2 = 128/192/256 bits.
  EVP_CIPHER* aes_[2][3] = {};
};

}  // namespace alliance::bench

#endif  // ALLIANCE_TESTS_BENCH_SIGNAL_OPENSSL_PROVIDER_H_

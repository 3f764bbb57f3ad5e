#include "tests/bench/signal_openssl_provider.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <climits>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace alliance::bench {
namespace {

constexpr size_t kAesBlockSize = 16;
constexpr size_t kSha256Size = 32;
constexpr size_t kSha512Size = 64;

const SignalOpensslProvider& Self(void* user_data) {
  return *static_cast<const SignalOpensslProvider*>(user_data);
}

bool FitsInt(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

// Frees an EVP_CIPHER_CTX on scope exit.
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

}  // namespace

absl::StatusOr<std::unique_ptr<SignalOpensslProvider>> SignalOpensslProvider::Create() {
  std::unique_ptr<SignalOpensslProvider> p(new SignalOpensslProvider());
  p->hmac_ = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  if (p->hmac_ == nullptr) return absl::InternalError("OpenSSL has no HMAC");
  p->hmac_template_ = EVP_MAC_CTX_new(p->hmac_);
  if (p->hmac_template_ == nullptr) return absl::InternalError("EVP_MAC_CTX_new failed");
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(p->hmac_template_, params) != 1) {
    return absl::InternalError("OpenSSL has no HMAC-SHA256");
  }
  p->sha512_ = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  if (p->sha512_ == nullptr) return absl::InternalError("OpenSSL has no SHA-512");
  static constexpr const char* kAesNames[2][3] = {
      {"AES-128-CTR", "AES-192-CTR", "AES-256-CTR"},
      {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"},
  };
  for (int mode = 0; mode < 2; ++mode) {
    for (int size = 0; size < 3; ++size) {
      p->aes_[mode][size] = EVP_CIPHER_fetch(nullptr, kAesNames[mode][size], nullptr);
      if (p->aes_[mode][size] == nullptr) {
        return absl::InternalError(std::string("OpenSSL has no ") + kAesNames[mode][size]);
      }
    }
  }
  return p;
}

SignalOpensslProvider::~SignalOpensslProvider() {
  for (auto& mode : aes_) {
    for (EVP_CIPHER* cipher : mode) EVP_CIPHER_free(cipher);
  }
  EVP_MD_free(sha512_);
  EVP_MAC_CTX_free(hmac_template_);
  EVP_MAC_free(hmac_);
}

signal_crypto_provider SignalOpensslProvider::Callbacks() const {
  signal_crypto_provider table = {};
  table.random_func = &Random;
  table.hmac_sha256_init_func = &HmacInit;
  table.hmac_sha256_update_func = &HmacUpdate;
  table.hmac_sha256_final_func = &HmacFinal;
  table.hmac_sha256_cleanup_func = &HmacCleanup;
  table.sha512_digest_init_func = &Sha512Init;
  table.sha512_digest_update_func = &Sha512Update;
  table.sha512_digest_final_func = &Sha512Final;
  table.sha512_digest_cleanup_func = &Sha512Cleanup;
  table.encrypt_func = &Encrypt;
  table.decrypt_func = &Decrypt;
  // libsignal only ever passes user_data back to us; it never writes through it.
  table.user_data = const_cast<SignalOpensslProvider*>(this);
  return table;
}

const EVP_CIPHER* SignalOpensslProvider::Aes(int cipher, size_t key_len) const {
  int mode;
  switch (cipher) {
    case SG_CIPHER_AES_CTR_NOPADDING:
      mode = 0;
      break;
    case SG_CIPHER_AES_CBC_PKCS5:
      mode = 1;
      break;
    default:
      return nullptr;
  }
  switch (key_len) {
    case 16:
      return aes_[mode][0];
    case 24:
      return aes_[mode][1];
    case 32:
      return aes_[mode][2];
    default:
      return nullptr;
  }
}

int SignalOpensslProvider::Random(uint8_t* data, size_t len, void*) {
  if (!FitsInt(len)) return SG_ERR_INVAL;
  return RAND_bytes(data, static_cast<int>(len)) == 1 ? SG_SUCCESS : SG_ERR_UNKNOWN;
}

int SignalOpensslProvider::HmacInit(void** hmac_context, const uint8_t* key, size_t key_len,
                                    void* user_data) {
  // EVP_MAC_init treats a null key as "keep the previous key"; HMAC with an empty key is valid.
  static constexpr uint8_t kEmptyKey[1] = {0};
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(Self(user_data).hmac_template_);
  if (ctx == nullptr) return SG_ERR_NOMEM;
  if (EVP_MAC_init(ctx, key_len == 0 ? kEmptyKey : key, key_len, nullptr) != 1) {
    EVP_MAC_CTX_free(ctx);
    return SG_ERR_UNKNOWN;
  }
  *hmac_context = ctx;
  return SG_SUCCESS;
}

int SignalOpensslProvider::HmacUpdate(void* hmac_context, const uint8_t* data, size_t len, void*) {
  return EVP_MAC_update(static_cast<EVP_MAC_CTX*>(hmac_context), data, len) == 1 ? SG_SUCCESS
                                                                                 : SG_ERR_UNKNOWN;
}

int SignalOpensslProvider::HmacFinal(void* hmac_context, signal_buffer** output, void*) {
  signal_buffer* out = signal_buffer_alloc(kSha256Size);
  if (out == nullptr) return SG_ERR_NOMEM;
  size_t written = 0;
  if (EVP_MAC_final(static_cast<EVP_MAC_CTX*>(hmac_context), signal_buffer_data(out), &written,
                    kSha256Size) != 1 ||
      written != kSha256Size) {
    signal_buffer_free(out);
    return SG_ERR_UNKNOWN;
  }
  *output = out;
  return SG_SUCCESS;
}

void SignalOpensslProvider::HmacCleanup(void* hmac_context, void*) {
  EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(hmac_context));
}

int SignalOpensslProvider::Sha512Init(void** digest_context, void* user_data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return SG_ERR_NOMEM;
  if (EVP_DigestInit_ex2(ctx, Self(user_data).sha512_, nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    return SG_ERR_UNKNOWN;
  }
  *digest_context = ctx;
  return SG_SUCCESS;
}

int SignalOpensslProvider::Sha512Update(void* digest_context, const uint8_t* data, size_t len,
                                        void*) {
  return EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(digest_context), data, len) == 1
             ? SG_SUCCESS
             : SG_ERR_UNKNOWN;
}

int SignalOpensslProvider::Sha512Final(void* digest_context, signal_buffer** output,
                                       void* user_data) {
  auto* ctx = static_cast<EVP_MD_CTX*>(digest_context);
  signal_buffer* out = signal_buffer_alloc(kSha512Size);
  if (out == nullptr) return SG_ERR_NOMEM;
  unsigned int written = 0;
  // The contract asks for the context to be ready for reuse after final.
  if (EVP_DigestFinal_ex(ctx, signal_buffer_data(out), &written) != 1 || written != kSha512Size ||
      EVP_DigestInit_ex2(ctx, Self(user_data).sha512_, nullptr) != 1) {
    signal_buffer_free(out);
    return SG_ERR_UNKNOWN;
  }
  *output = out;
  return SG_SUCCESS;
}

void SignalOpensslProvider::Sha512Cleanup(void* digest_context, void*) {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(digest_context));
}

int SignalOpensslProvider::Encrypt(signal_buffer** output, int cipher, const uint8_t* key,
                                   size_t key_len, const uint8_t* iv, size_t iv_len,
                                   const uint8_t* plaintext, size_t plaintext_len,
                                   void* user_data) {
  const EVP_CIPHER* aes = Self(user_data).Aes(cipher, key_len);
  if (aes == nullptr || iv_len != kAesBlockSize || !FitsInt(plaintext_len + kAesBlockSize)) {
    return SG_ERR_INVAL;
  }
  // CBC with PKCS#5 always adds 1..16 bytes of padding; CTR keeps the length.
  const size_t out_len = cipher == SG_CIPHER_AES_CBC_PKCS5
                             ? (plaintext_len / kAesBlockSize + 1) * kAesBlockSize
                             : plaintext_len;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  signal_buffer* out = signal_buffer_alloc(out_len);
  if (ctx == nullptr || out == nullptr) {
    signal_buffer_free(out);
    return SG_ERR_NOMEM;
  }
  uint8_t* dst = signal_buffer_data(out);
  int n1 = 0, n2 = 0;
  if (EVP_EncryptInit_ex2(ctx.get(), aes, key, iv, nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), dst, &n1, plaintext, static_cast<int>(plaintext_len)) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), dst + n1, &n2) != 1 ||
      static_cast<size_t>(n1) + static_cast<size_t>(n2) != out_len) {
    signal_buffer_free(out);
    return SG_ERR_UNKNOWN;
  }
  *output = out;
  return SG_SUCCESS;
}

int SignalOpensslProvider::Decrypt(signal_buffer** output, int cipher, const uint8_t* key,
                                   size_t key_len, const uint8_t* iv, size_t iv_len,
                                   const uint8_t* ciphertext, size_t ciphertext_len,
                                   void* user_data) {
  const EVP_CIPHER* aes = Self(user_data).Aes(cipher, key_len);
  if (aes == nullptr || iv_len != kAesBlockSize || !FitsInt(ciphertext_len + kAesBlockSize)) {
    return SG_ERR_INVAL;
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return SG_ERR_NOMEM;
  // The plaintext length is known only after the padding check, so decrypt into scratch space
  // (OpenSSL may write up to one block more than its input) and copy out the exact length.
  std::vector<uint8_t> scratch(ciphertext_len + kAesBlockSize);
  int n1 = 0, n2 = 0;
  const bool ok = EVP_DecryptInit_ex2(ctx.get(), aes, key, iv, nullptr) == 1 &&
                  EVP_DecryptUpdate(ctx.get(), scratch.data(), &n1, ciphertext,
                                    static_cast<int>(ciphertext_len)) == 1 &&
                  EVP_DecryptFinal_ex(ctx.get(), scratch.data() + n1, &n2) == 1;
  signal_buffer* out =
      ok ? signal_buffer_create(scratch.data(), static_cast<size_t>(n1) + static_cast<size_t>(n2))
         : nullptr;
  OPENSSL_cleanse(scratch.data(), scratch.size());
  if (!ok) return SG_ERR_UNKNOWN;
  if (out == nullptr) return SG_ERR_NOMEM;
  *output = out;
  return SG_SUCCESS;
}

}  // namespace alliance::bench

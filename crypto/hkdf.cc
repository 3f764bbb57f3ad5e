#include "crypto/hkdf.h"

#include <algorithm>
#include <cstring>

namespace alliance::crypto {
namespace {

// Wipes an HMAC state on scope exit.
struct HmacState {
  crypto_auth_hmacsha256_state st;
  ~HmacState() { sodium_memzero(&st, sizeof st); }
};

// HMAC keyed with the all-zero salt, computed once: the extract step of every message-key
// expansion uses it, so keying it per message would be wasted work. (Public data, POD.)
const crypto_auth_hmacsha256_state& ZeroSaltState() {
  static const crypto_auth_hmacsha256_state state = [] {
    static constexpr uint8_t kZeroSalt[32] = {};
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, kZeroSalt, sizeof kZeroSalt);
    return st;
  }();
  return state;
}

}  // namespace

void HkdfSha256(ByteSpan salt, ByteSpan ikm, ByteSpan info, MutableByteSpan out) {
  // Extract: PRK = HMAC(salt, ikm). An empty salt means 32 zero bytes (RFC 5869).
  WipedArray<32> prk;
  {
    HmacState h;
    if (salt.empty()) {
      h.st = ZeroSaltState();
    } else {
      crypto_auth_hmacsha256_init(&h.st, salt.data(), salt.size());
    }
    crypto_auth_hmacsha256_update(&h.st, ikm.data(), ikm.size());
    crypto_auth_hmacsha256_final(&h.st, prk.data());
  }

  // Expand: T(i) = HMAC(PRK, T(i-1) || info || i). The keyed state is computed once and copied.
  HmacState keyed;
  crypto_auth_hmacsha256_init(&keyed.st, prk.data(), prk.size());
  WipedArray<32> block;
  size_t done = 0;
  for (uint8_t i = 1; done < out.size(); ++i) {
    HmacState h;
    h.st = keyed.st;
    if (i > 1) crypto_auth_hmacsha256_update(&h.st, block.data(), block.size());
    crypto_auth_hmacsha256_update(&h.st, info.data(), info.size());
    crypto_auth_hmacsha256_update(&h.st, &i, 1);
    crypto_auth_hmacsha256_final(&h.st, block.data());
    size_t n = std::min<size_t>(32, out.size() - done);
    std::memcpy(out.data() + done, block.data(), n);
    done += n;
  }
}

void ChainStep(const WipedArray<32>& chain_key, WipedArray<32>* message_key,
               WipedArray<32>* next_chain_key) {
  static constexpr uint8_t kMessageByte = 0x01;
  static constexpr uint8_t kChainByte = 0x02;
  HmacState keyed;
  crypto_auth_hmacsha256_init(&keyed.st, chain_key.data(), chain_key.size());
  HmacState h;
  h.st = keyed.st;
  crypto_auth_hmacsha256_update(&h.st, &kMessageByte, 1);
  crypto_auth_hmacsha256_final(&h.st, message_key->data());
  crypto_auth_hmacsha256_update(&keyed.st, &kChainByte, 1);
  crypto_auth_hmacsha256_final(&keyed.st, next_chain_key->data());
}

}  // namespace alliance::crypto

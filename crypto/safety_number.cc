#include "crypto/safety_number.h"

#include <sodium.h>

#include <cstring>

namespace alliance::crypto {
namespace {

constexpr int kIterations = 5200;  // One initial hash plus 5199 iterations.

}  // namespace

std::string SafetyNumberHalf(const PublicKey& identity_key, ByteSpan account_id) {
  uint8_t h[crypto_hash_sha512_BYTES];
  crypto_hash_sha512_state st;
  static constexpr uint8_t kVersion[2] = {0x00, 0x01};
  crypto_hash_sha512_init(&st);
  crypto_hash_sha512_update(&st, kVersion, sizeof kVersion);
  crypto_hash_sha512_update(&st, identity_key.data(), identity_key.size());
  crypto_hash_sha512_update(&st, account_id.data(), account_id.size());
  crypto_hash_sha512_final(&st, h);
  for (int i = 1; i < kIterations; ++i) {
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, h, sizeof h);
    crypto_hash_sha512_update(&st, identity_key.data(), identity_key.size());
    crypto_hash_sha512_final(&st, h);
  }
  std::string digits;
  digits.reserve(30);
  for (int chunk = 0; chunk < 6; ++chunk) {
    uint64_t v = 0;
    for (int i = 0; i < 5; ++i) v = (v << 8) | h[chunk * 5 + i];
    char buf[6];
    std::snprintf(buf, sizeof buf, "%05u", static_cast<unsigned>(v % 100000));
    digits.append(buf, 5);
  }
  return digits;
}

std::string SafetyNumber(const PublicKey& identity_a, ByteSpan account_a,
                         const PublicKey& identity_b, ByteSpan account_b) {
  std::string a = SafetyNumberHalf(identity_a, account_a);
  std::string b = SafetyNumberHalf(identity_b, account_b);
  return a < b ? a + b : b + a;
}

std::string FormatSafetyNumber(const std::string& digits) {
  std::string out;
  for (size_t i = 0; i < digits.size(); i += 5) {
    if (i > 0) out.push_back(' ');
    out.append(digits, i, 5);
  }
  return out;
}

std::string SafetyNumberQrPayload(const std::string& digits) { return "alliance-sn:1:" + digits; }

}  // namespace alliance::crypto

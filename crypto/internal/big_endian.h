// Big-endian integer encoding for the wire formats of crypto/ (DESIGN appendix: all multi-byte
// integers are big-endian). Internal to crypto/.
#ifndef ALLIANCE_CRYPTO_INTERNAL_BIG_ENDIAN_H_
#define ALLIANCE_CRYPTO_INTERNAL_BIG_ENDIAN_H_

#include <cstdint>

namespace alliance::crypto::crypto_internal {

// REQUIRES: p points to at least 4 (GetU32, PutU32) or 8 (PutU64) bytes.
inline uint32_t GetU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
inline void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}

}  // namespace alliance::crypto::crypto_internal

#endif  // ALLIANCE_CRYPTO_INTERNAL_BIG_ENDIAN_H_

// Byte-level helpers shared by every layer: concatenation of byte strings, big-endian integers
// (DESIGN appendix: every multi-byte integer on the wire is big-endian; RocksDB keys sort
// numerically that way) and lowercase hex.
//
//   std::string key = std::string(account_id);
//   AppendU64BE(&key, sequence);            // mailbox key: recipient || seq
//   uint64_t seq = ReadU64BE(key.data() + 20);
//
// All functions are pure and thread-safe.
#ifndef ALLIANCE_BASE_BYTES_H_
#define ALLIANCE_BASE_BYTES_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace alliance::base {

// Concatenates byte strings (absl::StrCat does not take std::string_view with this abseil).
std::string Concat(std::initializer_list<std::string_view> parts);

// Appends `v` in big-endian order (4 or 8 bytes) to `out`.
void AppendU32BE(std::string* out, uint32_t v);
void AppendU64BE(std::string* out, uint64_t v);

// Reads a big-endian integer from `p`. REQUIRES: 4 (resp. 8) readable bytes at `p`.
uint32_t ReadU32BE(const char* p);
uint64_t ReadU64BE(const char* p);

// The same for raw buffers (the crypto wire formats).
// REQUIRES: 4 (GetU32, PutU32) or 8 (PutU64) addressable bytes at `p`.
inline uint32_t GetU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
inline void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}

// Lowercase hex of `bytes`.
std::string ToHex(std::string_view bytes);

// Decodes lowercase or uppercase hex; std::nullopt when `hex` has odd length or a non-hex
// character.
std::optional<std::string> FromHex(std::string_view hex);

}  // namespace alliance::base

#endif  // ALLIANCE_BASE_BYTES_H_

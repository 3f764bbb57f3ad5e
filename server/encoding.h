// Byte-level helpers for RocksDB keys and the signed strings of the protocol: big-endian
// integers (so that keys sort numerically) and lowercase hex.
//
//   std::string key = std::string(account_id);
//   AppendU64BE(&key, sequence);            // mailbox key: recipient || seq
//   uint64_t seq = ReadU64BE(key.data() + 20);
//
// All functions are pure and thread-safe.
#ifndef ALLIANCE_SERVER_ENCODING_H_
#define ALLIANCE_SERVER_ENCODING_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace alliance::server {

// Concatenates byte strings (absl::StrCat does not take std::string_view with this abseil).
std::string Concat(std::initializer_list<std::string_view> parts);

// Appends `v` in big-endian order (4 or 8 bytes) to `out`.
void AppendU32BE(std::string* out, uint32_t v);
void AppendU64BE(std::string* out, uint64_t v);

// Reads a big-endian integer from `p`. REQUIRES: 4 (resp. 8) readable bytes at `p`.
uint32_t ReadU32BE(const char* p);
uint64_t ReadU64BE(const char* p);

// Lowercase hex of `bytes`.
std::string ToHex(std::string_view bytes);

// Decodes lowercase or uppercase hex; std::nullopt when `hex` has odd length or a non-hex
// character.
std::optional<std::string> FromHex(std::string_view hex);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_ENCODING_H_

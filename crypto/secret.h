// Containers for secret bytes.
//
// SecretBytes: a move-only, variable-length buffer in sodium_malloc'd memory (guard pages,
// mlock'd where the system allows, wiped on free). Use it for long-lived secrets: identity keys,
// store keys, passphrases, serialized secret records.
//
// WipedArray<N>: a fixed-size array on the stack or inline in an object, wiped with
// sodium_memzero on destruction. Use it for short-lived per-message keys, where a page per
// allocation would cost too much.
//
//   ALLIANCE_ASSIGN_OR_RETURN(SecretBytes key, SecretBytes::Random(32));
//   ChainKey ck;  // WipedArray<32>
//
// Neither type converts to std::string or has operator<<, so a secret cannot reach a log by
// accident. Thread safety: none; treat like any value type.
#ifndef ALLIANCE_CRYPTO_SECRET_H_
#define ALLIANCE_CRYPTO_SECRET_H_

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "absl/status/statusor.h"

namespace alliance::crypto {

using ByteSpan = std::span<const uint8_t>;
using MutableByteSpan = std::span<uint8_t>;

class SecretBytes {
 public:
  // An empty buffer (no allocation).
  SecretBytes() = default;

  // Allocates `size` zeroed bytes. Returns RESOURCE_EXHAUSTED when sodium_malloc fails.
  [[nodiscard]] static absl::StatusOr<SecretBytes> Allocate(size_t size);
  // Allocates and copies `bytes`. Errors as Allocate.
  [[nodiscard]] static absl::StatusOr<SecretBytes> Copy(ByteSpan bytes);
  // Allocates `size` bytes from libsodium's CSPRNG. Errors as Allocate.
  [[nodiscard]] static absl::StatusOr<SecretBytes> Random(size_t size);

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      Reset();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~SecretBytes() { Reset(); }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  ByteSpan span() const { return {data_, size_}; }
  MutableByteSpan mutable_span() { return {data_, size_}; }

  // Constant-time equality (sizes are not secret).
  bool Equals(ByteSpan other) const {
    return other.size() == size_ && (size_ == 0 || sodium_memcmp(data_, other.data(), size_) == 0);
  }

 private:
  SecretBytes(uint8_t* data, size_t size) : data_(data), size_(size) {}
  void Reset();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// A fixed-size byte array wiped on destruction. Copyable on purpose (ratchet state is
// copied to stage a decryption), but every copy is wiped too.
template <size_t N>
class WipedArray {
 public:
  static constexpr size_t kSize = N;
  WipedArray() { bytes_.fill(0); }
  explicit WipedArray(ByteSpan bytes) { Assign(bytes); }
  WipedArray(const WipedArray&) = default;
  WipedArray& operator=(const WipedArray&) = default;
  ~WipedArray() { sodium_memzero(bytes_.data(), N); }

  // REQUIRES: bytes.size() == N.
  void Assign(ByteSpan bytes) {
    for (size_t i = 0; i < N; ++i) bytes_[i] = bytes[i];
  }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return N; }
  ByteSpan span() const { return {bytes_.data(), N}; }
  MutableByteSpan mutable_span() { return {bytes_.data(), N}; }
  void Wipe() { sodium_memzero(bytes_.data(), N); }
  // Constant-time equality.
  bool Equals(const WipedArray& other) const {
    return sodium_memcmp(bytes_.data(), other.bytes_.data(), N) == 0;
  }

 private:
  std::array<uint8_t, N> bytes_;
};

// Public 32-byte keys need no wiping.
using PublicKey = std::array<uint8_t, 32>;

inline ByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_SECRET_H_

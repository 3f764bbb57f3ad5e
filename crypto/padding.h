// Message padding (DESIGN appendix): plaintext ‖ 0x80 ‖ 0x00… up to the next multiple of 256
// bytes, always adding at least one byte, so ciphertext length reveals only the size class.
//
//   size_t n = PaddedSize(text.size());       // 5 -> 256, 256 -> 512
//   ALLIANCE_ASSIGN_OR_RETURN(size_t len, UnpaddedSize(padded));
//
// Thread safety: pure functions.
#ifndef ALLIANCE_CRYPTO_PADDING_H_
#define ALLIANCE_CRYPTO_PADDING_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "crypto/secret.h"

namespace alliance::crypto {

inline constexpr size_t kPaddingBlock = 256;

// Size after padding `plaintext_size` bytes.
constexpr size_t PaddedSize(size_t plaintext_size) {
  return (plaintext_size / kPaddingBlock + 1) * kPaddingBlock;
}

// Writes the padding after the first `plaintext_size` bytes of `buffer`.
// REQUIRES: buffer.size() == PaddedSize(plaintext_size).
void ApplyPadding(MutableByteSpan buffer, size_t plaintext_size);

// Length of the plaintext inside a padded buffer. INVALID_ARGUMENT when the padding is not
// canonical (wrong block size, missing 0x80, non-zero byte after it, or longer than a block).
[[nodiscard]] absl::StatusOr<size_t> UnpaddedSize(ByteSpan padded);

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_PADDING_H_

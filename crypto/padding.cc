#include "crypto/padding.h"

#include <cstring>

namespace alliance::crypto {

void ApplyPadding(MutableByteSpan buffer, size_t plaintext_size) {
  buffer[plaintext_size] = 0x80;
  std::memset(buffer.data() + plaintext_size + 1, 0, buffer.size() - plaintext_size - 1);
}

absl::StatusOr<size_t> UnpaddedSize(ByteSpan padded) {
  if (padded.empty() || padded.size() % kPaddingBlock != 0) {
    return absl::InvalidArgumentError("invalid padding");
  }
  // The marker is within the last block; everything after it is zero.
  const size_t floor = padded.size() - kPaddingBlock;
  for (size_t i = padded.size(); i > floor; --i) {
    const uint8_t b = padded[i - 1];
    if (b == 0x80) return i - 1;
    if (b != 0x00) break;
  }
  return absl::InvalidArgumentError("invalid padding");
}

}  // namespace alliance::crypto

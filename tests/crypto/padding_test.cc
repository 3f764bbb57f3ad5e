// Padding: sizes round up to 256-byte blocks, at least one byte added; non-canonical padding
// is rejected.
#include "crypto/padding.h"

#include <vector>

#include "gtest/gtest.h"

namespace alliance::crypto {
namespace {

TEST(PaddingTest, RoundsUpToNextBlockAlwaysAddingAByte) {
  EXPECT_EQ(PaddedSize(0), 256u);
  EXPECT_EQ(PaddedSize(1), 256u);
  EXPECT_EQ(PaddedSize(255), 256u);
  EXPECT_EQ(PaddedSize(256), 512u);
  EXPECT_EQ(PaddedSize(257), 512u);
}

TEST(PaddingTest, RoundTripsEveryLengthOfTwoBlocks) {
  for (size_t n = 0; n < 512; ++n) {
    std::vector<uint8_t> buf(PaddedSize(n), 0x80);  // Plaintext of 0x80s: worst case.
    ApplyPadding(buf, n);
    absl::StatusOr<size_t> len = UnpaddedSize(buf);
    ASSERT_TRUE(len.ok());
    EXPECT_EQ(*len, n);
  }
}

TEST(PaddingTest, RejectsNonCanonicalPadding) {
  std::vector<uint8_t> buf(256, 0);
  EXPECT_FALSE(UnpaddedSize(buf).ok());  // No marker.
  buf[10] = 0x80;
  buf[200] = 0x01;
  EXPECT_FALSE(UnpaddedSize(buf).ok());                              // Garbage after the marker.
  EXPECT_FALSE(UnpaddedSize(std::vector<uint8_t>(255, 0x80)).ok());  // Not a block multiple.
  EXPECT_FALSE(UnpaddedSize({}).ok());
  std::vector<uint8_t> two(512, 0);
  two[100] = 0x80;  // Marker more than a block from the end.
  EXPECT_FALSE(UnpaddedSize(two).ok());
}

}  // namespace
}  // namespace alliance::crypto

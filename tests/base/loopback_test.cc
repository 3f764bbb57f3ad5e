// Loopback is decided by resolved address, never by spelling (issue 8, item 12).
#include "base/loopback.h"

#include "gtest/gtest.h"

namespace alliance::base {
namespace {

TEST(LoopbackTest, LiteralLoopbackAddressesAreLoopback) {
  EXPECT_EQ(*ResolveLoopbackTarget("127.0.0.1:7443"), "ipv4:127.0.0.1:7443");
  EXPECT_EQ(*ResolveLoopbackTarget("127.1.2.3:7443"), "ipv4:127.1.2.3:7443");
  EXPECT_EQ(*ResolveLoopbackTarget("[::1]:7443"), "ipv6:[::1]:7443");
  EXPECT_EQ(*ResolveLoopbackTarget("ipv4:127.0.0.1:1"), "ipv4:127.0.0.1:1");
}

TEST(LoopbackTest, LocalhostResolvesToALiteralLoopbackTarget) {
  absl::StatusOr<std::string> target = ResolveLoopbackTarget("localhost:7443");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_TRUE(*target == "ipv4:127.0.0.1:7443" || *target == "ipv6:[::1]:7443") << *target;
}

// The reviewed attack: "127.example.org" got plaintext because it starts with "127.".
TEST(LoopbackTest, NamesThatMerelyLookLikeLoopbackAreNot) {
  EXPECT_FALSE(IsLoopbackAddress("127.example.org:7443"));
  EXPECT_FALSE(IsLoopbackAddress("127.0.0.1.nip.io:7443"));
  EXPECT_FALSE(IsLoopbackAddress("localhost.example.org:7443"));
  EXPECT_EQ(ResolveLoopbackTarget("127.example.org:7443").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(LoopbackTest, OtherAddressesAreNotLoopback) {
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1:7443"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:7443"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:7443"));
  EXPECT_FALSE(IsLoopbackAddress("[2001:db8::1]:7443"));
}

TEST(LoopbackTest, MalformedAddressesAreInvalidArgument) {
  EXPECT_EQ(ResolveLoopbackTarget("127.0.0.1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveLoopbackTarget("[::1:7443").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveLoopbackTarget(":7443").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace alliance::base

// Safety numbers: 60 digits, the same on both sides, changing when either identity changes.
#include "crypto/safety_number.h"

#include <algorithm>

#include "gtest/gtest.h"
#include "tests/crypto/test_util.h"

namespace alliance::crypto {
namespace {

using testing::Bytes;
using testing::Seed;

TEST(SafetyNumberTest, IsSixtyDigitsAndSymmetric) {
  IdentityKeyPair a = *IdentityKeyPair::FromSeed(Seed(1));
  IdentityKeyPair b = *IdentityKeyPair::FromSeed(Seed(2));
  std::string ab = SafetyNumber(a.public_key(), Bytes("alice-id"), b.public_key(), Bytes("bob-id"));
  std::string ba = SafetyNumber(b.public_key(), Bytes("bob-id"), a.public_key(), Bytes("alice-id"));
  EXPECT_EQ(ab, ba);
  ASSERT_EQ(ab.size(), 60u);
  EXPECT_TRUE(std::all_of(ab.begin(), ab.end(), [](char c) { return c >= '0' && c <= '9'; }));
}

TEST(SafetyNumberTest, ChangesWhenEitherIdentityChanges) {
  IdentityKeyPair a = *IdentityKeyPair::FromSeed(Seed(1));
  IdentityKeyPair b = *IdentityKeyPair::FromSeed(Seed(2));
  IdentityKeyPair c = *IdentityKeyPair::FromSeed(Seed(3));
  std::string ab = SafetyNumber(a.public_key(), Bytes("a"), b.public_key(), Bytes("b"));
  EXPECT_NE(ab, SafetyNumber(a.public_key(), Bytes("a"), c.public_key(), Bytes("b")));
  EXPECT_NE(ab, SafetyNumber(c.public_key(), Bytes("a"), b.public_key(), Bytes("b")));
  EXPECT_NE(ab, SafetyNumber(a.public_key(), Bytes("a"), b.public_key(), Bytes("other")));
}

TEST(SafetyNumberTest, FormatsInGroupsAndQrPayload) {
  std::string digits(60, '7');
  EXPECT_EQ(FormatSafetyNumber(digits).size(), 60u + 11u);
  EXPECT_EQ(FormatSafetyNumber(digits).substr(0, 12), "77777 77777 ");
  EXPECT_EQ(SafetyNumberQrPayload(digits), "alliance-sn:1:" + digits);
}

}  // namespace
}  // namespace alliance::crypto

// X3DH: both sides derive the same secret, with and without a one-time prekey; any mismatch
// in identity or prekeys yields a different secret.
#include "crypto/x3dh.h"

#include "gtest/gtest.h"
#include "tests/crypto/test_util.h"

namespace alliance::crypto {
namespace {

using testing::kNow;
using testing::Parties;

TEST(X3dhTest, BothSidesAgreeWithOneTimePreKey) {
  Parties p;
  VerifiedBundle b = *VerifyPreKeyBundle(p.Bundle(true), kNow);
  X3dhInitiation init = *X3dhInitiate(p.alice, b, p.rng);
  SharedKey bob =
      *X3dhRespond(p.bob, p.spk.key, &p.opk.key, p.alice.public_key(), init.ephemeral_key);
  EXPECT_TRUE(init.shared_key.Equals(bob));
}

TEST(X3dhTest, BothSidesAgreeWithoutOneTimePreKey) {
  Parties p;
  VerifiedBundle b = *VerifyPreKeyBundle(p.Bundle(false), kNow);
  X3dhInitiation init = *X3dhInitiate(p.alice, b, p.rng);
  SharedKey bob = *X3dhRespond(p.bob, p.spk.key, nullptr, p.alice.public_key(), init.ephemeral_key);
  EXPECT_TRUE(init.shared_key.Equals(bob));
}

TEST(X3dhTest, OneTimePreKeyChangesTheSecret) {
  Parties p;
  VerifiedBundle b = *VerifyPreKeyBundle(p.Bundle(true), kNow);
  X3dhInitiation init = *X3dhInitiate(p.alice, b, p.rng);
  SharedKey bob = *X3dhRespond(p.bob, p.spk.key, nullptr, p.alice.public_key(), init.ephemeral_key);
  EXPECT_FALSE(init.shared_key.Equals(bob));
}

TEST(X3dhTest, WrongInitiatorIdentityGivesDifferentSecret) {
  Parties p;
  IdentityKeyPair mallory = *IdentityKeyPair::FromSeed(testing::Seed(0x66));
  VerifiedBundle b = *VerifyPreKeyBundle(p.Bundle(true), kNow);
  X3dhInitiation init = *X3dhInitiate(mallory, b, p.rng);
  SharedKey bob =
      *X3dhRespond(p.bob, p.spk.key, &p.opk.key, p.alice.public_key(), init.ephemeral_key);
  EXPECT_FALSE(init.shared_key.Equals(bob));
}

TEST(X3dhTest, RejectsSmallOrderEphemeral) {
  Parties p;
  PublicKey zero{};
  EXPECT_EQ(X3dhRespond(p.bob, p.spk.key, &p.opk.key, p.alice.public_key(), zero).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace alliance::crypto

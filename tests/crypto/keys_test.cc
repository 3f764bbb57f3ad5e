// Prekey bundles: verification accepts a good bundle and rejects forged, stale or malformed ones.
#include "crypto/keys.h"

#include "gtest/gtest.h"
#include "tests/crypto/test_util.h"

namespace alliance::crypto {
namespace {

using testing::kNow;
using testing::Parties;

TEST(PreKeyBundleTest, AcceptsValidBundleWithAndWithoutOneTimeKey) {
  Parties p;
  absl::StatusOr<VerifiedBundle> with = VerifyPreKeyBundle(p.Bundle(true), kNow);
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->identity, p.bob.public_key());
  EXPECT_EQ(with->identity_dh, p.bob.dh_public());
  EXPECT_EQ(with->signed_prekey_id, 7u);
  EXPECT_EQ(with->one_time_prekey_id, 42u);
  absl::StatusOr<VerifiedBundle> without = VerifyPreKeyBundle(p.Bundle(false), kNow);
  ASSERT_TRUE(without.ok());
  EXPECT_FALSE(without->one_time_prekey_id.has_value());
}

TEST(PreKeyBundleTest, RejectsForgedSignature) {
  Parties p;
  v1::PreKeyBundle b = p.Bundle(true);
  (*b.mutable_signed_prekey()->mutable_signature())[5] ^= 0x01;
  EXPECT_EQ(VerifyPreKeyBundle(b, kNow).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(PreKeyBundleTest, RejectsSignedPreKeySwappedIntoAnotherIdentity) {
  Parties p;
  v1::PreKeyBundle b = p.Bundle(true);
  b.set_identity_key(reinterpret_cast<const char*>(p.alice.public_key().data()), 32);
  EXPECT_EQ(VerifyPreKeyBundle(b, kNow).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(PreKeyBundleTest, RejectsChangedIdOrTime) {
  Parties p;
  v1::PreKeyBundle b = p.Bundle(true);
  b.mutable_signed_prekey()->set_id(8);
  EXPECT_EQ(VerifyPreKeyBundle(b, kNow).status().code(), absl::StatusCode::kPermissionDenied);
  b = p.Bundle(true);
  b.mutable_signed_prekey()->set_created_at(kNow);
  EXPECT_EQ(VerifyPreKeyBundle(b, kNow).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(PreKeyBundleTest, RejectsStaleAndFutureKeys) {
  Parties p;
  const int64_t created = kNow - 3600;
  BundlePolicy policy;
  EXPECT_EQ(
      VerifyPreKeyBundle(p.Bundle(true), created + policy.max_age_seconds + 1).status().code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      VerifyPreKeyBundle(p.Bundle(true), created - policy.max_future_seconds - 1).status().code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST(PreKeyBundleTest, RejectsMalformedSizes) {
  Parties p;
  v1::PreKeyBundle b = p.Bundle(true);
  b.set_identity_key("short");
  EXPECT_EQ(VerifyPreKeyBundle(b, kNow).status().code(), absl::StatusCode::kInvalidArgument);
  b = p.Bundle(true);
  b.mutable_one_time_prekey()->set_public_key(std::string(33, 'x'));
  EXPECT_EQ(VerifyPreKeyBundle(b, kNow).status().code(), absl::StatusCode::kInvalidArgument);
  b = p.Bundle(true);
  b.mutable_signed_prekey()->set_signature(std::string(63, 'x'));
  EXPECT_EQ(VerifyPreKeyBundle(b, kNow).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PreKeyRecordTest, SignedAndOneTimeKeysRoundTrip) {
  Parties p;
  v1::PreKeyPairRecord rec;
  p.spk.ToRecord(&rec);
  SignedPreKeyPair spk = *SignedPreKeyPair::FromRecord(rec);
  EXPECT_EQ(spk.key.public_key, p.spk.key.public_key);
  EXPECT_EQ(spk.signature, p.spk.signature);
  EXPECT_EQ(spk.created_at, p.spk.created_at);
  rec.Clear();
  p.opk.ToRecord(&rec);
  OneTimePreKeyPair opk = *OneTimePreKeyPair::FromRecord(rec);
  EXPECT_EQ(opk.id, 42u);
  EXPECT_EQ(opk.key.public_key, p.opk.key.public_key);
}

}  // namespace
}  // namespace alliance::crypto

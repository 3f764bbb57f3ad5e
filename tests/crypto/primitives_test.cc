// Published vectors no one here wrote, checked through our wrappers:
// RFC 7748 (X25519) §5.2 and §6.1, RFC 8032 (Ed25519) §7.1 tests 1-3.
#include <string>

#include "crypto/keys.h"
#include "gtest/gtest.h"
#include "tests/crypto/test_util.h"

namespace alliance::crypto {
namespace {

using testing::Hex;
using testing::ToHex;

PublicKey Pub(absl::string_view hex) { return *ParsePublicKey(Hex(hex)); }

TEST(X25519Test, MatchesRfc7748ScalarMultVectors) {
  struct Case {
    const char* scalar;
    const char* u;
    const char* out;
  } cases[] = {
      {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
       "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
       "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
      {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
       "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
       "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
  };
  for (const Case& c : cases) {
    DhKeyPair k = *DhKeyPair::FromSecret(Hex(c.scalar));
    WipedArray<32> out;
    ASSERT_TRUE(Dh(k.secret, Pub(c.u), &out).ok());
    EXPECT_EQ(ToHex(out.span()), c.out);
  }
}

TEST(X25519Test, MatchesRfc7748DiffieHellmanVector) {
  DhKeyPair alice = *DhKeyPair::FromSecret(
      Hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  DhKeyPair bob = *DhKeyPair::FromSecret(
      Hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  EXPECT_EQ(ToHex(alice.public_key),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(ToHex(bob.public_key),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  WipedArray<32> ab, ba;
  ASSERT_TRUE(Dh(alice.secret, bob.public_key, &ab).ok());
  ASSERT_TRUE(Dh(bob.secret, alice.public_key, &ba).ok());
  EXPECT_EQ(ToHex(ab.span()), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_TRUE(ab.Equals(ba));
}

TEST(X25519Test, RejectsSmallOrderPoint) {
  DhKeyPair k = *DhKeyPair::FromSecret(Hex(std::string(64, '1')));
  PublicKey zero{};
  WipedArray<32> out;
  EXPECT_EQ(Dh(k.secret, zero, &out).code(), absl::StatusCode::kInvalidArgument);
}

struct Ed25519Case {
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

class Ed25519Rfc8032Test : public ::testing::TestWithParam<Ed25519Case> {};

TEST_P(Ed25519Rfc8032Test, SignsAndVerifiesThroughIdentityKeyPair) {
  const Ed25519Case& c = GetParam();
  IdentityKeyPair id = *IdentityKeyPair::FromSeed(Hex(c.seed));
  EXPECT_EQ(ToHex(id.public_key()), c.public_key);
  std::vector<uint8_t> msg = Hex(c.message);
  Signature sig = id.Sign(msg);
  EXPECT_EQ(ToHex(sig), c.signature);
  EXPECT_TRUE(VerifySignature(id.public_key(), msg, Hex(c.signature)));
  sig[0] ^= 1;
  EXPECT_FALSE(VerifySignature(id.public_key(), msg, sig));
}

INSTANTIATE_TEST_SUITE_P(
    Rfc8032, Ed25519Rfc8032Test,
    ::testing::Values(
        Ed25519Case{"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
                    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
        Ed25519Case{"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
                    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
        Ed25519Case{"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
                    "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
                    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
                    "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"}));

TEST(IdentityKeyPairTest, X25519FormAgreesWithLibsodiumConversion) {
  IdentityKeyPair a = *IdentityKeyPair::FromSeed(testing::Seed(1));
  IdentityKeyPair b = *IdentityKeyPair::FromSeed(testing::Seed(2));
  EXPECT_EQ(*IdentityToDhPublic(a.public_key()), a.dh_public());
  WipedArray<32> ab, ba;
  ASSERT_TRUE(Dh(a.dh_secret(), b.dh_public(), &ab).ok());
  ASSERT_TRUE(Dh(b.dh_secret(), a.dh_public(), &ba).ok());
  EXPECT_TRUE(ab.Equals(ba));
}

TEST(IdentityKeyPairTest, RecordRoundTripsAndRejectsMismatch) {
  IdentityKeyPair a = *IdentityKeyPair::FromSeed(testing::Seed(3));
  v1::IdentityRecord rec;
  a.ToRecord(&rec);
  absl::StatusOr<IdentityKeyPair> back = IdentityKeyPair::FromRecord(rec);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->public_key(), a.public_key());
  rec.mutable_public_key()->at(0) ^= 1;
  EXPECT_EQ(IdentityKeyPair::FromRecord(rec).status().code(), absl::StatusCode::kInvalidArgument);
  rec.set_secret_key("short");
  EXPECT_EQ(IdentityKeyPair::FromRecord(rec).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace alliance::crypto

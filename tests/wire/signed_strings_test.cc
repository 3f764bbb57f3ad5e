// Every signed string pinned to the DESIGN appendix, byte for byte: a change of layout breaks
// every deployed client and relay, so it must break this test first.
#include "wire/signed_strings.h"

#include "gtest/gtest.h"
#include "wire/protocol.h"

namespace alliance::wire {
namespace {

std::string Bytes(char c, size_t n) { return std::string(n, c); }

TEST(SignedStringsTest, LoginIsDomainRelayNonceAndBigEndianExpiry) {
  std::string m = LoginMessage(Bytes('R', 16), Bytes('N', 32), 0x0102030405060708ull);
  EXPECT_EQ(m, "alliance/v1/login" + Bytes('R', 16) + Bytes('N', 32) +
                   std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(m.size(), 17u + 16 + 32 + 8);
}

TEST(SignedStringsTest, RegistrationIsDomainRelayInviteAndIdentityKey) {
  EXPECT_EQ(RegisterMessage(Bytes('R', 16), Bytes('I', 16), Bytes('K', 32)),
            "alliance/v1/register" + Bytes('R', 16) + Bytes('I', 16) + Bytes('K', 32));
}

TEST(SignedStringsTest, SignedPreKeyIsDomainIdTimeAndKey) {
  std::string m = SignedPreKeyMessage(0xA1B2C3D4u, 1'700'000'000ull, Bytes('P', 32));
  EXPECT_EQ(m, "alliance/v1/spk" + std::string("\xA1\xB2\xC3\xD4", 4) +
                   std::string("\x00\x00\x00\x00\x65\x53\xF1\x00", 8) + Bytes('P', 32));
  EXPECT_EQ(m.size(), 15u + 4 + 8 + 32);
}

TEST(SignedStringsTest, DocumentsAreDomainKindAndExactBytes) {
  EXPECT_EQ(DocumentMessage(kAgreementDocument, "doc"), "alliance/v1/doc/agreementdoc");
  EXPECT_EQ(DocumentMessage(kGoalDocument, std::string("\0x", 2)),
            std::string("alliance/v1/doc/goal\0x", 22));
  EXPECT_EQ(DocumentMessage(kOutOfOfficeDocument, ""), "alliance/v1/doc/ooo");
}

TEST(SignedStringsTest, DeviceListIsDomainRelayAccountVersionCountAndEntries) {
  const std::string k1 = Bytes('1', 32), k2 = Bytes('2', 32);
  std::string m = DeviceListMessage(Bytes('R', 16), Bytes('A', 16), 0x0102030405060708ull,
                                    {{1, k1, 0x1112131415161718ull}, {0xA1B2C3D4u, k2, 9}});
  EXPECT_EQ(m, "alliance/v1/devices" + Bytes('R', 16) + Bytes('A', 16) +
                   std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8) + std::string("\x02", 1) +
                   std::string("\x00\x00\x00\x01", 4) + k1 +
                   std::string("\x11\x12\x13\x14\x15\x16\x17\x18", 8) +
                   std::string("\xA1\xB2\xC3\xD4", 4) + k2 + std::string("\0\0\0\0\0\0\0\x09", 8));
  EXPECT_EQ(m.size(), 19u + 16 + 16 + 8 + 1 + 2 * (4 + 32 + 8));
}

TEST(SignedStringsTest, DeviceSignedPreKeyNamesAccountDeviceIdTimeAndKey) {
  std::string m = DeviceSignedPreKeyMessage(Bytes('A', 16), 3, 0xA1B2C3D4u, 1'700'000'000ull,
                                            Bytes('P', 32));
  EXPECT_EQ(m, "alliance/v1/device-spk" + Bytes('A', 16) + std::string("\0\0\0\x03", 4) +
                   std::string("\xA1\xB2\xC3\xD4", 4) +
                   std::string("\x00\x00\x00\x00\x65\x53\xF1\x00", 8) + Bytes('P', 32));
  EXPECT_EQ(m.size(), 22u + 16 + 4 + 4 + 8 + 32);
}

TEST(SignedStringsTest, DeviceLoginNamesRelayAccountDeviceNonceAndExpiry) {
  std::string m = DeviceLoginMessage(Bytes('R', 16), Bytes('A', 16), 2, Bytes('N', 32),
                                     0x0102030405060708ull);
  EXPECT_EQ(m, "alliance/v1/device-login" + Bytes('R', 16) + Bytes('A', 16) +
                   std::string("\0\0\0\x02", 4) + Bytes('N', 32) +
                   std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(m.size(), 24u + 16 + 16 + 4 + 32 + 8);
}

TEST(SignedStringsTest, OnlyOneShapeOfDeviceListIsCanonical) {
  const std::string a = Bytes('a', 32), b = Bytes('b', 32);
  EXPECT_TRUE(IsCanonicalDeviceList(1, {{1, a, 0}, {3, b, 0}}));
  EXPECT_FALSE(IsCanonicalDeviceList(0, {{1, a, 0}})) << "version 0";
  EXPECT_FALSE(IsCanonicalDeviceList(1, {})) << "no device";
  EXPECT_FALSE(IsCanonicalDeviceList(1, {{0, a, 0}})) << "device 0";
  EXPECT_FALSE(IsCanonicalDeviceList(1, {{3, a, 0}, {1, b, 0}})) << "descending";
  EXPECT_FALSE(IsCanonicalDeviceList(1, {{1, a, 0}, {1, b, 0}})) << "repeated id";
  EXPECT_FALSE(IsCanonicalDeviceList(1, {{1, a, 0}, {2, a, 0}})) << "repeated key";
  EXPECT_FALSE(IsCanonicalDeviceList(1, {{1, Bytes('a', 31), 0}})) << "short key";
  std::vector<DeviceListEntry> many;
  std::vector<std::string> keys;
  for (uint32_t i = 1; i <= kMaxDevicesPerAccount + 1; ++i) keys.push_back(Bytes(char('A' + i), 32));
  for (uint32_t i = 1; i <= kMaxDevicesPerAccount + 1; ++i) many.push_back({i, keys[i - 1], 0});
  EXPECT_FALSE(IsCanonicalDeviceList(1, many)) << "too many";
  many.pop_back();
  EXPECT_TRUE(IsCanonicalDeviceList(1, many));
}

TEST(ProtocolTest, SizesAndTagsMatchTheAppendix) {
  EXPECT_EQ(kAccountIdSize, 16u);
  EXPECT_EQ(kRelayIdSize, 16u);
  EXPECT_EQ(kNonceSize, 32u);
  EXPECT_EQ(kEd25519SignatureSize, 64u);
  EXPECT_EQ(kX3dhInfo, "alliance/v1/x3dh");
  EXPECT_EQ(kRatchetInfo, "alliance/v1/ratchet");
  EXPECT_EQ(kMessageInfo, "alliance/v1/message");
  EXPECT_EQ(kMessageAdDomain, "alliance/v1/ad");
  EXPECT_EQ(kStoreNamesInfo, "alliance/v1/names");
  EXPECT_EQ(kMaxDevicesPerAccount, 16u);
  EXPECT_EQ(kLinkCodeTtlSeconds, 600);
  EXPECT_EQ(kLinkIdDomain, "alliance/v1/link-id");
  EXPECT_EQ(kLinkInfo, "alliance/v1/link");
}

}  // namespace
}  // namespace alliance::wire

// Several devices per account: the signed device list, device-signed prekeys and the sealed
// provisioning message (crypto/devices.h). Known answers in tests/vectors/good_devices_v1.txt;
// regenerate only for a deliberate, versioned change: ALLIANCE_WRITE_VECTORS=1 ./devices_test
#include "crypto/devices.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "crypto/padding.h"
#include "tests/crypto/test_util.h"
#include "wire/protocol.h"

namespace alliance::crypto {
namespace {

using testing::Bytes;
using testing::kNow;
using testing::Seed;
using testing::ToHex;

constexpr char kVectorFile[] = ALLIANCE_VECTORS_DIR "/good_devices_v1.txt";

const std::vector<uint8_t> kRelay(16, 0x5E);
const std::vector<uint8_t> kAccount(16, 0xAA);
const std::vector<uint8_t> kOtherAccount(16, 0xBB);

std::string Str(ByteSpan b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

struct Account {
  DeterministicRandom rng{Seed(0x42)};
  IdentityKeyPair identity = *IdentityKeyPair::FromSeed(Seed(0x11));
  IdentityKeyPair phone = *IdentityKeyPair::FromSeed(Seed(0x21));   // device 1's own key
  IdentityKeyPair laptop = *IdentityKeyPair::FromSeed(Seed(0x22));  // device 2's own key

  v1::SignedDeviceList List(uint64_t version = 1) {
    v1::SignedDeviceList list;
    list.set_version(version);
    v1::DeviceEntry* a = list.add_devices();
    a->set_device_id(1);
    a->set_device_key(Str(phone.public_key()));
    a->set_added_at(1'780'000'000);
    v1::DeviceEntry* b = list.add_devices();
    b->set_device_id(2);
    b->set_device_key(Str(laptop.public_key()));
    b->set_added_at(1'780'086'400);
    EXPECT_TRUE(SignDeviceList(identity, kRelay, kAccount, &list).ok());
    return list;
  }

  // Device `device_id`'s bundle with a signed prekey signed by `signer`.
  v1::PreKeyBundle Bundle(uint32_t device_id, const IdentityKeyPair& signer,
                          const std::vector<uint8_t>& account = kAccount) {
    SignedPreKeyPair spk =
        SignedPreKeyPair::CreateForDevice(signer, account, device_id, 7, kNow - 3600, rng);
    v1::PreKeyBundle b;
    b.set_identity_key(Str(identity.public_key()));
    *b.mutable_signed_prekey() = spk.ToPublic();
    b.set_account_id(Str(account));
    b.set_device_id(device_id);
    return b;
  }
};

TEST(DeviceListTest, AListSignedByTheIdentityKeyVerifiesAndNamesItsDevices) {
  Account a;
  absl::StatusOr<VerifiedDeviceList> v =
      VerifyDeviceList(a.List(3), a.identity.public_key(), kRelay, kAccount);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->version, 3u);
  ASSERT_EQ(v->devices.size(), 2u);
  ASSERT_NE(v->Find(2), nullptr);
  EXPECT_EQ(v->Find(2)->device_key, a.laptop.public_key());
  EXPECT_EQ(v->Find(2)->added_at, 1'780'086'400u);
  EXPECT_EQ(v->Find(3), nullptr);
}

TEST(DeviceListTest, ARelayCannotAddOrChangeADeviceWithoutTheIdentityKey) {
  Account a;
  IdentityKeyPair intruder = *IdentityKeyPair::FromSeed(Seed(0x99));
  // A device appended to a signed list.
  v1::SignedDeviceList added = a.List();
  v1::DeviceEntry* d = added.add_devices();
  d->set_device_id(3);
  d->set_device_key(Str(intruder.public_key()));
  EXPECT_EQ(VerifyDeviceList(added, a.identity.public_key(), kRelay, kAccount).status().code(),
            absl::StatusCode::kPermissionDenied);
  // A device key swapped, a date changed, the version raised.
  v1::SignedDeviceList swapped = a.List();
  swapped.mutable_devices(1)->set_device_key(Str(intruder.public_key()));
  v1::SignedDeviceList redated = a.List();
  redated.mutable_devices(0)->set_added_at(1);
  v1::SignedDeviceList bumped = a.List();
  bumped.set_version(2);
  for (const v1::SignedDeviceList& l : {swapped, redated, bumped}) {
    EXPECT_EQ(VerifyDeviceList(l, a.identity.public_key(), kRelay, kAccount).status().code(),
              absl::StatusCode::kPermissionDenied);
  }
  // A whole list signed by another key (the relay's own, say).
  v1::SignedDeviceList forged = a.List();
  ASSERT_TRUE(SignDeviceList(intruder, kRelay, kAccount, &forged).ok());
  EXPECT_EQ(VerifyDeviceList(forged, a.identity.public_key(), kRelay, kAccount).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(DeviceListTest, AListIsBoundToItsAccountAndRelay) {
  Account a;
  const std::vector<uint8_t> other_relay(16, 0x77);
  EXPECT_EQ(VerifyDeviceList(a.List(), a.identity.public_key(), kRelay, kOtherAccount)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifyDeviceList(a.List(), a.identity.public_key(), other_relay, kAccount)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(DeviceListTest, NonCanonicalListsAreMalformedBeforeAnySignatureCheck) {
  Account a;
  std::vector<v1::SignedDeviceList> bad;
  v1::SignedDeviceList l = a.List();
  l.set_version(0);
  bad.push_back(l);
  l = a.List();
  l.clear_devices();
  bad.push_back(l);
  l = a.List();
  l.mutable_devices(0)->set_device_id(0);
  bad.push_back(l);
  l = a.List();
  l.mutable_devices(1)->set_device_id(1);  // not strictly ascending
  bad.push_back(l);
  l = a.List();
  l.mutable_devices(1)->set_device_key(l.devices(0).device_key());  // the same key twice
  bad.push_back(l);
  l = a.List();
  l.mutable_devices(0)->set_device_key(std::string(31, 'k'));
  bad.push_back(l);
  l = a.List();
  l.set_signature(std::string(63, 's'));
  bad.push_back(l);
  l = a.List();
  l.clear_devices();
  for (uint32_t i = 1; i <= wire::kMaxDevicesPerAccount + 1; ++i) {
    v1::DeviceEntry* d = l.add_devices();
    d->set_device_id(i);
    d->set_device_key(std::string(32, static_cast<char>(i)));
  }
  bad.push_back(l);
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(VerifyDeviceList(bad[i], a.identity.public_key(), kRelay, kAccount).status().code(),
              absl::StatusCode::kInvalidArgument)
        << "case " << i;
  }
  v1::SignedDeviceList unsignable = bad[0];
  EXPECT_EQ(SignDeviceList(a.identity, kRelay, kAccount, &unsignable).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DeviceListTest, TheIdentityKeyIsNeverADeviceKey) {
  Account a;
  v1::SignedDeviceList list = a.List();
  list.mutable_devices(1)->set_device_key(Str(a.identity.public_key()));
  ASSERT_TRUE(SignDeviceList(a.identity, kRelay, kAccount, &list).ok());
  EXPECT_EQ(VerifyDeviceList(list, a.identity.public_key(), kRelay, kAccount).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DeviceListTest, AListOlderThanOneAlreadySeenIsRefused) {
  Account a;
  EXPECT_EQ(VerifyDeviceList(a.List(2), a.identity.public_key(), kRelay, kAccount, 3)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(VerifyDeviceList(a.List(3), a.identity.public_key(), kRelay, kAccount, 3).ok());
}

TEST(DeviceBundleTest, ADeviceSignedPreKeyVerifiesUnderThatDevicesKey) {
  Account a;
  absl::StatusOr<VerifiedBundle> b =
      VerifyDeviceBundle(a.Bundle(2, a.laptop), a.identity.public_key(), kAccount, 2,
                         a.laptop.public_key(), kNow);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->identity, a.identity.public_key());
  EXPECT_EQ(b->signed_prekey_id, 7u);
}

TEST(DeviceBundleTest, ASignedPreKeyCannotBeMovedToAnotherDevice) {
  Account a;
  // The laptop's bundle relabelled as the phone's: wrong signer for device 1.
  v1::PreKeyBundle moved = a.Bundle(2, a.laptop);
  moved.set_device_id(1);
  EXPECT_EQ(VerifyDeviceBundle(moved, a.identity.public_key(), kAccount, 1, a.phone.public_key(),
                               kNow)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  // The same bundle checked against the laptop's key, but served for device 1.
  EXPECT_EQ(VerifyDeviceBundle(moved, a.identity.public_key(), kAccount, 1,
                               a.laptop.public_key(), kNow)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  // A bundle for device 2 served when device 1 was asked for.
  EXPECT_EQ(VerifyDeviceBundle(a.Bundle(2, a.laptop), a.identity.public_key(), kAccount, 1,
                               a.phone.public_key(), kNow)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(DeviceBundleTest, ASignedPreKeyCannotBeMovedToAnotherAccount) {
  Account a;
  v1::PreKeyBundle other = a.Bundle(1, a.phone, kOtherAccount);
  other.set_account_id(Str(kAccount));
  EXPECT_EQ(VerifyDeviceBundle(other, a.identity.public_key(), kAccount, 1, a.phone.public_key(),
                               kNow)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(DeviceBundleTest, AnIdentitySignedPreKeyIsNotADeviceSignedOne) {
  Account a;
  // v1 format (identity key over "alliance/v1/spk"), or the identity key over the device
  // string: neither is the device's own signature.
  testing::Parties p;
  v1::PreKeyBundle legacy = a.Bundle(1, a.phone);
  *legacy.mutable_signed_prekey() =
      SignedPreKeyPair::Create(a.identity, 7, kNow - 3600, a.rng).ToPublic();
  v1::PreKeyBundle by_identity = a.Bundle(1, a.identity);
  for (const v1::PreKeyBundle& b : {legacy, by_identity}) {
    EXPECT_EQ(VerifyDeviceBundle(b, a.identity.public_key(), kAccount, 1, a.phone.public_key(),
                                 kNow)
                  .status()
                  .code(),
              absl::StatusCode::kPermissionDenied);
  }
}

TEST(DeviceBundleTest, ABundleWithAnotherIdentityKeyIsRefused) {
  Account a;
  v1::PreKeyBundle b = a.Bundle(1, a.phone);
  b.set_identity_key(Str(a.laptop.public_key()));
  EXPECT_EQ(
      VerifyDeviceBundle(b, a.identity.public_key(), kAccount, 1, a.phone.public_key(), kNow)
          .status()
          .code(),
      absl::StatusCode::kPermissionDenied);
}

TEST(ProvisionTest, SealedAccountOpensWithTheCodeAtEverySize) {
  DeterministicRandom rng(Seed(7));
  DhKeyPair code = DhKeyPair::Generate(rng);
  for (size_t size : {size_t{0}, size_t{1}, size_t{255}, size_t{256}, kMaxProvisionPlaintext}) {
    std::vector<uint8_t> plain(size);
    for (size_t i = 0; i < size; ++i) plain[i] = static_cast<uint8_t>(i * 31 + 5);
    absl::StatusOr<std::string> sealed = SealProvision(code.public_key, plain, rng);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    EXPECT_EQ((sealed->size() - 1 - 32 - 16) % 256, 0u) << "size hidden to the block";
    absl::StatusOr<SecretBytes> opened = OpenProvision(code, AsBytes(*sealed));
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_TRUE(opened->Equals(plain)) << size;
  }
  std::vector<uint8_t> too_big(kMaxProvisionPlaintext + 1);
  EXPECT_EQ(SealProvision(code.public_key, too_big, rng).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ProvisionTest, OnlyTheCodeOpensItAndAnyAlterationIsRefused) {
  DeterministicRandom rng(Seed(8));
  DhKeyPair code = DhKeyPair::Generate(rng);
  DhKeyPair other = DhKeyPair::Generate(rng);
  const std::string sealed = *SealProvision(code.public_key, Bytes("identity key and profile"), rng);
  EXPECT_EQ(OpenProvision(other, AsBytes(sealed)).status().code(),
            absl::StatusCode::kPermissionDenied);
  for (size_t i = 0; i < sealed.size(); i += 7) {
    std::string flipped = sealed;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    EXPECT_EQ(OpenProvision(code, AsBytes(flipped)).status().code(),
              absl::StatusCode::kPermissionDenied)
        << "byte " << i;
  }
  std::string longer = sealed + std::string(PaddedSize(kMaxProvisionPlaintext), '\0');
  EXPECT_EQ(OpenProvision(code, AsBytes(longer)).status().code(),
            absl::StatusCode::kPermissionDenied);
  for (size_t cut : {size_t{0}, size_t{1}, size_t{33}, sealed.size() - 1}) {
    EXPECT_EQ(OpenProvision(code, AsBytes(sealed.substr(0, cut))).status().code(),
              absl::StatusCode::kPermissionDenied)
        << "cut at " << cut;
  }
}

TEST(ProvisionTest, ALowOrderCodeIsRefused) {
  DeterministicRandom rng(Seed(9));
  PublicKey zero{};
  EXPECT_EQ(SealProvision(zero, Bytes("x"), rng).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ProvisionTest, TheRelaysLinkIdRevealsNotTheCode) {
  DeterministicRandom rng(Seed(10));
  DhKeyPair code = DhKeyPair::Generate(rng);
  const LinkId id = LinkIdOf(code.public_key);
  EXPECT_NE(Str(id), Str(code.public_key));
  EXPECT_EQ(LinkIdOf(code.public_key), id);
  EXPECT_NE(LinkIdOf(DhKeyPair::Generate(rng).public_key), id);
}

std::map<std::string, std::string> Compute() {
  Account a;
  DeterministicRandom rng(Seed(0x31));
  DhKeyPair code = *DhKeyPair::FromSecret(Seed(0x44));
  const v1::SignedDeviceList list = a.List(1);
  SignedPreKeyPair spk =
      SignedPreKeyPair::CreateForDevice(a.laptop, kAccount, 2, 7, 1'780'000'000, rng);
  return {
      {"identity", ToHex(a.identity.public_key())},
      {"device_1_key", ToHex(a.phone.public_key())},
      {"device_2_key", ToHex(a.laptop.public_key())},
      {"device_list_signature", ToHex(AsBytes(list.signature()))},
      {"device_2_signed_prekey", ToHex(spk.key.public_key)},
      {"device_2_signed_prekey_signature", ToHex(spk.signature)},
      {"link_code", ToHex(code.public_key)},
      {"link_id", ToHex(LinkIdOf(code.public_key))},
      {"provision_sealed", ToHex(AsBytes(*SealProvision(code.public_key,
                                                        Bytes("alliance known answer"), rng)))},
  };
}

std::map<std::string, std::string> Load() { return testing::LoadVectors(kVectorFile); }

TEST(DevicesKnownAnswerTest, OutputsMatchCheckedInVectors) {
  std::map<std::string, std::string> computed = Compute();
  if (std::getenv("ALLIANCE_WRITE_VECTORS") != nullptr) {
    std::ofstream out(kVectorFile);
    out << "# Alliance devices v1 known answers (crypto/devices.h). Identity seed 0x11, device\n"
           "# key seeds 0x21 (device 1) and 0x22 (device 2), each byte repeated 32 times; relay\n"
           "# id 16 x 0x5E, account id 16 x 0xAA. Device list version 1: device 1 added\n"
           "# 1780000000, device 2 added 1780086400. Device 2's signed prekey: id 7, created\n"
           "# 1780000000, key from DeterministicRandom(32 x 0x31). Link code: X25519 secret\n"
           "# 32 x 0x44; provision_sealed seals \"alliance known answer\" with the same random\n"
           "# stream after the prekey.\n";
    for (const auto& [k, v] : computed) out << k << " = " << v << "\n";
    GTEST_SKIP() << "vectors written to " << kVectorFile;
  }
  std::map<std::string, std::string> expected = Load();
  ASSERT_EQ(expected.size(), computed.size()) << "missing or unreadable " << kVectorFile;
  for (const auto& [k, v] : computed) EXPECT_EQ(v, expected[k]) << k;
}

TEST(DevicesKnownAnswerTest, TheCheckedInProvisionOpensWithTheCode) {
  std::map<std::string, std::string> expected = Load();
  ASSERT_FALSE(expected["provision_sealed"].empty());
  DhKeyPair code = *DhKeyPair::FromSecret(Seed(0x44));
  std::vector<uint8_t> sealed = testing::Hex(expected["provision_sealed"]);
  absl::StatusOr<SecretBytes> opened = OpenProvision(code, sealed);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->Equals(Bytes("alliance known answer")));
}

}  // namespace
}  // namespace alliance::crypto

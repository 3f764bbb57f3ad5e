// Sealed storage: the right passphrase opens, a wrong one fails cleanly, tampering is detected,
// and sealed bytes carry no plaintext.
#include "crypto/sealed_store.h"

#include <algorithm>
#include <string>

#include "gtest/gtest.h"
#include "tests/crypto/test_util.h"

namespace alliance::crypto {
namespace {

using testing::Bytes;

bool Contains(ByteSpan hay, absl::string_view needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

// The rest of this file uses the INTERACTIVE minimum to stay fast.
constexpr PassphraseCost kFast = PassphraseCost::Interactive();

TEST(SealedStoreTest, DefaultCostIsAboveTheInteractiveMinimum) {
  const PassphraseCost d;
  EXPECT_EQ(d.ops_limit, crypto_pwhash_OPSLIMIT_MODERATE);
  EXPECT_EQ(d.mem_limit, crypto_pwhash_MEMLIMIT_MODERATE);
  EXPECT_GT(d.mem_limit, uint64_t{crypto_pwhash_MEMLIMIT_INTERACTIVE});
  auto created = StoreKey::Create(Bytes("correct horse"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->wrapped.ops_limit(), crypto_pwhash_OPSLIMIT_MODERATE);
  EXPECT_EQ(created->wrapped.mem_limit(), crypto_pwhash_MEMLIMIT_MODERATE);
  EXPECT_TRUE(StoreKey::Unwrap(Bytes("correct horse"), created->wrapped).ok());
}

// The attack: an altered key file asks for 4 GiB (or a huge number of passes), so that merely
// trying to unlock the profile exhausts the device. The bounds are checked before any work.
TEST(SealedStoreTest, UnwrapRefusesCostBeyondTheBoundsBeforeAllocating) {
  auto created = StoreKey::Create(Bytes("pw"), kFast);
  ASSERT_TRUE(created.ok());
  v1::WrappedStoreKey w = created->wrapped;
  w.set_mem_limit(uint64_t{4} << 30);
  EXPECT_EQ(StoreKey::Unwrap(Bytes("pw"), w).status().code(), absl::StatusCode::kInvalidArgument);
  w.set_mem_limit(kMaxPassphraseMemLimit + 1024);
  EXPECT_EQ(StoreKey::Unwrap(Bytes("pw"), w).status().code(), absl::StatusCode::kInvalidArgument);
  w = created->wrapped;
  w.set_ops_limit(kMaxPassphraseOpsLimit + 1);
  EXPECT_EQ(StoreKey::Unwrap(Bytes("pw"), w).status().code(), absl::StatusCode::kInvalidArgument);
  w.set_ops_limit(uint64_t{1} << 32);
  EXPECT_EQ(StoreKey::Unwrap(Bytes("pw"), w).status().code(), absl::StatusCode::kInvalidArgument);
  // The same bounds hold for new keys; the named profiles are inside them.
  EXPECT_EQ(StoreKey::Create(Bytes("pw"), {3, uint64_t{2} << 30}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_LE(PassphraseCost::Sensitive().mem_limit, kMaxPassphraseMemLimit);
  EXPECT_LE(PassphraseCost::Sensitive().ops_limit, kMaxPassphraseOpsLimit);
}

TEST(SealedStoreTest, UnwrapsWithRightPassphrase) {
  auto created = StoreKey::Create(Bytes("correct horse"), kFast);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->wrapped.ops_limit(), crypto_pwhash_OPSLIMIT_INTERACTIVE);
  EXPECT_EQ(created->wrapped.mem_limit(), crypto_pwhash_MEMLIMIT_INTERACTIVE);
  absl::StatusOr<StoreKey> key = StoreKey::Unwrap(Bytes("correct horse"), created->wrapped);
  ASSERT_TRUE(key.ok());
  RecordName name = key->Name(Bytes("session/bob"));
  EXPECT_EQ(name, created->key.Name(Bytes("session/bob")));
  std::vector<uint8_t> sealed = *created->key.Seal(name, Bytes("value"));
  SecretBytes opened = *key->Open(name, sealed);
  EXPECT_TRUE(opened.Equals(Bytes("value")));
}

TEST(SealedStoreTest, WrongPassphraseFailsCleanly) {
  auto created = StoreKey::Create(Bytes("correct horse"), kFast);
  ASSERT_TRUE(created.ok());
  absl::StatusOr<StoreKey> key = StoreKey::Unwrap(Bytes("wrong horse"), created->wrapped);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(key.status().message(), "wrong passphrase or damaged key file");
}

TEST(SealedStoreTest, TamperedWrappedKeyFailsLikeWrongPassphrase) {
  auto created = StoreKey::Create(Bytes("pw"), kFast);
  ASSERT_TRUE(created.ok());
  v1::WrappedStoreKey w = created->wrapped;
  (*w.mutable_sealed_key())[30] ^= 1;
  EXPECT_EQ(StoreKey::Unwrap(Bytes("pw"), w).status().code(), absl::StatusCode::kPermissionDenied);
  w = created->wrapped;
  w.set_ops_limit(1);  // Below the floor: refused before any work.
  EXPECT_EQ(StoreKey::Unwrap(Bytes("pw"), w).status().code(), absl::StatusCode::kInvalidArgument);
  w = created->wrapped;
  w.set_salt("short");
  EXPECT_EQ(StoreKey::Unwrap(Bytes("pw"), w).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SealedStoreTest, RejectsEmptyPassphraseAndWeakCost) {
  EXPECT_EQ(StoreKey::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
  PassphraseCost weak{1, 8192};
  EXPECT_EQ(StoreKey::Create(Bytes("pw"), weak).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SealedStoreTest, TamperedOrMovedValueFails) {
  auto created = StoreKey::Create(Bytes("pw"), kFast);
  ASSERT_TRUE(created.ok());
  const StoreKey& key = created->key;
  RecordName a = key.Name(Bytes("a"));
  RecordName b = key.Name(Bytes("b"));
  std::vector<uint8_t> sealed = *key.Seal(a, Bytes("clinical note"));
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::vector<uint8_t> bad = sealed;
    bad[i] ^= 0x04;
    ASSERT_EQ(key.Open(a, bad).status().code(), absl::StatusCode::kDataLoss) << i;
  }
  EXPECT_EQ(key.Open(b, sealed).status().code(), absl::StatusCode::kDataLoss);  // Moved.
  EXPECT_EQ(key.Open(a, ByteSpan(sealed).first(5)).status().code(), absl::StatusCode::kDataLoss);
}

TEST(SealedStoreTest, SealedBytesAndNamesContainNoPlaintext) {
  auto created = StoreKey::Create(Bytes("pw"), kFast);
  ASSERT_TRUE(created.ok());
  const StoreKey& key = created->key;
  const std::string marker = "MARKER-PLAINTEXT-7f3a";
  RecordName name = key.Name(Bytes("contact/" + marker));
  std::vector<uint8_t> sealed = *key.Seal(name, Bytes(marker + marker));
  EXPECT_FALSE(Contains(sealed, marker));
  EXPECT_FALSE(Contains(name, "contact"));
  std::string wrapped = created->wrapped.SerializeAsString();
  EXPECT_FALSE(Contains(AsBytes(wrapped), "pw"));
}

TEST(SealedStoreTest, RewrapChangesPassphraseButNotKey) {
  auto created = StoreKey::Create(Bytes("old"), kFast);
  ASSERT_TRUE(created.ok());
  RecordName n = created->key.Name(Bytes("x"));
  std::vector<uint8_t> sealed = *created->key.Seal(n, Bytes("kept"));
  v1::WrappedStoreKey rewrapped = *created->key.Wrap(Bytes("new"), kFast);
  StoreKey reopened = *StoreKey::Unwrap(Bytes("new"), rewrapped);
  EXPECT_TRUE(reopened.Open(n, sealed)->Equals(Bytes("kept")));
  EXPECT_FALSE(StoreKey::Unwrap(Bytes("old"), rewrapped).ok());
}

}  // namespace
}  // namespace alliance::crypto

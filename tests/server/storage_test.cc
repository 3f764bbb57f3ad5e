// Storage: database creation and opening, schema version, audit chain verification against
// tampering, and the mailbox counter encoding.
#include <sodium.h>
#include <stdlib.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "server/store/audit_log.h"
#include "server/infra/db.h"
#include "base/bytes.h"
#include "server/relay_server.h"

namespace alliance::server {
namespace {

class StorageTest : public ::testing::Test {
 protected:
  StorageTest() : clock_(absl::FromUnixSeconds(1'700'000'000)) {
    EXPECT_GE(sodium_init(), 0);
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "alliance-storage-XXXXXX").string();
    root_ = mkdtemp(tmpl.data());
    dir_ = root_ + "/db";
  }
  ~StorageTest() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  ManualClock clock_;
  std::string root_, dir_;
};

TEST_F(StorageTest, InitializeOnceThenCheckPasses) {
  absl::StatusOr<std::string> code = RelayServer::Initialize(dir_, &clock_);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(code->size(), 16u);
  EXPECT_EQ(RelayServer::Initialize(dir_, &clock_).status().code(),
            absl::StatusCode::kAlreadyExists);
  absl::StatusOr<std::string> summary = RelayServer::Check(dir_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_NE(summary->find("2 entries"), std::string::npos) << *summary;
}

TEST_F(StorageTest, OpeningAMissingDatabaseIsNotFound) {
  EXPECT_EQ(RocksRelayDb::Open(dir_).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(RelayServer::Check(dir_).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StorageTest, WrongSchemaVersionIsFailedPrecondition) {
  ASSERT_TRUE(RelayServer::Initialize(dir_, &clock_).ok());
  {
    auto db = RocksRelayDb::Open(dir_);
    ASSERT_TRUE(db.ok());
    KvBatch batch;
    std::string v;
    base::AppendU32BE(&v, 99);
    batch.Put(Cf::kMeta, "schema_version", v);
    ASSERT_TRUE((*db)->Write(&batch, true).ok());
  }
  EXPECT_EQ(RocksRelayDb::Open(dir_).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RelayServer::Check(dir_).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StorageTest, TamperedAuditEntryBreaksTheChain) {
  ASSERT_TRUE(RelayServer::Initialize(dir_, &clock_).ok());
  {
    auto db = RocksRelayDb::Open(dir_);
    ASSERT_TRUE(db.ok());
    std::string key;
    base::AppendU64BE(&key, 1);
    auto raw = (*db)->Get(Cf::kAudit, key);
    ASSERT_TRUE(raw.ok() && raw->has_value());
    v1::AuditEntry entry;
    ASSERT_TRUE(entry.ParseFromString(**raw));
    entry.set_time(entry.time() + 1);  // rewrite history
    KvBatch batch;
    batch.Put(Cf::kAudit, key, entry.SerializeAsString());
    ASSERT_TRUE((*db)->Write(&batch, true).ok());
  }
  EXPECT_EQ(RelayServer::Check(dir_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(StorageTest, DeletedAuditEntryBreaksTheChain) {
  ASSERT_TRUE(RelayServer::Initialize(dir_, &clock_).ok());
  {
    auto db = RocksRelayDb::Open(dir_);
    ASSERT_TRUE(db.ok());
    std::string key;
    base::AppendU64BE(&key, 2);
    KvBatch batch;
    batch.Delete(Cf::kAudit, key);
    ASSERT_TRUE((*db)->Write(&batch, true).ok());
  }
  EXPECT_EQ(RelayServer::Check(dir_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(StorageTest, AuditAppendsContinueTheChainAcrossReopen) {
  ASSERT_TRUE(RelayServer::Initialize(dir_, &clock_).ok());
  for (int round = 0; round < 2; ++round) {
    auto db = RocksRelayDb::Open(dir_);
    ASSERT_TRUE(db.ok());
    auto log = AuditLog::Open(db->get(), &clock_);
    ASSERT_TRUE(log.ok());
    KvBatch batch;
    AuditLog::Event e;
    e.event = v1::AUDIT_EVENT_LOGIN_OK;
    ASSERT_TRUE((*log)->Commit(&batch, {e, e}).ok());
  }
  auto db = RocksRelayDb::Open(dir_);
  ASSERT_TRUE(db.ok());
  absl::StatusOr<uint64_t> n = AuditLog::Verify(db->get());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 6u);
}

TEST(MailboxCounterTest, EncodesAndRejectsWrongSizes) {
  MailboxCounter c{.max_sequence = 42, .depth = -3};
  std::optional<MailboxCounter> back = MailboxCounter::Decode(c.Encode());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->max_sequence, 42u);
  EXPECT_EQ(back->depth, -3);
  EXPECT_FALSE(MailboxCounter::Decode("short").has_value());
}

TEST(EncodingTest, BigEndianAndHex) {
  std::string s;
  base::AppendU32BE(&s, 0x01020304);
  base::AppendU64BE(&s, 0x0a0b0c0d0e0f1011ull);
  EXPECT_EQ(base::ToHex(s), "010203040a0b0c0d0e0f1011");
  EXPECT_EQ(base::ReadU32BE(s.data()), 0x01020304u);
  EXPECT_EQ(base::ReadU64BE(s.data() + 4), 0x0a0b0c0d0e0f1011ull);
  EXPECT_EQ(base::FromHex("0A0b"), std::optional<std::string>("\x0a\x0b"));
  EXPECT_FALSE(base::FromHex("abc").has_value());
  EXPECT_FALSE(base::FromHex("zz").has_value());
}

}  // namespace
}  // namespace alliance::server

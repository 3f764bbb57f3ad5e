// Schema versions and `alliance-relay migrate`: a relay refuses a database written by a newer
// relay and one that needs migrating, each with a message naming what to do; migration backs
// the database up first, applies every step or none, and leaves a chain that verifies.
// A fixture per released schema version (tests/server/fixtures/relay-schema-vN) pins that
// every later relay can still open or migrate what that version wrote.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/admin/migrate.h"
#include "server/infra/clock.h"
#include "server/infra/db.h"
#include "server/relay_records.pb.h"
#include "server/relay_server.h"
#include "server/store/devices.h"
#include "tests/server/relay_harness.h"

namespace alliance::server {
namespace {

namespace fs = std::filesystem;

class MigrateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("alliance-migrate-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    data_ = (root_ / "data").string();
  }
  void TearDown() override { fs::remove_all(root_); }

  void Init() {
    ManualClock clock(absl::FromUnixSeconds(1'700'000'000));
    ASSERT_TRUE(RelayServer::Initialize(data_, &clock).ok());
  }

  // Rewrites the recorded schema version, as an older or newer relay would have left it.
  void SetVersion(uint32_t version) {
    auto db = RocksRelayDb::OpenForMigration(data_);
    ASSERT_TRUE(db.ok()) << db.status();
    KvBatch batch;
    (*db)->PutSchemaVersion(&batch, version);
    ASSERT_TRUE((*db)->Write(&batch, true).ok());
    ASSERT_TRUE((*db)->Close().ok());
  }

  static Migration Step(uint32_t from, bool* ran) {
    return Migration{.from = from,
                     .description = "test step",
                     .apply = [ran, from](RelayDb* /*db*/, KvBatch* batch) {
                       *ran = true;
                       batch->Put(Cf::kMeta, "test_step_" + std::to_string(from), "done");
                       return absl::OkStatus();
                     }};
  }

  fs::path root_;
  std::string data_;
};

TEST_F(MigrateTest, CurrentVersionIsANoOpAndTakesNoBackup) {
  Init();
  auto summary = MigrateDatabase(data_, "");
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(absl::StrContains(*summary, "nothing to do")) << *summary;
  EXPECT_FALSE(fs::exists(data_ + ".before-migrate-v" + std::to_string(kSchemaVersion)));
  EXPECT_TRUE(RelayServer::Check(data_).ok());
}

TEST_F(MigrateTest, ANewerDatabaseIsRefusedWithAMessageThatSaysSoAndIsNotTouched) {
  Init();
  // A synthetic "next" relay migrates to kSchemaVersion + 1.
  bool ran = false;
  Migration next = Step(kSchemaVersion, &ran);
  auto summary = MigrateDatabase(data_, "", {&next, 1}, kSchemaVersion + 1);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(ran);
  EXPECT_TRUE(absl::StrContains(
      *summary, absl::StrCat("migrated ", kSchemaVersion, " -> ", kSchemaVersion + 1)))
      << *summary;

  // This relay, which knows versions up to kSchemaVersion, refuses it: serve, check and
  // migrate alike.
  for (auto status : {RelayServer::Check(data_).status(), RocksRelayDb::Open(data_).status(),
                      MigrateDatabase(data_, "").status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::StrContains(status.message(), "newer")) << status;
  }
  // The backup taken before the step is the current version and serves.
  auto backup = RelayServer::Check(
      data_ + ".before-migrate-v" + std::to_string(kSchemaVersion), /*read_only=*/true);
  EXPECT_TRUE(backup.ok()) << backup.status();
}

TEST_F(MigrateTest, AnOlderDatabaseIsRefusedUntilMigratedThenServes) {
  Init();
  const uint32_t older = kSchemaVersion - 1;
  SetVersion(older);
  auto refused = RocksRelayDb::Open(data_);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "alliance-relay migrate --data"))
      << refused.status();

  bool ran = false;
  Migration step = Step(older, &ran);
  const std::string backup = (root_ / "before").string();
  auto summary = MigrateDatabase(data_, backup, {&step, 1}, kSchemaVersion);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(ran);
  auto checked = RelayServer::Check(data_);
  EXPECT_TRUE(checked.ok()) << checked.status();
  auto db = RocksRelayDb::Open(data_);
  ASSERT_TRUE(db.ok());
  auto marker = (*db)->Get(Cf::kMeta, "test_step_" + std::to_string(older));
  ASSERT_TRUE(marker.ok() && marker->has_value());
  ASSERT_TRUE((*db)->Close().ok());
  // The backup still holds the old version, so the migration can be undone by restoring it.
  auto old = RocksRelayDb::OpenForMigration(backup);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(*(*old)->SchemaVersion(), older);
}

TEST_F(MigrateTest, AMissingStepChangesNothing) {
  Init();
  SetVersion(0);
  auto summary = MigrateDatabase(data_, "", {}, kSchemaVersion);
  ASSERT_EQ(summary.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(summary.status().message(), "no migration from schema version 0"));
  EXPECT_FALSE(fs::exists(data_ + ".before-migrate-v0"));
  auto db = RocksRelayDb::OpenForMigration(data_);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*(*db)->SchemaVersion(), 0u);
}

TEST_F(MigrateTest, AFailingStepLeavesTheVersionAndTheBackup) {
  Init();
  SetVersion(0);
  Migration broken{.from = 0,
                   .description = "fails",
                   .apply = [](RelayDb*, KvBatch*) {
                     return absl::InternalError("simulated");
                   }};
  auto summary = MigrateDatabase(data_, "", {&broken, 1}, /*target=*/1);
  ASSERT_FALSE(summary.ok());
  EXPECT_TRUE(absl::StrContains(summary.status().message(), "still at version 0"))
      << summary.status();
  EXPECT_TRUE(fs::exists(data_ + ".before-migrate-v0"));
  auto db = RocksRelayDb::OpenForMigration(data_);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*(*db)->SchemaVersion(), 0u);
}

TEST_F(MigrateTest, ARunningRelaysDatabaseIsNotMigrated) {
  testing::RelayHarness harness;
  auto summary = MigrateDatabase(harness.data_dir(), "");
  ASSERT_EQ(summary.status().code(), absl::StatusCode::kFailedPrecondition) << summary.status();
  EXPECT_TRUE(absl::StrContains(summary.status().message(), "stop the relay"))
      << summary.status();
}

// Every checked-in database (tests/server/fixtures/relay-schema-vN: an admin, a therapist, a
// client, keys and a message; see the README there) must open in every later relay directly or
// after `migrate`, with its audit chain intact and every account listing its devices.
TEST_F(MigrateTest, EveryReleasedVersionsFixtureOpensOrMigrates) {
  int fixtures = 0;
  for (uint32_t version = 1; version <= kSchemaVersion; ++version) {
    const fs::path fixture =
        fs::path(ALLIANCE_FIXTURES_DIR) / ("relay-schema-v" + std::to_string(version));
    ASSERT_TRUE(fs::exists(fixture / "CURRENT")) << fixture << ": each version keeps a fixture";
    ++fixtures;
    const std::string data = data_ + "-v" + std::to_string(version);
    fs::copy(fixture, data, fs::copy_options::recursive);
    auto summary = MigrateDatabase(data, "");
    ASSERT_TRUE(summary.ok()) << fixture << ": " << summary.status();
    auto checked = RelayServer::Check(data);
    ASSERT_TRUE(checked.ok()) << checked.status();
    EXPECT_TRUE(absl::StrContains(*checked, "audit chain of")) << *checked;

    auto db = RocksRelayDb::Open(data);
    ASSERT_TRUE(db.ok()) << db.status();
    std::unique_ptr<KvIterator> it = (*db)->NewIterator(Cf::kAccounts);
    int accounts = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      AccountRecord account;
      ASSERT_TRUE(account.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())));
      ++accounts;
      EXPECT_EQ(ActiveDeviceIds(account), std::vector<uint32_t>{1}) << fixture;
      EXPECT_EQ(account.next_device_id(), 2u);
      EXPECT_EQ(account.device_count(), 0u) << "schema 1's field is cleared";
    }
    EXPECT_EQ(accounts, 3) << fixture;
    it.reset();  // before Close: RocksDB asserts that no iterator outlives the database
    ASSERT_TRUE((*db)->Close().ok());
  }
  EXPECT_EQ(fixtures, static_cast<int>(kSchemaVersion));
}

// Writes the fixture of this relay's schema version, tests/server/fixtures/relay-schema-vN (run
// by hand once, when a schema version is added; a released version's fixture is never remade):
//   ALLIANCE_WRITE_FIXTURE=$PWD/tests/server/fixtures/relay-schema-v2
//     build/tests/server/relay_migrate_test --gtest_also_run_disabled_tests
//     --gtest_filter='*DISABLED_WriteCurrentVersionFixture' (one command line)
TEST(MigrateFixture, DISABLED_WriteCurrentVersionFixture) {
  const char* out = std::getenv("ALLIANCE_WRITE_FIXTURE");
  ASSERT_NE(out, nullptr) << "set ALLIANCE_WRITE_FIXTURE to the output directory";
  ASSERT_FALSE(fs::exists(out)) << out << " exists";
  std::string data;
  {
    testing::RelayHarness h;
    testing::TestAccount admin = h.NewAdmin();
    testing::TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
    testing::TestAccount client = h.Invite(therapist, v1::ROLE_CLIENT);
    ASSERT_TRUE(h.Send(client, therapist, std::string(200, 'x')).ok());
    {
      // Schema 3 on: one stored attachment (its bytes in a blob file).
      auto ctx = h.Ctx(therapist);
      v1::UploadResponse response;
      auto writer = h.blobs().Upload(ctx.get(), &response);
      v1::UploadRequest request;
      request.mutable_start()->set_blob_id(testing::NewMessageId());
      request.mutable_start()->set_size(20000);
      request.mutable_start()->add_recipient_account_ids(client.account_id);
      request.set_data(std::string(20000, 'y'));
      ASSERT_TRUE(writer->Write(request));
      writer->WritesDone();
      ASSERT_TRUE(writer->Finish().ok());
    }
    h.Stop();
    data = h.data_dir();
    fs::create_directories(out);
    for (const auto& entry : fs::directory_iterator(data)) {
      const std::string name = entry.path().filename().string();
      if (name == "LOCK" || name.rfind("LOG", 0) == 0 || !entry.is_regular_file()) continue;
      fs::copy_file(entry.path(), fs::path(out) / name);
    }
  }
}

}  // namespace
}  // namespace alliance::server

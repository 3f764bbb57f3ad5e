// Schema versions and `alliance-relay migrate`: a relay refuses a database written by a newer
// relay and one that needs migrating, each with a message naming what to do; migration backs
// the database up first, applies every step or none, and leaves a chain that verifies.
// A fixture written by schema version 1 (tests/server/fixtures/relay-schema-v1) pins that
// every later relay can still open or migrate what version 1 wrote.
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "server/admin/migrate.h"
#include "server/infra/clock.h"
#include "server/infra/db.h"
#include "server/relay_server.h"
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
    auto db = RelayDb::OpenForMigration(data_);
    ASSERT_TRUE(db.ok()) << db.status();
    rocksdb::WriteBatch batch;
    (*db)->PutSchemaVersion(&batch, version);
    ASSERT_TRUE((*db)->Write(&batch, true).ok());
    ASSERT_TRUE((*db)->Close().ok());
  }

  static Migration Step(uint32_t from, bool* ran) {
    return Migration{.from = from,
                     .description = "test step",
                     .apply = [ran, from](RelayDb* db, rocksdb::WriteBatch* batch) {
                       *ran = true;
                       batch->Put(db->cf(Cf::kMeta), "test_step_" + std::to_string(from), "done");
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
  EXPECT_FALSE(fs::exists(data_ + ".before-migrate-v1"));
  EXPECT_TRUE(RelayServer::Check(data_).ok());
}

TEST_F(MigrateTest, ANewerDatabaseIsRefusedWithAMessageThatSaysSoAndIsNotTouched) {
  Init();
  // A synthetic "next" relay migrates 1 -> 2.
  bool ran = false;
  Migration next = Step(1, &ran);
  auto summary = MigrateDatabase(data_, "", {&next, 1}, kSchemaVersion + 1);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(ran);
  EXPECT_TRUE(absl::StrContains(*summary, "migrated 1 -> 2")) << *summary;

  // This relay, which knows version 1 only, refuses it: serve, check and migrate alike.
  for (auto status : {RelayServer::Check(data_).status(), RelayDb::Open(data_).status(),
                      MigrateDatabase(data_, "").status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::StrContains(status.message(), "newer")) << status;
  }
  // The backup taken before the step is version 1 and serves.
  auto backup = RelayServer::Check(data_ + ".before-migrate-v1", /*read_only=*/true);
  EXPECT_TRUE(backup.ok()) << backup.status();
}

TEST_F(MigrateTest, AnOlderDatabaseIsRefusedUntilMigratedThenServes) {
  Init();
  SetVersion(0);
  auto refused = RelayDb::Open(data_);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "alliance-relay migrate --data"))
      << refused.status();

  bool ran = false;
  Migration step = Step(0, &ran);
  const std::string backup = (root_ / "before").string();
  auto summary = MigrateDatabase(data_, backup, {&step, 1}, kSchemaVersion);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(ran);
  auto checked = RelayServer::Check(data_);
  EXPECT_TRUE(checked.ok()) << checked.status();
  auto db = RelayDb::Open(data_);
  ASSERT_TRUE(db.ok());
  auto marker = (*db)->Get(Cf::kMeta, "test_step_0");
  ASSERT_TRUE(marker.ok() && marker->has_value());
  ASSERT_TRUE((*db)->Close().ok());
  // The backup still holds the old version, so the migration can be undone by restoring it.
  auto old = RelayDb::OpenForMigration(backup);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(*(*old)->SchemaVersion(), 0u);
}

TEST_F(MigrateTest, AMissingStepChangesNothing) {
  Init();
  SetVersion(0);
  auto summary = MigrateDatabase(data_, "", {}, kSchemaVersion);
  ASSERT_EQ(summary.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(summary.status().message(), "no migration from schema version 0"));
  EXPECT_FALSE(fs::exists(data_ + ".before-migrate-v0"));
  auto db = RelayDb::OpenForMigration(data_);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*(*db)->SchemaVersion(), 0u);
}

TEST_F(MigrateTest, AFailingStepLeavesTheVersionAndTheBackup) {
  Init();
  SetVersion(0);
  Migration broken{.from = 0,
                   .description = "fails",
                   .apply = [](RelayDb*, rocksdb::WriteBatch*) {
                     return absl::InternalError("simulated");
                   }};
  auto summary = MigrateDatabase(data_, "", {&broken, 1}, kSchemaVersion);
  ASSERT_FALSE(summary.ok());
  EXPECT_TRUE(absl::StrContains(summary.status().message(), "still at version 0"))
      << summary.status();
  EXPECT_TRUE(fs::exists(data_ + ".before-migrate-v0"));
  auto db = RelayDb::OpenForMigration(data_);
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

// The checked-in database was written by schema version 1 (an admin, a therapist, a client,
// keys and a message; see tests/server/fixtures/README). Every later relay must open it
// directly or after `migrate`, with its audit chain intact.
TEST_F(MigrateTest, TheVersionOneFixtureOpensOrMigrates) {
  const fs::path fixture = fs::path(ALLIANCE_FIXTURES_DIR) / "relay-schema-v1";
  ASSERT_TRUE(fs::exists(fixture / "CURRENT")) << fixture;
  fs::copy(fixture, data_, fs::copy_options::recursive);
  auto summary = MigrateDatabase(data_, "");
  ASSERT_TRUE(summary.ok()) << summary.status();
  auto checked = RelayServer::Check(data_);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_TRUE(absl::StrContains(*checked, "audit chain of")) << *checked;
}

// Writes tests/server/fixtures/relay-schema-v1 (run by hand when the fixture must be remade,
// which is never for a released version):
//   ALLIANCE_WRITE_FIXTURE=$PWD/tests/server/fixtures/relay-schema-v1
//     build/tests/server/relay_migrate_test --gtest_also_run_disabled_tests
//     --gtest_filter='*DISABLED_WriteVersionOneFixture' (one command line)
TEST(MigrateFixture, DISABLED_WriteVersionOneFixture) {
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

// The local store shared between processes: a store that lingers keeps RocksDB open across a
// burst of transactions, and still hands the profile to another opener once idle.
#include "client/local_store.h"

#include <filesystem>

#include "gtest/gtest.h"

namespace alliance::client {
namespace {

crypto::ByteSpan Pass() { return crypto::AsBytes(std::string_view("a passphrase")); }

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("alliance-local-store-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    LocalStoreOptions o;
    o.cost = crypto::PassphraseCost::Interactive();
    o.hold_open = false;
    auto created = LocalStore::Create(dir_.string(), Pass(), o);
    ASSERT_TRUE(created.ok()) << created.status();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<LocalStore> OpenStore(absl::Duration linger, absl::Duration lock_wait) {
    LocalStoreOptions o;
    o.hold_open = false;
    o.linger = linger;
    o.lock_wait = lock_wait;
    auto s = LocalStore::Open(dir_.string(), Pass(), o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  static absl::Status Write(LocalStore& s, const std::string& name, const std::string& value) {
    return s.Run([&](LocalStore::Txn& txn) { return txn.PutBytes(name, crypto::AsBytes(value)); });
  }
  static std::string Read(LocalStore& s, const std::string& name) {
    std::string out;
    EXPECT_TRUE(s.Run([&](LocalStore::Txn& txn) -> absl::Status {
                   auto v = txn.GetBytes(name);
                   if (!v.ok()) return v.status();
                   if (v->has_value()) out.assign((*v)->data(), (*v)->data() + (*v)->size());
                   return absl::OkStatus();
                 }).ok());
    return out;
  }

  std::filesystem::path dir_;
};

TEST_F(LocalStoreTest, ALingeringStoreHandsTheProfileOverOnceIdle) {
  auto app = OpenStore(absl::Milliseconds(200), absl::Seconds(5));
  ASSERT_NE(app, nullptr);
  ASSERT_TRUE(Write(*app, "k", "from the app").ok());
  // Another opener (the CLI) waits for the linger to pass, then gets the profile.
  auto cli = OpenStore(absl::ZeroDuration(), absl::Seconds(5));
  ASSERT_NE(cli, nullptr);
  EXPECT_EQ(Read(*cli, "k"), "from the app");
  ASSERT_TRUE(Write(*cli, "k", "from the cli").ok());
  // And the lingering store reopens it for its next transaction.
  EXPECT_EQ(Read(*app, "k"), "from the cli");
}

TEST_F(LocalStoreTest, AnotherOpenerWaitingLessThanTheLingerGetsUnavailable) {
  auto app = OpenStore(absl::Seconds(30), absl::Seconds(5));
  ASSERT_NE(app, nullptr);
  ASSERT_TRUE(Write(*app, "k", "v").ok());
  auto impatient = OpenStore(absl::ZeroDuration(), absl::Milliseconds(100));
  ASSERT_NE(impatient, nullptr);
  absl::Status s = Write(*impatient, "k", "w");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  app.reset();  // Closing the store releases the profile at once.
  EXPECT_TRUE(Write(*impatient, "k", "w").ok());
}

}  // namespace
}  // namespace alliance::client

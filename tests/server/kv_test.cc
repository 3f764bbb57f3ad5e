// The storage seam (server/infra/kv.h) behaves the same on both backends: CTest runs this suite
// on RocksDB and again on PostgreSQL (".postgres"). The stores rely on each property pinned here.
#include <sodium.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/infra/storage.h"
#include "tests/server/relay_harness.h"

namespace alliance::server::testing {
namespace {

class KvTest : public ::testing::Test {
 protected:
  KvTest() {
    EXPECT_GE(sodium_init(), 0);
    std::string tmpl = (std::filesystem::temp_directory_path() / "alliance-kv-XXXXXX").string();
    root_ = mkdtemp(tmpl.data());
    if (TestOnPostgres()) {
      options_.storage = "postgres";
      options_.database_url = NewTestDatabaseUrl();
    } else {
      options_.data_dir = root_ + "/db";
    }
    absl::StatusOr<std::unique_ptr<RelayDb>> db = OpenStorage(options_, StorageMode::kCreate);
    EXPECT_TRUE(db.ok()) << db.status();
    if (db.ok()) db_ = *std::move(db);
  }
  ~KvTest() override {
    if (db_ != nullptr) (void)db_->Close();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  std::vector<std::string> Keys(Cf cf, std::string_view from, std::string_view upper = {}) {
    std::vector<std::string> keys;
    std::unique_ptr<KvIterator> it = db_->NewIterator(cf, upper);
    for (it->Seek(from); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
    EXPECT_TRUE(it->status().ok()) << it->status();
    return keys;
  }

  void Put(Cf cf, std::string_view key, std::string_view value = "v") {
    KvBatch batch;
    batch.Put(cf, key, value);
    ASSERT_TRUE(db_->Write(&batch, /*sync=*/true).ok());
  }

  std::string root_;
  RelayOptions options_;
  std::unique_ptr<RelayDb> db_;
};

TEST_F(KvTest, KeysOrderAsUnsignedBytesShorterFirst) {
  ASSERT_NE(db_, nullptr);
  const std::vector<std::string> sorted = {std::string("a"), std::string("a\0", 2),
                                           std::string("a\x01", 2), std::string("a\x7f", 2),
                                           std::string("a\x80", 2), std::string("a\xff", 2),
                                           std::string("a\xff\xff", 3), std::string("b")};
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) Put(Cf::kLinks, *it);
  EXPECT_EQ(Keys(Cf::kLinks, ""), sorted);
  EXPECT_EQ(Keys(Cf::kLinks, std::string("a\x80", 2)),
            std::vector<std::string>(sorted.begin() + 4, sorted.end()));
  // The upper bound is exclusive; other column families are separate.
  EXPECT_EQ(Keys(Cf::kLinks, "", std::string("a\xff", 2)),
            std::vector<std::string>(sorted.begin(), sorted.begin() + 5));
  EXPECT_TRUE(Keys(Cf::kInvites, "").empty());
}

TEST_F(KvTest, IterationCrossesPagesAndSeekForPrevFindsTheFloor) {
  ASSERT_NE(db_, nullptr);
  KvBatch batch;
  for (int i = 0; i < 3000; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "k%05d", i * 2);  // even numbers only
    batch.Put(Cf::kMailbox, key, std::string(static_cast<size_t>(i % 7), 'x'));
  }
  ASSERT_TRUE(db_->Write(&batch, /*sync=*/false).ok());
  std::vector<std::string> keys = Keys(Cf::kMailbox, "k");
  ASSERT_EQ(keys.size(), 3000u);
  EXPECT_EQ(keys.front(), "k00000");
  EXPECT_EQ(keys.back(), "k05998");
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));

  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kMailbox, "k00100");
  it->SeekForPrev("k00051");  // between k00050 and k00052
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key().ToString(), "k00050");
  EXPECT_EQ(it->value().size(), 25u % 7);
  it->Next();
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key().ToString(), "k00052");
  int rest = 0;
  for (; it->Valid(); it->Next()) ++rest;
  EXPECT_EQ(rest, 24);  // k00052 .. k00098, below the bound
  it->SeekForPrev("a");  // nothing at or before
  EXPECT_FALSE(it->Valid());
}

TEST_F(KvTest, DeleteRangeExcludesItsEndAndABatchAppliesInOrder) {
  ASSERT_NE(db_, nullptr);
  for (const char* k : {"r1", "r2", "r3", "r4"}) Put(Cf::kOneTime, k);
  KvBatch batch;
  batch.DeleteRange(Cf::kOneTime, "r2", "r4");
  batch.Put(Cf::kOneTime, "r3", "again");  // after the range delete: it stays
  batch.Delete(Cf::kOneTime, "r1");
  ASSERT_TRUE(db_->Write(&batch, /*sync=*/true).ok());
  EXPECT_EQ(Keys(Cf::kOneTime, ""), (std::vector<std::string>{"r3", "r4"}));
  auto value = db_->Get(Cf::kOneTime, "r3");
  ASSERT_TRUE(value.ok() && value->has_value());
  EXPECT_EQ(**value, "again");
  auto missing = db_->Get(Cf::kOneTime, "r1");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(KvTest, MailboxCountersMergeAsMaxAndSumWithAnUnreadableValueCountingAsZero) {
  ASSERT_NE(db_, nullptr);
  KvBatch batch;
  batch.Merge(Cf::kMailbox, "m", MailboxCounter{.max_sequence = 7, .depth = 3}.Encode());
  batch.Merge(Cf::kMailbox, "m", MailboxCounter{.max_sequence = 5, .depth = -1}.Encode());
  ASSERT_TRUE(db_->Write(&batch, /*sync=*/true).ok());
  auto raw = db_->Get(Cf::kMailbox, "m");
  ASSERT_TRUE(raw.ok() && raw->has_value());
  std::optional<MailboxCounter> c = MailboxCounter::Decode(**raw);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->max_sequence, 7u);
  EXPECT_EQ(c->depth, 2);

  Put(Cf::kMailbox, "m", "damaged");
  KvBatch more;
  more.Merge(Cf::kMailbox, "m", MailboxCounter{.max_sequence = 2, .depth = 4}.Encode());
  ASSERT_TRUE(db_->Write(&more, /*sync=*/false).ok());
  raw = db_->Get(Cf::kMailbox, "m");
  ASSERT_TRUE(raw.ok() && raw->has_value());
  c = MailboxCounter::Decode(**raw);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->max_sequence, 2u);
  EXPECT_EQ(c->depth, 4);
}

TEST_F(KvTest, AClosedCounterStaysClosedWhateverIsMergedIntoIt) {
  // An erased mailbox's counter (Mailbox::CloseAndErase) under both backends' merges: a late
  // send's (max, +1) and an ack's (0, -1) leave it closed.
  ASSERT_NE(db_, nullptr);
  Put(Cf::kMailbox, "m", MailboxCounter{.max_sequence = MailboxCounter::kClosedSequence}.Encode());
  KvBatch batch;
  batch.Merge(Cf::kMailbox, "m", MailboxCounter{.max_sequence = 12, .depth = 1}.Encode());
  batch.Merge(Cf::kMailbox, "m", MailboxCounter{.depth = -1}.Encode());
  ASSERT_TRUE(db_->Write(&batch, /*sync=*/true).ok());
  auto raw = db_->Get(Cf::kMailbox, "m");
  ASSERT_TRUE(raw.ok() && raw->has_value());
  std::optional<MailboxCounter> c = MailboxCounter::Decode(**raw);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->closed());
  EXPECT_EQ(c->max_sequence, MailboxCounter::kClosedSequence);
  EXPECT_EQ(c->depth, 0);
  EXPECT_FALSE(MailboxCounter{.max_sequence = MailboxCounter::kClosedSequence - 1}.closed());
}

TEST_F(KvTest, ALockWritesNothingAndHoldsWhateverTheKeyHolds) {
  ASSERT_NE(db_, nullptr);
  Put(Cf::kMailbox, "present", "x");
  for (const char* key : {"present", "absent"}) {
    KvBatch batch;
    batch.Lock(Cf::kMailbox, key);
    batch.Put(Cf::kMailbox, std::string("after-") + key, "y");
    ASSERT_TRUE(db_->Write(&batch, /*sync=*/true).ok()) << key;
    EXPECT_TRUE(db_->Get(Cf::kMailbox, std::string("after-") + key)->has_value()) << key;
  }
  EXPECT_EQ(db_->Get(Cf::kMailbox, "present")->value_or(""), "x");
  EXPECT_FALSE(db_->Get(Cf::kMailbox, "absent")->has_value());
}

TEST_F(KvTest, ConcurrentMergesOnOneCounterLoseNothing) {
  ASSERT_NE(db_, nullptr);
  constexpr int kThreads = 8;
  constexpr int kEach = 100;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        KvBatch batch;
        batch.Put(Cf::kMailbox, "e" + std::to_string(t) + "-" + std::to_string(i), "envelope");
        batch.Merge(Cf::kMailbox, "counter",
                    MailboxCounter{.max_sequence = static_cast<uint64_t>(t * kEach + i),
                                   .depth = 1}
                        .Encode());
        if (!db_->Write(&batch, /*sync=*/i % 2 == 0).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto raw = db_->Get(Cf::kMailbox, "counter");
  ASSERT_TRUE(raw.ok() && raw->has_value());
  std::optional<MailboxCounter> c = MailboxCounter::Decode(**raw);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->depth, kThreads * kEach);
  EXPECT_EQ(c->max_sequence, static_cast<uint64_t>(kThreads * kEach - 1));
}

TEST_F(KvTest, ABatchWhoseExpectationFailsWritesNothing) {
  Put(Cf::kInvites, "held", "one");
  KvBatch ok;
  ok.Expect(Cf::kInvites, "held", std::string("one"));
  ok.Expect(Cf::kInvites, "absent", std::nullopt);
  ok.ExpectPrefix(Cf::kInvites, "held", "on");
  ok.Put(Cf::kInvites, "held", "two");
  ok.Put(Cf::kInvites, "new", "x");
  ASSERT_TRUE(db_->Write(&ok, /*sync=*/true).ok());
  EXPECT_EQ(db_->Get(Cf::kInvites, "held")->value_or(""), "two");

  for (int variant = 0; variant < 3; ++variant) {
    KvBatch stale;
    if (variant == 0) stale.Expect(Cf::kInvites, "held", std::string("one"));  // changed since
    if (variant == 1) stale.Expect(Cf::kInvites, "new", std::nullopt);         // exists now
    if (variant == 2) stale.ExpectPrefix(Cf::kInvites, "missing", "");        // absent
    stale.Put(Cf::kInvites, "held", "three");
    stale.Delete(Cf::kInvites, "new");
    absl::Status s = db_->Write(&stale, /*sync=*/true);
    EXPECT_TRUE(IsWriteConflict(s)) << variant << ": " << s;
    EXPECT_EQ(db_->Get(Cf::kInvites, "held")->value_or(""), "two") << variant;
    EXPECT_TRUE(db_->Get(Cf::kInvites, "new")->has_value()) << variant;
  }
}

TEST_F(KvTest, OfManyWritersExpectingOneValueExactlyOneWinsEachRound) {
  // Each round: 6 threads read the same value and try to replace it, expecting what they read.
  constexpr int kRounds = 20;
  Put(Cf::kOneTime, "slot", "0");
  std::atomic<int> wins{0}, conflicts{0};
  for (int round = 0; round < kRounds; ++round) {
    const std::string seen = std::to_string(round);
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        KvBatch batch;
        batch.Expect(Cf::kOneTime, "slot", seen);
        batch.Put(Cf::kOneTime, "slot", std::to_string(round + 1));
        batch.Put(Cf::kOneTime, "winner" + seen, std::to_string(t));
        absl::Status s = db_->Write(&batch, /*sync=*/true);
        if (s.ok()) {
          ++wins;
        } else if (IsWriteConflict(s)) {
          ++conflicts;
        } else {
          ADD_FAILURE() << s;
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  EXPECT_EQ(wins.load(), kRounds);
  EXPECT_EQ(conflicts.load(), 5 * kRounds);
  EXPECT_EQ(db_->Get(Cf::kOneTime, "slot")->value_or(""), std::to_string(kRounds));
}

TEST_F(KvTest, ReopeningKeepsTheRelayIdAndTheSchemaVersion) {
  ASSERT_NE(db_, nullptr);
  const std::string id = db_->relay_id();
  Put(Cf::kAccounts, "someone", "record");
  ASSERT_TRUE(db_->Close().ok());
  EXPECT_EQ(OpenStorage(options_, StorageMode::kCreate).status().code(),
            absl::StatusCode::kAlreadyExists);
  absl::StatusOr<std::unique_ptr<RelayDb>> again = OpenStorage(options_, StorageMode::kServe);
  ASSERT_TRUE(again.ok()) << again.status();
  db_ = *std::move(again);
  EXPECT_EQ(db_->relay_id(), id);
  auto version = db_->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, kSchemaVersion);
  auto value = db_->Get(Cf::kAccounts, "someone");
  ASSERT_TRUE(value.ok() && value->has_value());
  EXPECT_EQ(**value, "record");
}

}  // namespace
}  // namespace alliance::server::testing

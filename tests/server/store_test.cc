// The relay's parts without gRPC: rate limiter, commit pool and mailbox, on a real RocksDB in a
// temporary directory with a manual clock.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <latch>
#include <thread>

#include "gtest/gtest.h"
#include "server/infra/commit_pool.h"
#include "server/infra/rate_limiter.h"
#include "server/store/devices.h"
#include "server/store/mailbox.h"

namespace alliance::server {
namespace {

class TempDb {
 public:
  TempDb() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "alliance-store-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    db_ = *RocksRelayDb::Create(dir_ + "/db");
  }
  ~TempDb() {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  RelayDb* db() { return db_.get(); }
  std::unique_ptr<RelayDb>& owned() { return db_; }
  std::string path() const { return dir_ + "/db"; }

 private:
  std::string dir_;
  std::unique_ptr<RelayDb> db_;
};

TEST(RateLimiterTest, BurstThenRefillAtTheRate) {
  ManualClock clock(absl::FromUnixSeconds(1000));
  RateLimiter limiter(&clock, /*rate_per_second=*/1, /*burst=*/3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.TryAcquire("a"));
  EXPECT_FALSE(limiter.TryAcquire("a"));
  EXPECT_TRUE(limiter.TryAcquire("b"));  // another key, another bucket
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(limiter.TryAcquire("a"));
  EXPECT_FALSE(limiter.TryAcquire("a"));
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.TryAcquire("a"));  // capped at the burst
  EXPECT_FALSE(limiter.TryAcquire("a"));
}

TEST(RateLimiterTest, HasTokenTakesNothingAndCreatesNothing) {
  ManualClock clock(absl::FromUnixSeconds(1000));
  RateLimiter limiter(&clock, 1, 1);
  EXPECT_TRUE(limiter.HasToken("a"));
  EXPECT_EQ(limiter.size(), 0u);
  EXPECT_TRUE(limiter.TryAcquire("a"));
  EXPECT_FALSE(limiter.HasToken("a"));
}

TEST(RateLimiterTest, MemoryIsBoundedAndNewcomersKeepAFreshBucket) {
  ManualClock clock(absl::FromUnixSeconds(1000));
  RateLimiter limiter(&clock, 0.001, 2, /*max_keys=*/50);
  for (int i = 0; i < 10'000; ++i) (void)limiter.TryAcquire("flood-" + std::to_string(i));
  EXPECT_LE(limiter.size(), 50u);
  EXPECT_TRUE(limiter.TryAcquire("newcomer"));
  EXPECT_TRUE(limiter.TryAcquire("newcomer"));
  EXPECT_FALSE(limiter.TryAcquire("newcomer"));
}

TEST(RateLimiterTest, PruneForgetsOnlyFullBuckets) {
  ManualClock clock(absl::FromUnixSeconds(1000));
  RateLimiter limiter(&clock, 1, 2);
  (void)limiter.TryAcquire("used");
  (void)limiter.HasToken("untouched");
  limiter.Prune();
  EXPECT_EQ(limiter.size(), 1u);
  clock.Advance(absl::Seconds(5));
  limiter.Prune();
  EXPECT_EQ(limiter.size(), 0u);
}

TEST(CommitPoolTest, EveryBatchIsWrittenAndEveryCompletionRunsOnce) {
  TempDb t;
  std::atomic<int> done{0};
  constexpr int kJobs = 200;
  {
    CommitPool pool(t.db(), 8);
    std::latch finished(kJobs);
    for (int i = 0; i < kJobs; ++i) {
      KvBatch batch;
      batch.Put(Cf::kMeta, "k" + std::to_string(i), "v");
      pool.Submit(std::move(batch), [&](absl::Status s) {
        EXPECT_TRUE(s.ok()) << s;
        done.fetch_add(1);
        finished.count_down();
      });
    }
    finished.wait();
  }
  EXPECT_EQ(done.load(), kJobs);
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_TRUE((*t.db()->Get(Cf::kMeta, "k" + std::to_string(i))).has_value());
  }
}

TEST(CommitPoolTest, AfterShutdownSubmitFailsAtOnceWithUnavailable) {
  TempDb t;
  CommitPool pool(t.db(), 2);
  pool.Shutdown();
  absl::Status got = absl::OkStatus();
  pool.Submit(KvBatch(), [&](absl::Status s) { got = s; });
  EXPECT_EQ(got.code(), absl::StatusCode::kUnavailable);
}

class MailboxTest : public ::testing::Test {
 protected:
  MailboxTest() : clock_(absl::FromUnixSeconds(1'700'000'000)) {
    limits_.max_mailbox_envelopes = 10;
    limits_.max_mailbox_envelopes_per_sender = 4;
    Open();
  }
  ~MailboxTest() override { Close(); }
  void Open() {
    if (t_.db() == nullptr) t_.owned() = *RocksRelayDb::Open(t_.path());
    pool_ = std::make_unique<CommitPool>(t_.db(), 4);
    mailbox_ = std::make_unique<Mailbox>(t_.db(), pool_.get(), &clock_, limits_, &metrics_);
  }
  void Close() {
    mailbox_.reset();
    if (pool_) pool_->Shutdown();
    pool_.reset();
  }
  static v1::Address Addr(char who) {
    v1::Address a;
    a.set_account_id(std::string(16, who));
    a.set_device_id(1);
    return a;
  }
  absl::StatusOr<v1::SendResponse> Send(char from, char to, std::string id = "") {
    if (id.empty()) id = std::string(16, static_cast<char>('0' + (next_id_++ % 64)));
    v1::SendRequest r;
    r.set_version(1);
    r.set_message_id(id);
    *r.mutable_recipient() = Addr(to);
    r.set_type(v1::ENVELOPE_TYPE_MESSAGE);
    r.set_payload("ciphertext");
    std::latch done(1);
    absl::StatusOr<v1::SendResponse> out;
    mailbox_->Send(Addr(from), r, [&](absl::StatusOr<v1::SendResponse> got) {
      out = std::move(got);
      done.count_down();
    });
    done.wait();
    return out;
  }
  std::vector<v1::Envelope> ReadAll(char who) {
    uint64_t scanned = 0;
    uint64_t upto = *mailbox_->Deliverable(Addr(who));
    return *mailbox_->Read(Addr(who), 0, upto, 1000, &scanned);
  }

  TempDb t_;
  ManualClock clock_;
  Limits limits_;
  Metrics metrics_;
  std::unique_ptr<CommitPool> pool_;
  std::unique_ptr<Mailbox> mailbox_;
  int next_id_ = 0;
};

TEST_F(MailboxTest, SequencesGrowAndReadReturnsThemInOrder) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Send('a', 't')->sequence(), static_cast<uint64_t>(i + 1));
  std::vector<v1::Envelope> got = ReadAll('t');
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].sequence(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(got[i].sender().account_id(),
              std::string(16, 'a'));  // from the caller, not the request
  }
}

TEST_F(MailboxTest, AckDeletesOnlyWhatIsNamedAndCountsIt) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Send('a', 't').ok());
  google::protobuf::RepeatedField<uint64_t> seqs;
  seqs.Add(2);
  seqs.Add(2);
  seqs.Add(99);
  EXPECT_EQ(*mailbox_->Ack(Addr('t'), seqs), 1u);
  std::vector<v1::Envelope> got = ReadAll('t');
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].sequence(), 1u);
  EXPECT_EQ(got[1].sequence(), 3u);
}

TEST_F(MailboxTest, SharesAndTotalCapAreEnforcedAndSurviveAReopen) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Send('a', 't').ok());
  EXPECT_EQ(Send('a', 't').status().code(), absl::StatusCode::kResourceExhausted);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Send('b', 't').ok());
  ASSERT_TRUE(Send('c', 't').ok());
  ASSERT_TRUE(Send('c', 't').ok());
  // Total cap (10) reached although 'd' has its whole share.
  EXPECT_EQ(Send('d', 't').status().code(), absl::StatusCode::kResourceExhausted);
  Close();
  t_.owned().reset();
  Open();
  EXPECT_EQ(Send('a', 't').status().code(), absl::StatusCode::kResourceExhausted);
  google::protobuf::RepeatedField<uint64_t> seqs;
  seqs.Add(1);
  ASSERT_EQ(*mailbox_->Ack(Addr('t'), seqs), 1u);  // one of 'a's
  EXPECT_TRUE(Send('a', 't').ok());
}

TEST_F(MailboxTest, RetentionSweepExpiresEnvelopesAndTheirShares) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Send('a', 't').ok());
  clock_.Advance(limits_.retention + absl::Minutes(1));
  EXPECT_EQ(*mailbox_->SweepExpired(), 4u);
  EXPECT_TRUE(ReadAll('t').empty());
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(Send('a', 't').ok());
}

TEST_F(MailboxTest, AResendOfAKnownIdStoresNothingEvenAfterTheAck) {
  const std::string id(16, 'M');
  absl::StatusOr<v1::SendResponse> first = Send('a', 't', id);
  ASSERT_TRUE(first.ok());
  google::protobuf::RepeatedField<uint64_t> seqs;
  seqs.Add(first->sequence());
  ASSERT_EQ(*mailbox_->Ack(Addr('t'), seqs), 1u);
  absl::StatusOr<v1::SendResponse> again = Send('a', 't', id);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate());
  EXPECT_TRUE(ReadAll('t').empty());
}

TEST_F(MailboxTest, NoSendRacingAnErasureOutlivesIt) {
  // A send reserved before CloseAndErase may be written after the erasure's batch: it must not
  // stay behind in the erased mailbox, nor be reported as stored.
  for (int round = 0; round < 5; ++round) {
    const char who = static_cast<char>('A' + round);
    std::atomic<bool> stop{false};
    std::atomic<int> stored{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < 3; ++t) {
      senders.emplace_back([&, t] {
        for (int i = 0; !stop.load(); ++i) {
          std::string id = std::to_string(round * 1'000'000 + t * 100'000 + i);
          id.resize(16, '.');
          absl::StatusOr<v1::SendResponse> sent = Send(static_cast<char>('a' + t), who, id);
          if (sent.ok()) ++stored;
          if (sent.status().code() == absl::StatusCode::kNotFound) return;  // refused from now on
        }
      });
    }
    while (stored.load() < 3) std::this_thread::yield();
    KvBatch batch;
    ASSERT_TRUE(mailbox_
                    ->CloseAndErase(std::string(16, who), {1},
                                    absl::UnauthenticatedError("account closed"), &batch)
                    .ok());
    ASSERT_TRUE(t_.db()->Write(&batch, /*sync=*/true).ok());
    stop = true;
    for (auto& t : senders) t.join();
    EXPECT_TRUE(ReadAll(who).empty());
    std::string mailbox(16, who);
    mailbox.append("\0\0\0\1", 4);
    size_t left = 0;
    std::unique_ptr<KvIterator> it = t_.db()->NewIterator(Cf::kMailbox);
    for (it->Seek(mailbox); it->Valid() && it->key().starts_with(mailbox); it->Next()) {
      if (it->key().size() == mailbox.size() + 8) ++left;  // an envelope
    }
    EXPECT_EQ(left, 0u) << "round " << round;
    EXPECT_EQ(Send('z', who).status().code(), absl::StatusCode::kNotFound);
  }
  // The erasure outlives a restart: the mailboxes stay closed.
  Close();
  t_.owned().reset();
  Open();
  EXPECT_EQ(Send('z', 'A').status().code(), absl::StatusCode::kNotFound);
}

TEST_F(MailboxTest, AnErasureThatWasNotWrittenIsUndoneByReopen) {
  ASSERT_TRUE(Send('a', 't').ok());
  KvBatch batch;
  ASSERT_TRUE(mailbox_
                  ->CloseAndErase(std::string(16, 't'), {1},
                                  absl::UnauthenticatedError("device removed"), &batch)
                  .ok());
  EXPECT_EQ(Send('a', 't').status().code(), absl::StatusCode::kNotFound);
  // The batch is dropped (its write conflicted, say): the mailbox is as it was.
  mailbox_->Reopen(std::string(16, 't'), {1});
  EXPECT_TRUE(Send('a', 't').ok());
  EXPECT_EQ(ReadAll('t').size(), 2u);
  // Its counts too: the sender's share still counts both.
  EXPECT_TRUE(Send('a', 't').ok());
  EXPECT_TRUE(Send('a', 't').ok());
  EXPECT_EQ(Send('a', 't').status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(AccountDevicesTest, ANewAccountHasDeviceOneAndTheNextIdIsTwo) {
  AccountRecord account;
  AddFirstDevice(&account, 1'700'000'000);
  EXPECT_EQ(ActiveDeviceIds(account), std::vector<uint32_t>{1});
  EXPECT_EQ(account.next_device_id(), 2u);
  EXPECT_EQ(account.devices(0).added_at(), 1'700'000'000u);
  EXPECT_TRUE(HasDevice(account, 1));
  EXPECT_FALSE(HasDevice(account, 0));
  EXPECT_FALSE(HasDevice(account, 2));
}

TEST(AccountDevicesTest, ASchemaOneRecordBecomesItsDeviceListOnce) {
  AccountRecord account;
  account.set_device_count(1);
  account.set_created_at(1'600'000'000);
  EXPECT_FALSE(HasDevice(account, 1)) << "nothing reads device_count after the migration";
  ASSERT_TRUE(UpgradeDevicesToSchema2(&account));
  EXPECT_EQ(ActiveDeviceIds(account), std::vector<uint32_t>{1});
  EXPECT_EQ(account.devices(0).added_at(), 1'600'000'000u);
  EXPECT_EQ(account.next_device_id(), 2u);
  EXPECT_EQ(account.device_count(), 0u);
  EXPECT_FALSE(UpgradeDevicesToSchema2(&account)) << "a second run changes nothing";
  EXPECT_EQ(account.devices_size(), 1);
}

TEST(AccountDevicesTest, ARemovedDeviceIsGoneFromEveryCheck) {
  AccountRecord account;
  AddFirstDevice(&account, 1);
  DeviceRecord* laptop = account.add_devices();
  laptop->set_device_id(3);
  account.set_next_device_id(4);
  EXPECT_EQ(ActiveDeviceIds(account), (std::vector<uint32_t>{1, 3}));
  EXPECT_FALSE(HasDevice(account, 2)) << "ids are not a range";
  account.mutable_devices()->erase(account.mutable_devices()->begin());
  EXPECT_FALSE(HasDevice(account, 1));
  EXPECT_EQ(ActiveDeviceIds(account), std::vector<uint32_t>{3});
}

}  // namespace
}  // namespace alliance::server

// Several relay processes on one PostgreSQL database (issue 15). In process: two relays on the
// same database, each with its own port, clock and memory, so whatever they agree on goes
// through the database: live delivery across nodes, one-time prekeys handed out once, an
// invite redeemed once, a login nonce used once, one audit chain. The real binary: two nodes,
// one killed again and again while clients send and receive through whichever answers.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sodium.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/commit_pool.h"
#include "server/infra/storage.h"
#include "server/store/audit_log.h"
#include "server/store/blob_store.h"
#include "server/store/devices.h"
#include "server/store/mailbox.h"
#include "server/store/prekey_store.h"
#include "gtest/gtest.h"
#include "tests/server/relay_harness.h"

namespace alliance::server::testing {
namespace {

Limits Generous() {
  Limits l;
  l.send_burst = 100'000;
  l.send_rate_per_second = 100'000;
  l.prekey_fetch_burst = 1'000;
  l.prekey_fetches_per_hour = 100'000;
  l.challenge_burst = 1'000;
  return l;
}

class TwoNodesTest : public ::testing::Test {
 protected:
  TwoNodesTest() : a_(Generous(), RelayHarness::Storage::kPostgres) {
    b_ = RelayHarness::SecondNode(a_, Generous());
    admin_ = a_.NewAdmin();
    therapist_ = a_.Invite(admin_, v1::ROLE_THERAPIST);
    client_ = a_.Invite(therapist_, v1::ROLE_CLIENT);
  }

  RelayHarness a_;
  std::unique_ptr<RelayHarness> b_;
  TestAccount admin_, therapist_, client_;
};

TEST_F(TwoNodesTest, ASessionFromOneNodeWorksOnTheOther) {
  // Tokens live in the database: a client may reconnect to any node.
  v1::GetPreKeyStatusResponse status;
  EXPECT_TRUE(b_->keys().GetPreKeyStatus(b_->Ctx(client_).get(), {}, &status).ok());
}

TEST_F(TwoNodesTest, WhatOneNodeStoresStreamsAtOnceFromTheOtherInOrder) {
  std::vector<TestAccount> senders;
  for (int i = 0; i < 4; ++i) senders.push_back(a_.Invite(therapist_, v1::ROLE_CLIENT));
  auto ctx = b_->Ctx(therapist_);
  auto reader = b_->relay_stub().Receive(ctx.get(), v1::ReceiveRequest());
  v1::ReceiveResponse response;
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_TRUE(response.backlog_complete());

  // Half the senders through each node, all to the therapist's one mailbox at once.
  constexpr int kPerSender = 25;
  std::vector<std::thread> threads;
  for (int s = 0; s < 4; ++s) {
    threads.emplace_back([&, s] {
      RelayHarness& via = s % 2 == 0 ? a_ : *b_;
      for (int i = 0; i < kPerSender; ++i) {
        ASSERT_TRUE(via.Send(senders[s], therapist_, std::to_string(i)).ok());
      }
    });
  }
  std::map<std::string, std::vector<int>> by_sender;
  uint64_t last = 0;
  for (int n = 0; n < 4 * kPerSender; ++n) {
    ASSERT_TRUE(reader->Read(&response));
    EXPECT_EQ(response.envelope().sequence(), last + 1) << "no gap, no reordering";
    last = response.envelope().sequence();
    by_sender[response.envelope().sender().account_id()].push_back(
        std::stoi(response.envelope().payload()));
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(by_sender.size(), 4u);
  for (const auto& [sender, payloads] : by_sender) {
    ASSERT_EQ(payloads.size(), static_cast<size_t>(kPerSender));
    for (int i = 0; i < kPerSender; ++i) EXPECT_EQ(payloads[i], i);
  }

  // A single message to an idle stream arrives by notification, well before the listener's
  // periodic wake-up of every stream (5 s).
  const auto sent_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(a_.Send(client_, therapist_, "notified").ok());
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.envelope().payload(), "notified");
  EXPECT_LT(std::chrono::steady_clock::now() - sent_at, std::chrono::seconds(4));
  ctx->TryCancel();
  (void)reader->Finish();
}

TEST_F(TwoNodesTest, DeactivationThroughOneNodeEndsTheStreamOnTheOther) {
  auto ctx = b_->Ctx(client_);
  auto reader = b_->relay_stub().Receive(ctx.get(), v1::ReceiveRequest());
  v1::ReceiveResponse response;
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_TRUE(response.backlog_complete());
  v1::DeactivateAccountRequest request;
  request.set_account_id(client_.account_id);
  v1::DeactivateAccountResponse deactivated;
  ASSERT_TRUE(a_.clinic().DeactivateAccount(a_.Ctx(admin_).get(), request, &deactivated).ok());
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // And node b refuses to store for it, whatever its own memory said before.
  EXPECT_FALSE(b_->Send(therapist_, client_, "too late").ok());
}

TEST_F(TwoNodesTest, ARetriedSendThroughTheOtherNodeIsStoredOnce) {
  const std::string id = NewMessageId();
  v1::SendResponse first, second;
  ASSERT_TRUE(a_.Send(client_, therapist_, "once", &first, id).ok());
  ASSERT_TRUE(b_->Send(client_, therapist_, "once", &second, id).ok());
  EXPECT_FALSE(first.duplicate());
  EXPECT_TRUE(second.duplicate());
  EXPECT_EQ(second.sequence(), first.sequence());
  EXPECT_EQ(b_->ReadBacklog(therapist_).size(), 1u);
}

TEST_F(TwoNodesTest, ConcurrentPreKeyFetchesThroughBothNodesNeverHandOutAKeyTwice) {
  constexpr int kKeys = 60;
  v1::PublishPreKeysRequest publish;
  *publish.mutable_signed_prekey() = MakeSignedPreKey(therapist_, 7);
  for (int i = 0; i < kKeys; ++i) {
    v1::OneTimePreKey* k = publish.add_one_time_prekeys();
    k->set_id(1000 + i);
    std::string pub(32, '\0');
    randombytes_buf(pub.data(), pub.size());
    k->set_public_key(pub);
  }
  v1::PublishPreKeysResponse published;
  ASSERT_TRUE(a_.keys().PublishPreKeys(a_.Ctx(therapist_).get(), publish, &published).ok());
  std::vector<TestAccount> fetchers;
  for (int i = 0; i < 6; ++i) fetchers.push_back(a_.Invite(therapist_, v1::ROLE_CLIENT));

  std::mutex mu;
  std::multiset<uint32_t> handed_out;
  std::atomic<int> without_key{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      RelayHarness& via = t % 2 == 0 ? a_ : *b_;
      for (int i = 0; i < kKeys / 4; ++i) {
        v1::FetchPreKeyBundleRequest request;
        *request.mutable_address() = therapist_.address();
        v1::FetchPreKeyBundleResponse response;
        grpc::Status s = via.keys().FetchPreKeyBundle(via.Ctx(fetchers[t]).get(), request, &response);
        ASSERT_TRUE(s.ok()) << s.error_message();
        if (!response.bundle().has_one_time_prekey()) {
          ++without_key;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        handed_out.insert(response.bundle().one_time_prekey().id());
      }
    });
  }
  for (auto& t : threads) t.join();
  // 6 x 15 = 90 fetches of 60 keys: every key once, then bundles without one.
  EXPECT_EQ(handed_out.size(), static_cast<size_t>(kKeys));
  EXPECT_EQ(std::set<uint32_t>(handed_out.begin(), handed_out.end()).size(), handed_out.size())
      << "a one-time prekey was handed out twice";
  EXPECT_EQ(without_key.load(), 6 * (kKeys / 4) - kKeys);
  v1::GetPreKeyStatusResponse status;
  ASSERT_TRUE(b_->keys().GetPreKeyStatus(b_->Ctx(therapist_).get(), {}, &status).ok());
  EXPECT_EQ(status.one_time_prekey_count(), 0u);
}

TEST_F(TwoNodesTest, AnInviteRedeemedThroughBothNodesAtOnceSucceedsOnce) {
  for (int round = 0; round < 8; ++round) {
    std::string code;
    ASSERT_TRUE(a_.CreateInvite(therapist_, v1::ROLE_CLIENT, &code).ok());
    TestAccount x = NewIdentity(), y = NewIdentity();
    std::barrier start(2);
    grpc::Status on_a, on_b;
    std::thread ta([&] {
      start.arrive_and_wait();
      on_a = a_.Register(code, &x);
    });
    std::thread tb([&] {
      start.arrive_and_wait();
      on_b = b_->Register(code, &y);
    });
    ta.join();
    tb.join();
    EXPECT_EQ(on_a.ok() + on_b.ok(), 1) << "round " << round << ": " << on_a.error_message()
                                        << " / " << on_b.error_message();
    const grpc::Status& lost = on_a.ok() ? on_b : on_a;
    EXPECT_EQ(lost.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << lost.error_message();
  }
}

TEST_F(TwoNodesTest, ALoginChallengeFromOneNodeIsAnsweredOnTheOtherOnce) {
  v1::ChallengeResponse challenge;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(a_.accounts().Challenge(&ctx, v1::ChallengeRequest(), &challenge).ok());
  }
  v1::LoginRequest request;
  *request.mutable_address() = client_.address();
  request.set_nonce(challenge.nonce());
  request.set_expires_at(challenge.expires_at());
  std::string message = "alliance/v1/login" + challenge.relay_id() + challenge.nonce();
  base::AppendU64BE(&message, challenge.expires_at());
  request.set_signature(Sign(client_, message));
  v1::LoginResponse response;
  {
    grpc::ClientContext ctx;
    grpc::Status s = b_->accounts().Login(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // The same signed login replayed, through either node.
  for (RelayHarness* via : {&a_, b_.get()}) {
    grpc::ClientContext ctx;
    EXPECT_EQ(via->accounts().Login(&ctx, request, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
}

TEST_F(TwoNodesTest, TheAuditLogStaysOneChainWithWritersOnBothNodes) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      RelayHarness& via = t % 2 == 0 ? a_ : *b_;
      TestAccount me = t < 2 ? client_ : therapist_;
      for (int i = 0; i < 10; ++i) ok += via.Login(&me).ok();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
  absl::StatusOr<std::string> checked = RelayServer::Check(a_.options());
  ASSERT_TRUE(checked.ok()) << checked.status();
  v1::ReadAuditRequest read;
  read.set_limit(1000);
  v1::ReadAuditResponse audit;
  ASSERT_TRUE(b_->clinic().ReadAudit(b_->Ctx(admin_).get(), read, &audit).ok());
  int logins = 0;
  for (int i = 0; i < audit.entries_size(); ++i) {
    EXPECT_EQ(audit.entries(i).sequence(), static_cast<uint64_t>(i + 1));
    logins += audit.entries(i).event() == v1::AUDIT_EVENT_LOGIN_OK;
  }
  EXPECT_GE(logins, 40);
}

TEST_F(TwoNodesTest, TheSweepRunsOnOneNodeAtATime) {
  ASSERT_TRUE(a_.Send(client_, therapist_, "old").ok());
  // Both clocks past the retention period; both nodes asked to sweep, skipping when another
  // swept within the hour: the envelope is removed once and the depth counted once.
  a_.clock().Advance(absl::Hours(24 * 400));
  b_->clock().Advance(absl::Hours(24 * 400));
  absl::StatusOr<uint64_t> first = a_.relay().SweepNow(absl::Hours(1));
  absl::StatusOr<uint64_t> second = b_->relay().SweepNow(absl::Hours(1));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first + *second, 1u);
  EXPECT_EQ(*second, 0u) << "the other node had swept within the period";
  // The therapist's mailbox counts nothing: a new send is the only envelope. (The sessions
  // expired with the clock.)
  ASSERT_TRUE(b_->Login(&client_).ok());
  ASSERT_TRUE(b_->Login(&therapist_).ok());
  ASSERT_TRUE(b_->Send(client_, therapist_, "new").ok());
  std::vector<v1::Envelope> backlog = a_.ReadBacklog(therapist_);
  ASSERT_EQ(backlog.size(), 1u);
  EXPECT_EQ(backlog[0].payload(), "new");
}

// ---------------------------------------------------------------------------------------------
// Two processes' mailboxes on one database with no notification between them (as when the
// erasure's notice is still on its way): what the database alone guarantees when one process
// erases a mailbox (a device removed, an account closed) while the other sends to it.

class ErasureRaceTest : public ::testing::Test {
 protected:
  ErasureRaceTest() : clock_(absl::Now()) {
    EXPECT_GE(sodium_init(), 0);
    options_.storage = "postgres";
    options_.database_url = NewTestDatabaseUrl();
    absl::StatusOr<std::unique_ptr<RelayDb>> a = OpenStorage(options_, StorageMode::kCreate);
    absl::StatusOr<std::unique_ptr<RelayDb>> b = OpenStorage(options_, StorageMode::kServe);
    EXPECT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
    if (!a.ok() || !b.ok()) return;
    for (auto* db : {&*a, &*b}) {
      Node& n = nodes_.emplace_back();
      n.db = std::move(*db);
      n.pool = std::make_unique<CommitPool>(n.db.get(), 4);
      n.mailbox = std::make_unique<Mailbox>(n.db.get(), n.pool.get(), &clock_, Limits(), &metrics_);
      absl::StatusOr<std::unique_ptr<AuditLog>> audit = AuditLog::Open(n.db.get(), &clock_);
      EXPECT_TRUE(audit.ok()) << audit.status();
      if (!audit.ok()) return;
      n.audit = *std::move(audit);
      n.prekeys = std::make_unique<PreKeyStore>(n.db.get(), n.audit.get(), Limits(), &metrics_);
      n.blobs = std::make_unique<BlobStore>(n.db.get(), &clock_, Limits());
    }
  }
  ~ErasureRaceTest() override {
    for (Node& n : nodes_) {
      n.mailbox.reset();
      n.pool->Shutdown();
      (void)n.db->Close();
    }
  }

  static v1::Address Addr(char who) {
    v1::Address a;
    a.set_account_id(std::string(16, who));
    a.set_device_id(1);
    return a;
  }
  absl::StatusOr<v1::SendResponse> Send(int node, char from, char to) {
    v1::SendRequest r;
    r.set_version(1);
    r.set_message_id(NewMessageId());
    *r.mutable_recipient() = Addr(to);
    r.set_type(v1::ENVELOPE_TYPE_MESSAGE);
    r.set_payload("ciphertext");
    std::promise<absl::StatusOr<v1::SendResponse>> sent;
    nodes_[node].mailbox->Send(Addr(from), r, [&](absl::StatusOr<v1::SendResponse> got) {
      sent.set_value(std::move(got));
    });
    return sent.get_future().get();
  }
  absl::Status Erase(int node, char who) {
    KvBatch batch;
    ALLIANCE_RETURN_IF_ERROR(nodes_[node].mailbox->CloseAndErase(
        Addr(who).account_id(), {1}, absl::UnauthenticatedError("account closed"), &batch));
    return nodes_[node].db->Write(&batch, /*sync=*/true);
  }
  // The envelopes stored in `who`'s mailbox, read straight from the database.
  size_t StoredEnvelopes(char who) {
    std::string mailbox = Addr(who).account_id();
    base::AppendU32BE(&mailbox, 1);
    std::unique_ptr<KvIterator> it = nodes_[0].db->NewIterator(Cf::kMailbox);
    size_t n = 0;
    for (it->Seek(mailbox); it->Valid() && it->key().starts_with(mailbox); it->Next()) {
      if (it->key().size() == mailbox.size() + 8) ++n;  // mailbox || u64 sequence
    }
    EXPECT_TRUE(it->status().ok()) << it->status();
    return n;
  }

  // An active account with device 1, written straight to the database; returns its bytes.
  std::string PutAccount(char who) {
    AccountRecord account;
    account.set_account_id(std::string(16, who));
    account.set_state(v1::ACCOUNT_STATE_ACTIVE);
    AddFirstDevice(&account, 1'700'000'000);
    KvBatch batch;
    batch.Put(Cf::kAccounts, account.account_id(), account.SerializeAsString());
    EXPECT_TRUE(nodes_[0].db->Write(&batch, /*sync=*/true).ok());
    return account.SerializeAsString();
  }
  // Closes the account through node 0 as EraseAccount does: its record (expected as read),
  // prekeys and uploads in one batch, then the uploads declared meanwhile.
  absl::Status CloseAccount(char who, std::string read) {
    Node& n = nodes_[0];
    const std::string id(16, who);
    base::MutexLock lock(&n.blobs->mutex());
    for (int attempt = 0;; ++attempt) {
      KvBatch batch;
      batch.Expect(Cf::kAccounts, id, read);
      batch.Delete(Cf::kAccounts, id);
      const uint32_t device = 1;
      n.prekeys->AddErase(id, {&device, 1}, &batch);
      ALLIANCE_RETURN_IF_ERROR(n.blobs->AddEraseUploads(id, &batch));
      absl::Status written = n.db->Write(&batch, /*sync=*/true);
      if (written.ok()) return n.blobs->EraseUploadsLeft(id);
      if (!IsWriteConflict(written) || attempt == 15) return written;
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> now, n.db->Get(Cf::kAccounts, id));
      if (!now.has_value()) return absl::InternalError("the account went elsewhere");
      read = *now;
    }
  }
  size_t KeysWithPrefix(Cf cf, const std::string& prefix) {
    std::unique_ptr<KvIterator> it = nodes_[0].db->NewIterator(cf);
    size_t n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
    EXPECT_TRUE(it->status().ok()) << it->status();
    return n;
  }

  struct Node {
    std::unique_ptr<RelayDb> db;
    std::unique_ptr<CommitPool> pool;
    std::unique_ptr<Mailbox> mailbox;
    std::unique_ptr<AuditLog> audit;
    std::unique_ptr<PreKeyStore> prekeys;
    std::unique_ptr<BlobStore> blobs;
  };
  RelayOptions options_;
  ManualClock clock_;
  Metrics metrics_;
  std::vector<Node> nodes_;
};

TEST_F(ErasureRaceTest, ASendThroughAProcessThatHasNotHeardOfTheErasureStoresNothing) {
  ASSERT_EQ(nodes_.size(), 2u);
  // Node 1 has sent to the mailbox before: in its memory the mailbox is open.
  ASSERT_TRUE(Send(1, 's', 'r').ok());
  ASSERT_TRUE(Erase(0, 'r').ok());
  EXPECT_EQ(StoredEnvelopes('r'), 0u);
  absl::StatusOr<v1::SendResponse> late = Send(1, 's', 'r');
  EXPECT_EQ(late.status().code(), absl::StatusCode::kNotFound) << late.status();
  EXPECT_EQ(StoredEnvelopes('r'), 0u);
  // Nor does a process that never saw the mailbox, and the refusal is remembered.
  EXPECT_EQ(Send(0, 't', 'r').status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Send(1, 't', 'r').status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(StoredEnvelopes('r'), 0u);
}

TEST_F(ErasureRaceTest, NoSendRacingAnErasureOnAnotherProcessOutlivesIt) {
  ASSERT_EQ(nodes_.size(), 2u);
  for (int round = 0; round < 5; ++round) {
    const char who = static_cast<char>('A' + round);
    std::atomic<bool> stop{false};
    std::atomic<int> stored{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < 3; ++t) {
      senders.emplace_back([&, t] {
        while (!stop.load()) {
          absl::StatusOr<v1::SendResponse> sent = Send(1, static_cast<char>('a' + t), who);
          if (sent.ok()) {
            ++stored;
          } else if (sent.status().code() == absl::StatusCode::kNotFound) {
            return;  // erased: refused from now on
          }
        }
      });
    }
    while (stored.load() < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_TRUE(Erase(0, who).ok());
    stop = true;
    for (auto& t : senders) t.join();
    EXPECT_EQ(StoredEnvelopes(who), 0u) << "round " << round << ", " << stored.load() << " sent";
  }
}

TEST_F(ErasureRaceTest, NoPreKeysOrUploadsOfAnAccountClosedOnAnotherProcessSurviveIt) {
  // A device publishing prekeys and declaring uploads through node 1 while node 0 closes its
  // account: whatever node 1 had committed is erased, and nothing comes back after.
  ASSERT_EQ(nodes_.size(), 2u);
  for (int round = 0; round < 4; ++round) {
    const char who = static_cast<char>('P' + round);
    const std::string read = PutAccount(who);
    v1::Address owner;
    owner.set_account_id(std::string(16, who));
    owner.set_device_id(1);
    std::atomic<int> published{0}, declared{0};
    std::atomic<bool> stop{false};
    std::thread publisher([&] {
      for (uint32_t id = 1; !stop.load(); ++id) {
        v1::PublishPreKeysRequest request;
        v1::OneTimePreKey* k = request.add_one_time_prekeys();
        k->set_id(id);
        k->set_public_key(std::string(32, static_cast<char>(id)));
        absl::StatusOr<v1::PublishPreKeysResponse> r =
            nodes_[1].prekeys->Publish(owner, "", "", request);
        if (r.ok()) ++published;
        if (r.status().code() == absl::StatusCode::kUnauthenticated) return;
      }
    });
    std::thread uploader([&] {
      while (!stop.load()) {
        BlobStore::Declaration d;
        d.blob_id = NewMessageId();
        d.uploader_account = owner.account_id();
        d.uploader_device = 1;
        d.size = 100;
        absl::StatusOr<BlobRecord> r = nodes_[1].blobs->Begin(d);
        if (r.ok()) ++declared;
        if (r.status().code() == absl::StatusCode::kUnauthenticated) return;
      }
    });
    while (published.load() < 3 || declared.load() < 3) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const absl::Status closed = CloseAccount(who, read);
    stop = true;
    publisher.join();
    uploader.join();
    ASSERT_TRUE(closed.ok()) << closed;
    std::string device = owner.account_id();
    base::AppendU32BE(&device, 1);
    EXPECT_EQ(KeysWithPrefix(Cf::kOneTime, device), 0u) << "round " << round;
    EXPECT_EQ(KeysWithPrefix(Cf::kIdentity, "s" + device), 0u) << "round " << round;
    EXPECT_EQ(KeysWithPrefix(Cf::kBlobs, "o" + owner.account_id()), 0u) << "round " << round;
    EXPECT_EQ(KeysWithPrefix(Cf::kBlobs, "u" + owner.account_id()), 0u) << "round " << round;
  }
}

TEST_F(ErasureRaceTest, PreKeysSignedForAnotherKeyThanTheDevicesOwnAreRefused) {
  // Checked against the key Authenticate saw; the device got its own key since (through
  // another process): nothing is stored.
  ASSERT_EQ(nodes_.size(), 2u);
  AccountRecord account;
  account.set_account_id(std::string(16, 'K'));
  account.set_state(v1::ACCOUNT_STATE_ACTIVE);
  AddFirstDevice(&account, 1'700'000'000);
  account.mutable_devices(0)->set_device_key(std::string(32, 'k'));
  KvBatch batch;
  batch.Put(Cf::kAccounts, account.account_id(), account.SerializeAsString());
  ASSERT_TRUE(nodes_[0].db->Write(&batch, /*sync=*/true).ok());
  v1::Address owner;
  owner.set_account_id(account.account_id());
  owner.set_device_id(1);
  v1::PublishPreKeysRequest request;
  v1::OneTimePreKey* k = request.add_one_time_prekeys();
  k->set_id(1);
  k->set_public_key(std::string(32, 'p'));
  EXPECT_EQ(nodes_[1].prekeys->Publish(owner, "", "", request).status().code(),
            absl::StatusCode::kUnauthenticated);
  std::string device = owner.account_id();
  base::AppendU32BE(&device, 1);
  EXPECT_EQ(KeysWithPrefix(Cf::kOneTime, device), 0u);
  EXPECT_TRUE(nodes_[1].prekeys->Publish(owner, "", std::string(32, 'k'), request).ok());
}

// ---------------------------------------------------------------------------------------------
// The real binary: two relay processes on one database, one of them SIGKILLed at random moments
// and restarted, clients failing over to whichever answers.

const std::string kBinary = std::string(ALLIANCE_BINARY_DIR) + "/server/alliance-relay";

int FreePort() {
  // Bind port 0, read the port, release it: the relay binds it a moment later.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class Node {
 public:
  Node(std::string url, int port, std::string log) : url_(std::move(url)), port_(port), log_(std::move(log)) {}
  ~Node() { Kill(); }

  // Starts serve and waits for its "listening" line.
  bool Start() {
    int fds[2];
    if (pipe(fds) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      const std::string listen = "127.0.0.1:" + std::to_string(port_);
      execl(kBinary.c_str(), kBinary.c_str(), "serve", "--storage", "postgres", "--database-url",
            url_.c_str(), "--listen", listen.c_str(), "--metrics-listen", "", "--log-file",
            log_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    std::string line;
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    close(fds[0]);
    return line.find("listening on port") != std::string::npos;
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  const std::string url_;
  const int port_;
  const std::string log_;
  pid_t pid_ = -1;
};

TEST(TwoNodeKillTest, EverySendThatReturnedOkIsDeliveredExactlyOnceWhileANodeIsKilled) {
  const std::string url = NewTestDatabaseUrl();
  auto [code, out] = RunCommand(kBinary + " init --storage postgres --database-url '" + url + "'");
  ASSERT_EQ(code, 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("\n([0-9a-f]{32})\n"))) << out;
  const std::string bootstrap = *base::FromHex(m[1].str());
  auto [id_code, id_out] = RunCommand(kBinary + " check --storage postgres --database-url '" + url + "'");
  ASSERT_EQ(id_code, 0) << id_out;
  std::smatch idm;
  ASSERT_TRUE(std::regex_search(id_out, idm, std::regex("relay id ([0-9a-f]{32})"))) << id_out;
  const std::string relay_id = *base::FromHex(idm[1].str());

  const std::string dir = std::filesystem::temp_directory_path() / ("alliance-2node-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  Node a(url, FreePort(), dir + "/a.log"), b(url, FreePort(), dir + "/b.log");
  ASSERT_TRUE(a.Start());
  ASSERT_TRUE(b.Start());

  // Accounts, through node b (which is never killed while they are made).
  auto setup = RelayHarness::ClientOf(b.target(), relay_id, bootstrap);
  TestAccount admin = setup->NewAdmin();
  TestAccount therapist = setup->Invite(admin, v1::ROLE_THERAPIST);
  constexpr int kSenders = 3;
  std::vector<TestAccount> senders;
  for (int i = 0; i < kSenders; ++i) senders.push_back(setup->Invite(therapist, v1::ROLE_CLIENT));

  // Two clients per account, one for each node: a call that fails on one is retried on the
  // other with the same message id.
  auto via_a = RelayHarness::ClientOf(a.target(), relay_id, bootstrap);
  auto via_b = RelayHarness::ClientOf(b.target(), relay_id, bootstrap);
  RelayHarness* nodes[2] = {via_a.get(), via_b.get()};

  std::atomic<bool> sending{true};
  std::mutex mu;
  std::set<std::string> confirmed;  // message ids whose Send returned OK
  std::vector<std::thread> threads;
  // Each sender sends until node a has been killed kKills times (and at least kAtLeast).
  constexpr int kKills = 6;
  constexpr int kAtLeast = 40;
  std::atomic<int> kills{0};
  std::atomic<int> sent{0};
  for (int s = 0; s < kSenders; ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < kAtLeast || kills < kKills; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        ++sent;
        const std::string id = NewMessageId();
        for (int attempt = 0; attempt < 200; ++attempt) {
          RelayHarness* via = nodes[(i + attempt + s) % 2];
          grpc::Status st = via->Send(senders[s], therapist, base::ToHex(id), nullptr, id);
          if (st.ok()) {
            std::lock_guard<std::mutex> lock(mu);
            confirmed.insert(id);
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    });
  }
  // The killer: node a dies and comes back, at random moments.
  std::thread killer([&] {
    std::mt19937 rng(static_cast<unsigned>(getpid()));
    while (sending) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
      a.Kill();
      ++kills;
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
      if (!a.Start()) ADD_FAILURE() << "node a did not restart";
    }
  });

  // The receiver: streams from node b then a, alternating on every failure; acks what it got.
  std::set<std::string> received;
  uint64_t deliveries = 0;
  auto receive_until = [&](auto done) {
    for (int round = 0; !done() && round < 2000; ++round) {
      RelayHarness* via = nodes[(round + 1) % 2];
      auto ctx = via->Ctx(therapist);
      ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
      auto reader = via->relay_stub().Receive(ctx.get(), v1::ReceiveRequest());
      v1::ReceiveResponse response;
      std::vector<uint64_t> to_ack;
      while (reader->Read(&response)) {
        if (response.has_envelope()) {
          ++deliveries;
          received.insert(response.envelope().message_id());
          to_ack.push_back(response.envelope().sequence());
        }
        if (to_ack.size() >= 10 || (response.backlog_complete() && !to_ack.empty())) {
          (void)via->Ack(therapist, to_ack);  // a lost ack only redelivers
          to_ack.clear();
        }
        if (done()) break;
      }
      if (!to_ack.empty()) (void)via->Ack(therapist, to_ack);
      ctx->TryCancel();
      (void)reader->Finish();
    }
  };
  std::thread receiver([&] {
    receive_until([&] {
      std::lock_guard<std::mutex> lock(mu);
      return !sending && std::includes(received.begin(), received.end(), confirmed.begin(),
                                       confirmed.end());
    });
  });
  for (auto& t : threads) t.join();
  sending = false;
  killer.join();
  receiver.join();

  EXPECT_GE(kills.load(), kKills);
  EXPECT_EQ(confirmed.size(), static_cast<size_t>(sent.load()))
      << "every send eventually went through one node or the other";
  for (const std::string& id : confirmed) {
    EXPECT_TRUE(received.contains(id)) << "confirmed but never delivered: " << base::ToHex(id);
  }
  // Exactly once after deduplication by message id: nothing delivered that was not sent.
  for (const std::string& id : received) EXPECT_TRUE(confirmed.contains(id));
  std::printf("%zu confirmed sends, %llu deliveries before deduplication, node a killed %d times\n",
              confirmed.size(), static_cast<unsigned long long>(deliveries), kills.load());
  a.Kill();
  b.Kill();
  auto [check_code, check_out] =
      RunCommand(kBinary + " check --storage postgres --database-url '" + url + "'");
  EXPECT_EQ(check_code, 0) << check_out;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace alliance::server::testing

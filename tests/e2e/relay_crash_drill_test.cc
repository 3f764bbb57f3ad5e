// Crash drill for the relay (issue 11): the real `alliance-relay serve` is SIGKILLed at random
// moments while senders and receivers speak the real protocol to it, and restarted each time.
// Senders retry a failed Send with the same message id, as clients do; receivers record what
// they get before acking it and drop redeliveries by message id. At the end every Send that
// returned OK must have been delivered (DESIGN §2 invariant 5), once after that dedup, and
// `alliance-relay check` must pass on the database.
//
// Environment (the long version, deploy/soak.sh, sets them):
//   ALLIANCE_CRASH_SEED   PRNG seed for the kill moments (default: random, printed)
//   ALLIANCE_CRASH_KILLS  number of SIGKILLs (default 20)
//   ALLIANCE_CRASH_PAIRS  therapist-client pairs; each sends both ways (default 3)
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_fixture.h"
#include "tests/e2e/wire_client.h"

namespace alliance::e2e {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  uint64_t out = 0;
  if (v != nullptr && absl::SimpleAtoi(v, &out)) return out;
  return fallback;
}

// Transient answers while the relay is down, restarting, or pacing us: retry the same id.
bool Retryable(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:             // same id still in flight from a lost attempt
    case grpc::StatusCode::RESOURCE_EXHAUSTED:  // rate or per-sender share
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:  // a connection torn mid-call can surface as these
      return true;
    default:
      return false;
  }
}

// One direction of one pair: a sender account and the recipient whose mailbox a receiver
// thread drains.
struct Lane {
  WireAccount from;
  WireAccount to;
  std::string name;

  // Written by the sender thread.
  std::mutex mu;
  std::set<std::string> ok_ids;       // Send returned OK (acknowledged by the relay)
  std::map<std::string, std::string> payload_of;  // every id ever attempted -> its payload
  uint64_t attempts = 0;
  uint64_t duplicate_answers = 0;  // OK with duplicate = true (a retry of a stored send)
  grpc::Status fatal;              // a non-retryable answer ends the lane

  // Written by the receiver thread.
  std::map<std::string, int> delivered;  // message id -> times received
  bool bad_payload = false;
};

class RelayCrashDrillTest : public E2eFixture {
 protected:
  void PrepareRelay() override {
    // Senders go as fast as the relay allows; the default rate limit (10/s) would turn the
    // drill into a test of the token bucket.
    const fs::path config = dir_ / "relay.toml";
    std::ofstream(config) << "[limits]\nsend_rate_per_second = 100000\nsend_burst = 100000\n";
    relay_flags_ = {"--config", config.string()};
  }
};

void RunSender(WireRelay* relay, Lane* lane, const std::atomic<bool>* stop) {
  for (uint64_t n = 0; !stop->load(); ++n) {
    const std::string id = RandomMessageId();
    const std::string payload = absl::StrCat(lane->name, " #", n);
    {
      std::lock_guard<std::mutex> lock(lane->mu);
      lane->payload_of[id] = payload;
    }
    // Once attempted, an id is retried until the relay says OK: a message the relay may have
    // stored must never be given up on (it would be delivered without an OK to compare with).
    while (true) {
      v1::SendResponse response;
      grpc::Status s =
          relay->Send(lane->from, lane->to.address(), id, payload, &response,
                      std::chrono::seconds(5));
      {
        std::lock_guard<std::mutex> lock(lane->mu);
        ++lane->attempts;
        if (s.ok()) {
          lane->ok_ids.insert(id);
          lane->duplicate_answers += response.duplicate();
        } else if (!Retryable(s)) {
          lane->fatal = s;
          return;
        }
      }
      if (s.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

// Drains `lane->to`'s mailbox until `done` says everything acknowledged has arrived.
void RunReceiver(WireRelay* relay, Lane* lane, const std::atomic<bool>* done,
                 std::mutex* ctx_mu, grpc::ClientContext** current) {
  while (!done->load()) {
    auto ctx = WireRelay::Context(lane->to, std::chrono::seconds(30));
    {
      std::lock_guard<std::mutex> lock(*ctx_mu);
      if (done->load()) break;
      *current = ctx.get();
    }
    auto reader = relay->relay().Receive(ctx.get(), v1::ReceiveRequest());
    v1::ReceiveResponse response;
    while (reader->Read(&response)) {
      if (!response.has_envelope()) continue;  // the backlog_complete marker
      const v1::Envelope& e = response.envelope();
      {
        // Recorded before the ack: an ack lost in a crash only means a redelivery.
        std::lock_guard<std::mutex> lock(lane->mu);
        ++lane->delivered[e.message_id()];
        auto it = lane->payload_of.find(e.message_id());
        if (it == lane->payload_of.end() || it->second != e.payload() ||
            e.sender().account_id() != lane->from.account_id) {
          lane->bad_payload = true;
        }
      }
      if (!relay->Ack(lane->to, e.sequence()).ok()) break;  // reconnect and redeliver
    }
    {
      std::lock_guard<std::mutex> lock(*ctx_mu);
      *current = nullptr;
    }
    ctx->TryCancel();
    (void)reader->Finish();
    if (!done->load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool AllArrived(std::vector<std::unique_ptr<Lane>>& lanes) {
  for (auto& lane : lanes) {
    std::lock_guard<std::mutex> lock(lane->mu);
    for (const std::string& id : lane->ok_ids) {
      if (!lane->delivered.contains(id)) return false;
    }
  }
  return true;
}

TEST_F(RelayCrashDrillTest, EverySendAcknowledgedIsDeliveredExactlyOnceAcrossSigkills) {
  const uint64_t seed = EnvOr("ALLIANCE_CRASH_SEED", std::random_device()());
  const uint64_t kills = EnvOr("ALLIANCE_CRASH_KILLS", 20);
  const uint64_t pairs = EnvOr("ALLIANCE_CRASH_PAIRS", 3);
  std::printf("relay crash drill: seed %" PRIu64 " (ALLIANCE_CRASH_SEED), %" PRIu64
              " kills, %" PRIu64 " pairs\n",
              seed, kills, pairs);
  std::fflush(stdout);
  std::mt19937_64 rng(seed);

  // A clinic: admin, then per pair a therapist and the client that therapist invites (the two
  // are linked, so each may send to the other).
  WireRelay relay(Address());
  WireAccount admin = WireAccount::Generate();
  const std::optional<std::string> bootstrap = base::FromHex(bootstrap_);
  ASSERT_TRUE(bootstrap.has_value());
  ASSERT_TRUE(relay.Register(*bootstrap, &admin).ok());
  ASSERT_TRUE(relay.Login(&admin).ok());
  std::vector<std::unique_ptr<Lane>> lanes;
  for (uint64_t p = 0; p < pairs; ++p) {
    WireAccount therapist = WireAccount::Generate();
    WireAccount client = WireAccount::Generate();
    std::string code;
    ASSERT_TRUE(relay.CreateInvite(admin, v1::ROLE_THERAPIST, &code).ok());
    ASSERT_TRUE(relay.Register(code, &therapist).ok());
    ASSERT_TRUE(relay.Login(&therapist).ok());
    ASSERT_TRUE(relay.CreateInvite(therapist, v1::ROLE_CLIENT, &code).ok());
    ASSERT_TRUE(relay.Register(code, &client).ok());
    ASSERT_TRUE(relay.Login(&client).ok());
    for (int dir = 0; dir < 2; ++dir) {
      auto lane = std::make_unique<Lane>();
      lane->from = dir == 0 ? therapist : client;
      lane->to = dir == 0 ? client : therapist;
      lane->name = absl::StrCat(dir == 0 ? "therapist " : "client ", p);
      lanes.push_back(std::move(lane));
    }
  }

  std::atomic<bool> stop_sending{false};
  std::atomic<bool> stop_receiving{false};
  std::mutex ctx_mu;
  std::vector<grpc::ClientContext*> streams(lanes.size(), nullptr);
  std::vector<std::thread> senders;
  std::vector<std::thread> receivers;
  for (size_t i = 0; i < lanes.size(); ++i) {
    senders.emplace_back(RunSender, &relay, lanes[i].get(), &stop_sending);
    receivers.emplace_back(RunReceiver, &relay, lanes[i].get(), &stop_receiving, &ctx_mu,
                           &streams[i]);
  }

  // The kills: at a random moment after each start, so some land during recovery, some in
  // the middle of group commits, some between a write and its answer.
  std::uniform_int_distribution<int> pause_ms(0, 700);
  for (uint64_t k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    relay_->Stop(SIGKILL);
    StartRelay();
    if (HasFatalFailure()) break;
  }
  // A little traffic on the last incarnation too, then let every sender finish the message
  // it holds (each retries until OK) and the receivers catch up.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop_sending = true;
  for (auto& t : senders) t.join();
  // Safety net only: the receivers normally finish in well under a second.
  for (int i = 0; i < 3000 && !AllArrived(lanes); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard<std::mutex> lock(ctx_mu);
    stop_receiving = true;
    for (grpc::ClientContext* c : streams) {
      if (c != nullptr) c->TryCancel();
    }
  }
  for (auto& t : receivers) t.join();

  uint64_t sent = 0, attempts = 0, acknowledged = 0, delivered = 0, duplicates = 0, lost = 0,
           unacknowledged_delivered = 0, duplicate_answers = 0;
  for (auto& lane : lanes) {
    EXPECT_TRUE(lane->fatal.ok()) << lane->name << ": " << lane->fatal.error_message();
    EXPECT_FALSE(lane->bad_payload) << lane->name;
    sent += lane->payload_of.size();
    attempts += lane->attempts;
    acknowledged += lane->ok_ids.size();
    duplicate_answers += lane->duplicate_answers;
    for (const auto& [id, times] : lane->delivered) {
      ++delivered;
      duplicates += times - 1;
      if (!lane->ok_ids.contains(id)) ++unacknowledged_delivered;
    }
    for (const std::string& id : lane->ok_ids) lost += !lane->delivered.contains(id);
  }
  std::printf(
      "relay crash drill: kills %" PRIu64 ", sent %" PRIu64 " (attempts %" PRIu64
      "), acknowledged (OK) %" PRIu64 " (of which answered as duplicate %" PRIu64
      "), delivered %" PRIu64 ", duplicates suppressed %" PRIu64 ", lost %" PRIu64 "\n",
      kills, sent, attempts, acknowledged, duplicate_answers, delivered, duplicates, lost);
  std::fflush(stdout);
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(unacknowledged_delivered, 0u);  // every sender retried until OK
  EXPECT_EQ(acknowledged, sent);
  EXPECT_GT(acknowledged, 0u);

  EXPECT_EQ(StopRelay(), 0);
  Result check = RunCommand({kRelay, "check", "--data", (dir_ / "relay").string()});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

}  // namespace
}  // namespace alliance::e2e

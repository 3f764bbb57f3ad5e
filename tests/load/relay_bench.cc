// relay_bench: how close the relay gets to the machine's ceiling (issue 3, DESIGN §9).
//
// All on 127.0.0.1, one process, real gRPC:
//   1. Relay: P sender/receiver pairs (client -> therapist), 1 KiB envelopes, `in_flight`
//      Sends outstanding in total; each receiver holds a Receive stream and acks in batches.
//      Reports durable send -> delivered -> acked messages/s and p50/p99 send-to-delivery
//      latency at 1, 16 and 64 in flight.
//   2. Ceiling: unary gRPC echo + synced RocksDB put of 1 KiB at the same concurrency
//      (best of inline and pooled writes); ratio = relay / ceiling.
//   3. Startup time of a relay whose database holds 1 000 000 envelopes (1 000 mailboxes).
//   4. Drain time of one 10 000-envelope mailbox (stream + batched acks).
// The last line is `ratio_at_64 <value>`.
//
//   relay_bench            full run (< 60 s)
//   relay_bench --smoke    seconds; for CTest
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "server/infra/db.h"
#include "base/bytes.h"
#include "tests/load/ceiling.h"
#include "tests/server/relay_harness.h"

namespace alliance::load {
namespace {

using server::testing::RelayHarness;
using server::testing::TestAccount;
using Clock = std::chrono::steady_clock;

constexpr size_t kPayloadSize = 1024;
constexpr int kAckBatch = 32;

struct Settings {
  double seconds = 2.5;
  int pairs = 16;
  uint64_t startup_envelopes = 1'000'000;
  int drain_envelopes = 10'000;
};

struct LevelResult {
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

// One receiving device: a Receive stream, latency samples, batched async acks.
class Receiver {
 public:
  Receiver(RelayHarness* h, const TestAccount& account) : h_(h), account_(account) {}

  void Start() {
    ctx_ = h_->Ctx(account_);
    reader_ = h_->relay_stub().Receive(ctx_.get(), v1::ReceiveRequest());
    v1::ReceiveResponse r;
    while (reader_->Read(&r) && !r.backlog_complete()) pending_.push_back(r.envelope().sequence());
    thread_ = std::thread([this] { Loop(); });
  }

  void Loop() {
    v1::ReceiveResponse r;
    while (reader_->Read(&r)) {
      uint64_t now = NowNs();
      uint64_t sent = 0;
      std::memcpy(&sent, r.envelope().payload().data(), sizeof(sent));
      std::vector<uint64_t> batch;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (now >= window_start_ && now <= window_end_) {
          latencies_ms_.push_back(static_cast<double>(now - sent) / 1e6);
        }
        pending_.push_back(r.envelope().sequence());
        if (pending_.size() >= kAckBatch) batch.swap(pending_);
      }
      delivered_.fetch_add(1);
      if (!batch.empty()) AckAsync(std::move(batch));
    }
  }

  void AckAsync(std::vector<uint64_t> sequences) {
    struct AckCall {
      std::unique_ptr<grpc::ClientContext> ctx;
      v1::AckRequest request;
      v1::AckResponse response;
    };
    auto* call = new AckCall;
    call->ctx = h_->Ctx(account_);
    for (uint64_t s : sequences) call->request.add_sequences(s);
    acks_outstanding_.fetch_add(1);
    h_->relay_stub().async()->Ack(call->ctx.get(), &call->request, &call->response,
                                  [this, call](grpc::Status s) {
                                    if (s.ok()) acked_.fetch_add(call->response.deleted());
                                    delete call;
                                    acks_outstanding_.fetch_sub(1);
                                  });
  }

  void FlushAcks() {
    std::vector<uint64_t> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(pending_);
    }
    if (!batch.empty()) AckAsync(std::move(batch));
    while (acks_outstanding_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void SetWindow(uint64_t start, uint64_t end) {
    std::lock_guard<std::mutex> lock(mu_);
    window_start_ = start;
    window_end_ = end;
    latencies_ms_.clear();
  }

  std::vector<double> TakeLatencies() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(latencies_ms_);
  }

  void Stop() {
    ctx_->TryCancel();
    thread_.join();
    (void)reader_->Finish();
  }

  uint64_t delivered() const { return delivered_.load(); }
  uint64_t acked() const { return acked_.load(); }

 private:
  RelayHarness* h_;
  TestAccount account_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReader<v1::ReceiveResponse>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<uint64_t> pending_;
  std::vector<double> latencies_ms_;
  uint64_t window_start_ = 0, window_end_ = 0;
  std::atomic<uint64_t> delivered_{0}, acked_{0};
  std::atomic<int> acks_outstanding_{0};
};

struct Pair {
  TestAccount sender, receiver;
};

// Keeps `in_flight` Sends outstanding across the pairs, round robin.
class SendLoad {
 public:
  SendLoad(RelayHarness* h, const std::vector<Pair>* pairs) : h_(h), pairs_(pairs) {
    filler_.assign(kPayloadSize, '\0');
    randombytes_buf(filler_.data(), filler_.size());
  }

  void Run(int in_flight) {
    for (int i = 0; i < in_flight; ++i) Issue();
  }

  void StopAndWait() {
    stop_ = true;
    while (outstanding_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  uint64_t sent() const { return sent_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  void Issue() {
    struct SendCall {
      std::unique_ptr<grpc::ClientContext> ctx;
      v1::SendRequest request;
      v1::SendResponse response;
    };
    uint64_t n = next_.fetch_add(1);
    const Pair& pair = (*pairs_)[n % pairs_->size()];
    auto* call = new SendCall;
    call->ctx = h_->Ctx(pair.sender);
    call->request.set_version(1);
    std::string id(16, '\0');
    std::memcpy(id.data(), &n, sizeof(n));
    std::memcpy(id.data() + 8, &salt_, sizeof(salt_));
    call->request.set_message_id(id);
    *call->request.mutable_recipient() = pair.receiver.address();
    call->request.set_type(v1::ENVELOPE_TYPE_MESSAGE);
    std::string payload = filler_;
    uint64_t now = NowNs();
    std::memcpy(payload.data(), &now, sizeof(now));
    call->request.set_payload(std::move(payload));
    outstanding_.fetch_add(1);
    h_->relay_stub().async()->Send(
        call->ctx.get(), &call->request, &call->response, [this, call](grpc::Status s) {
          delete call;
          if (s.ok()) {
            sent_.fetch_add(1);
          } else if (failed_.fetch_add(1) == 0) {
            std::fprintf(stderr, "send failed: %s\n", s.error_message().c_str());
          }
          if (!stop_.load() && s.ok()) Issue();
          outstanding_.fetch_sub(1);
        });
  }

  RelayHarness* h_;
  const std::vector<Pair>* pairs_;
  std::string filler_;
  uint64_t salt_ = NowNs();
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> next_{0}, sent_{0}, failed_{0};
  std::atomic<int> outstanding_{0};
};

// Sends through `h`, receives through `receive_via` (another relay node on the same database)
// when given.
LevelResult MeasureRelay(RelayHarness* h, const std::vector<Pair>& pairs, int in_flight,
                         double seconds, RelayHarness* receive_via = nullptr) {
  std::vector<std::unique_ptr<Receiver>> receivers;
  for (const Pair& p : pairs) {
    receivers.push_back(
        std::make_unique<Receiver>(receive_via != nullptr ? receive_via : h, p.receiver));
    receivers.back()->Start();
  }
  auto total_delivered = [&] {
    uint64_t n = 0;
    for (auto& r : receivers) n += r->delivered();
    return n;
  };
  SendLoad load(h, &pairs);
  load.Run(in_flight);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // warm up
  uint64_t start_ns = NowNs();
  uint64_t end_ns = start_ns + static_cast<uint64_t>(seconds * 1e9);
  for (auto& r : receivers) r->SetWindow(start_ns, end_ns);
  uint64_t d0 = total_delivered();
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  uint64_t d1 = total_delivered();
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  load.StopAndWait();
  // Everything sent is delivered and acked before the next level.
  while (total_delivered() < load.sent()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  uint64_t acked = 0;
  for (auto& r : receivers) r->FlushAcks();
  std::vector<double> latencies;
  for (auto& r : receivers) {
    acked += r->acked();
    std::vector<double> l = r->TakeLatencies();
    latencies.insert(latencies.end(), l.begin(), l.end());
    r->Stop();
  }
  if (load.failed() > 0 || acked != load.sent()) {
    std::fprintf(stderr, "relay level %d: sent %llu acked %llu failed %llu\n", in_flight,
                 static_cast<unsigned long long>(load.sent()),
                 static_cast<unsigned long long>(acked),
                 static_cast<unsigned long long>(load.failed()));
  }
  LevelResult result;
  result.per_second = static_cast<double>(d1 - d0) / elapsed;
  result.p50_ms = Percentile(latencies, 0.50);
  result.p99_ms = Percentile(latencies, 0.99);
  return result;
}

// Writes `count` envelopes into a fresh database (unsynced, WAL off, then flushed).
void GenerateEnvelopes(const std::string& dir, uint64_t count) {
  auto db = server::RocksRelayDb::Create(dir);
  if (!db.ok()) {
    std::fprintf(stderr, "generate: %s\n", std::string(db.status().message()).c_str());
    return;
  }
  constexpr uint64_t kMailboxes = 1000;
  uint64_t per_mailbox = std::max<uint64_t>(1, count / kMailboxes);
  std::string payload(kPayloadSize, '\0');
  randombytes_buf(payload.data(), payload.size());
  rocksdb::WriteOptions no_wal;
  no_wal.disableWAL = true;
  rocksdb::WriteBatch batch;
  for (uint64_t m = 0; m < kMailboxes; ++m) {
    v1::Envelope e;
    e.set_version(1);
    std::string account(16, '\0');
    std::memcpy(account.data(), &m, sizeof(m));
    e.mutable_recipient()->set_account_id(account);
    e.mutable_recipient()->set_device_id(1);
    e.mutable_sender()->set_account_id(std::string(16, 's'));
    e.mutable_sender()->set_device_id(1);
    e.set_type(v1::ENVELOPE_TYPE_MESSAGE);
    e.set_payload(payload);
    e.set_server_time_ms(1'700'000'000'000);
    std::string mailbox = account;
    base::AppendU32BE(&mailbox, 1);
    for (uint64_t s = 1; s <= per_mailbox; ++s) {
      e.set_sequence(s);
      e.set_message_id(std::string(16, static_cast<char>(s)));
      std::string key = mailbox;
      base::AppendU64BE(&key, s);
      batch.Put((*db)->rocks()->cf(server::Cf::kMailbox), key, e.SerializeAsString());
      if (batch.Count() >= 20'000) {
        (void)(*db)->rocks()->db()->Write(no_wal, &batch);
        batch.Clear();
      }
    }
    batch.Put((*db)->rocks()->cf(server::Cf::kMailbox), mailbox,
              server::MailboxCounter{.max_sequence = per_mailbox,
                                     .depth = static_cast<int64_t>(per_mailbox)}
                  .Encode());
  }
  (void)(*db)->rocks()->db()->Write(no_wal, &batch);
  (void)(*db)->Close();
}

// Seconds from RelayServer::Start to the first RPC answered, on a database of `count`
// envelopes.
double MeasureStartup(const std::string& dir, uint64_t count, uint64_t* bytes_on_disk) {
  GenerateEnvelopes(dir, count);
  *bytes_on_disk = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    if (f.is_regular_file()) *bytes_on_disk += f.file_size();
  }
  server::RelayOptions options;
  options.data_dir = dir;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  options.log_file = dir + ".log";
  auto logger = server::Logger::Create(options.log_file, "warn");
  server::SystemClock clock;
  auto t0 = Clock::now();
  auto relay = server::RelayServer::Start(options, &clock, logger->get());
  if (!relay.ok()) {
    std::fprintf(stderr, "startup: %s\n", std::string(relay.status().message()).c_str());
    return -1;
  }
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*relay)->port()),
                                     grpc::InsecureChannelCredentials());
  auto accounts = v1::Accounts::NewStub(channel);
  grpc::ClientContext ctx;
  v1::ChallengeResponse challenge;
  grpc::Status s = accounts->Challenge(&ctx, {}, &challenge);
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!s.ok()) return -1;
  (*relay)->Shutdown();
  return seconds;
}

// Seconds to stream and ack a mailbox of `count` envelopes (filled through Send first).
double MeasureDrain(RelayHarness* h, const Pair& pair, int count) {
  std::vector<Pair> one = {pair};
  SendLoad load(h, &one);
  // Fill with 64 sends in flight, stopping at `count`.
  load.Run(64);
  while (load.sent() < static_cast<uint64_t>(count)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  load.StopAndWait();
  uint64_t stored = load.sent();
  auto t0 = Clock::now();
  auto ctx = h->Ctx(pair.receiver);
  auto reader = h->relay_stub().Receive(ctx.get(), v1::ReceiveRequest());
  v1::ReceiveResponse r;
  v1::AckRequest ack;
  uint64_t acked = 0;
  while (reader->Read(&r) && !r.backlog_complete()) {
    ack.add_sequences(r.envelope().sequence());
    if (ack.sequences_size() == 1000) {
      v1::AckResponse out;
      (void)h->relay_stub().Ack(h->Ctx(pair.receiver).get(), ack, &out);
      acked += out.deleted();
      ack.clear_sequences();
    }
  }
  if (ack.sequences_size() > 0) {
    v1::AckResponse out;
    (void)h->relay_stub().Ack(h->Ctx(pair.receiver).get(), ack, &out);
    acked += out.deleted();
  }
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  ctx->TryCancel();
  (void)reader->Finish();
  if (acked != stored) {
    std::fprintf(stderr, "drain: stored %llu acked %llu\n", static_cast<unsigned long long>(stored),
                 static_cast<unsigned long long>(acked));
  }
  return seconds;
}

// Limits no benchmark reaches.
server::Limits BenchLimits() {
  server::Limits limits;
  limits.send_rate_per_second = 1e9;
  limits.send_burst = 1e12;
  limits.max_mailbox_envelopes = 1'000'000;
  return limits;
}

// Restarts `h` for load (quiet log, 64 commit threads and database connections) and registers
// `count` linked client/therapist pairs under one admin.
std::vector<Pair> Prepare(RelayHarness* h, int count) {
  h->options().log_level = "warn";
  h->options().commit_threads = 64;
  h->options().database_connections = 64;
  h->Restart();
  TestAccount admin = h->NewAdmin();
  std::vector<Pair> pairs;
  for (int i = 0; i < count; ++i) {
    TestAccount therapist = h->Invite(admin, v1::ROLE_THERAPIST);
    TestAccount client = h->Invite(therapist, v1::ROLE_CLIENT);
    pairs.push_back({client, therapist});
  }
  return pairs;
}

// --compare-storage: the relay's send -> deliver -> ack path at 1/16/64 in flight on RocksDB
// and on PostgreSQL (the test server of tests/server/pg_test_server.sh, or ALLIANCE_TEST_PG_DIR's),
// one after the other in this run.
int CompareStorage(const Settings& settings) {
  std::printf("relay_bench --compare-storage: %zu-byte envelopes, %d pairs, 127.0.0.1, %.1f s "
              "per measurement, durable send -> delivered -> acked\n",
              kPayloadSize, settings.pairs, settings.seconds);
  std::printf("(postgres x2: two relay nodes on one database, senders on one, receivers "
              "streaming from the other)\n");
  std::printf("%-11s %-9s %14s %9s %9s\n", "storage", "in_flight", "relay_msg/s", "p50_ms",
              "p99_ms");
  for (int config = 0; config < 3; ++config) {
    RelayHarness h(BenchLimits(), config == 0 ? RelayHarness::Storage::kRocksDb
                                              : RelayHarness::Storage::kPostgres);
    std::vector<Pair> pairs = Prepare(&h, settings.pairs);
    std::unique_ptr<RelayHarness> second;
    if (config == 2) second = RelayHarness::SecondNode(h, BenchLimits());
    const char* name = config == 0 ? "rocksdb" : config == 1 ? "postgres" : "postgres x2";
    for (int in_flight : {1, 16, 64}) {
      LevelResult r = MeasureRelay(&h, pairs, in_flight, settings.seconds, second.get());
      std::printf("%-11s %-9d %14.0f %9.2f %9.2f\n", name, in_flight, r.per_second, r.p50_ms,
                  r.p99_ms);
      std::fflush(stdout);
    }
  }
  return 0;
}

int Main(int argc, char** argv) {
  Settings settings;
  bool compare_storage = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--compare-storage") == 0) compare_storage = true;
    if (std::strcmp(argv[i], "--smoke") == 0) {
      settings.seconds = 0.3;
      settings.pairs = 4;
      settings.startup_envelopes = 20'000;
      settings.drain_envelopes = 500;
    }
  }
  if (sodium_init() < 0) return 1;
  if (compare_storage) return CompareStorage(settings);
  auto run_start = Clock::now();

  RelayHarness h(BenchLimits());
  std::vector<Pair> pairs = Prepare(&h, settings.pairs);

  std::filesystem::path scratch = std::filesystem::path(h.data_dir()).parent_path();
  std::printf(
      "relay_bench: %zu-byte envelopes, %d sender/receiver pairs, 127.0.0.1, %.1f s "
      "per measurement\n",
      kPayloadSize, settings.pairs, settings.seconds);
  std::printf("%-9s %14s %9s %9s %16s %16s %7s\n", "in_flight", "relay_msg/s", "p50_ms", "p99_ms",
              "ceiling_inline/s", "ceiling_pool/s", "ratio");
  double ratio_at_64 = 0;
  int level_index = 0;
  for (int in_flight : {1, 16, 64}) {
    LevelResult relay = MeasureRelay(&h, pairs, in_flight, settings.seconds);
    std::string base = (scratch / ("ceiling-" + std::to_string(level_index++))).string();
    CeilingResult inline_ceiling =
        MeasureCeiling(base + "-inline", in_flight, kPayloadSize, settings.seconds, false);
    CeilingResult pool_ceiling =
        MeasureCeiling(base + "-pool", in_flight, kPayloadSize, settings.seconds, true);
    double ceiling = std::max(inline_ceiling.calls_per_second, pool_ceiling.calls_per_second);
    double ratio = ceiling > 0 ? relay.per_second / ceiling : 0;
    std::printf("%-9d %14.0f %9.2f %9.2f %16.0f %16.0f %7.2f\n", in_flight, relay.per_second,
                relay.p50_ms, relay.p99_ms, inline_ceiling.calls_per_second,
                pool_ceiling.calls_per_second, ratio);
    std::fflush(stdout);
    if (in_flight == 64) ratio_at_64 = ratio;
  }

  double drain = MeasureDrain(&h, pairs[0], settings.drain_envelopes);
  std::printf("drain_%d_envelopes_s %.3f (%.0f envelopes/s)\n", settings.drain_envelopes, drain,
              settings.drain_envelopes / drain);
  h.Stop();

  uint64_t bytes = 0;
  double startup =
      MeasureStartup((scratch / "startup").string(), settings.startup_envelopes, &bytes);
  std::printf("startup_with_%llu_envelopes_s %.3f (database %.0f MiB)\n",
              static_cast<unsigned long long>(settings.startup_envelopes), startup,
              static_cast<double>(bytes) / (1 << 20));
  std::printf("total_run_s %.1f\n",
              std::chrono::duration<double>(Clock::now() - run_start).count());
  h.Start();  // the harness removes its directory (scratch included) on destruction
  std::printf("ratio_at_64 %.2f\n", ratio_at_64);
  return 0;
}

}  // namespace
}  // namespace alliance::load

int main(int argc, char** argv) { return alliance::load::Main(argc, argv); }

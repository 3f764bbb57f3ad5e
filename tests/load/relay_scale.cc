// relay_scale: the relay's figures at scale (issue 11), against the real `alliance-relay serve`
// in its own process, so that its memory is its own:
//   1. Relay memory per idle Receive stream, at 1 000 and 10 000 concurrent streams (one per
//      account, as the protocol allows; spread over 50 connections). Resident set size from
//      /proc/<pid>/status before and after the streams are open and have their backlog marker.
//   2. Open-loop sends at a fixed rate (default 2 000/s for 10 s) from 16 clients to their
//      therapists, whose streams ack in batches: p50/p99/p99.9 of scheduled-send -> delivered
//      and of scheduled-send -> Send answered. Latency counts from the moment a send was due, not
//      from when it went out, so a stalled relay cannot hide its stall (no coordinated omission).
//   3. Draining one mailbox of 100, 1 000 and 10 000 envelopes while the database holds
//      1 000 000 other envelopes (written into 1 000 other mailboxes before the relay starts):
//      the time must follow the mailbox, not the database.
//
//   4. The restore drill of the operator guide: an online `alliance-relay backup` of the serving
//      relay holding those 1 000 000 envelopes, then `alliance-relay restore` (copy + check) into
//      a new directory, each timed through the real binary; then the restored relay is started
//      and must listen.
//
//   relay_scale [--streams 1000,10000] [--rate 2000] [--seconds 10] [--background 1000000]
//   relay_scale --smoke      (seconds; what CTest runs)
//
// Everything on 127.0.0.1. The relay's limits are raised in its config file (one test caller
// registers thousands of accounts), the way a load test of a clinic relay would.
#include <grpcpp/grpcpp.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "alliance/v1/relay_service.grpc.pb.h"
#include "base/bytes.h"
#include "server/infra/db.h"
#include "tests/e2e/process.h"
#include "tests/e2e/wire_client.h"

namespace alliance::load {
namespace {

namespace fs = std::filesystem;
using e2e::WireAccount;
using e2e::WireRelay;
using Clock = std::chrono::steady_clock;

struct Settings {
  std::vector<int> streams = {1000, 10000};
  double rate = 2000;
  double seconds = 10;
  uint64_t background = 1'000'000;
  std::vector<int> drain_sizes = {100, 1000, 10000};
  int channels = 50;
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// VmRSS of `pid` in KiB (0 if unreadable).
uint64_t RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      uint64_t kib = 0;
      fields >> kib;
      return kib;
    }
  }
  return 0;
}

double Percentile(std::vector<int64_t> ns, double p) {
  if (ns.empty()) return 0;
  std::sort(ns.begin(), ns.end());
  size_t i = std::min(ns.size() - 1, static_cast<size_t>(p * static_cast<double>(ns.size())));
  return static_cast<double>(ns[i]) / 1e6;
}

// Writes `count` envelopes into 1 000 mailboxes of accounts nobody holds, straight into the
// stopped relay's database (unsynced, WAL off, then flushed): data the relay must not read.
bool FillBackground(const std::string& dir, uint64_t count) {
  auto db = server::RocksRelayDb::Open(dir);
  if (!db.ok()) {
    std::fprintf(stderr, "background: %s\n", std::string(db.status().message()).c_str());
    return false;
  }
  constexpr uint64_t kMailboxes = 1000;
  const uint64_t per_mailbox = std::max<uint64_t>(1, count / kMailboxes);
  std::string payload(1024, '\0');
  randombytes_buf(payload.data(), payload.size());
  rocksdb::WriteOptions no_wal;
  no_wal.disableWAL = true;
  rocksdb::WriteBatch batch;
  for (uint64_t m = 0; m < kMailboxes; ++m) {
    v1::Envelope e;
    e.set_version(1);
    std::string account(16, 'b');
    std::memcpy(account.data(), &m, sizeof(m));
    e.mutable_recipient()->set_account_id(account);
    e.mutable_recipient()->set_device_id(1);
    e.mutable_sender()->set_account_id(std::string(16, 's'));
    e.mutable_sender()->set_device_id(1);
    e.set_type(v1::ENVELOPE_TYPE_MESSAGE);
    e.set_payload(payload);
    e.set_server_time_ms(static_cast<uint64_t>(std::time(nullptr)) * 1000);
    std::string mailbox = account;
    base::AppendU32BE(&mailbox, 1);
    for (uint64_t s = 1; s <= per_mailbox; ++s) {
      e.set_sequence(s);
      std::string id(16, '\0');
      std::memcpy(id.data(), &s, sizeof(s));
      e.set_message_id(id);
      std::string key = mailbox;
      base::AppendU64BE(&key, s);
      batch.Put((*db)->rocks()->cf(server::Cf::kMailbox), key, e.SerializeAsString());
      if (batch.Count() >= 20'000) {
        if (!(*db)->rocks()->db()->Write(no_wal, &batch).ok()) return false;
        batch.Clear();
      }
    }
    batch.Put((*db)->rocks()->cf(server::Cf::kMailbox), mailbox,
              server::MailboxCounter{.max_sequence = per_mailbox,
                                     .depth = static_cast<int64_t>(per_mailbox)}
                  .Encode());
  }
  if (!(*db)->rocks()->db()->Write(no_wal, &batch).ok()) return false;
  return (*db)->Close().ok();
}

// The relay process and the accounts the phases use.
class Bench {
 public:
  explicit Bench(Settings settings) : s_(std::move(settings)) {
    dir_ = fs::temp_directory_path() / ("alliance-relay-scale-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~Bench() {
    relay_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  bool Start() {
    const std::string data = (dir_ / "data").string();
    e2e::Result init = e2e::RunCommand({Binary(), "init", "--data", data});
    if (init.exit_code != 0) {
      std::fprintf(stderr, "init failed: %s\n", init.err.c_str());
      return false;
    }
    std::vector<std::string> lines = absl::StrSplit(init.out, '\n', absl::SkipEmpty());
    auto code = base::FromHex(lines.back());
    if (!code) return false;
    bootstrap_ = *code;
    const auto t0 = Clock::now();
    if (s_.background > 0 && !FillBackground(data, s_.background)) return false;
    std::printf("background: %" PRIu64 " envelopes in 1000 other mailboxes written in %.1f s\n",
                s_.background, std::chrono::duration<double>(Clock::now() - t0).count());
    std::ofstream config(dir_ / "relay.toml");
    config << "log_level = \"warn\"\nmetrics_listen = \"\"\n[limits]\n"
           << "send_rate_per_second = 1000000.0\nsend_burst = 1000000.0\n"
           << "max_mailbox_envelopes = 100000\nmax_mailbox_envelopes_per_sender = 100000\n"
           << "challenge_burst = 1000000.0\nchallenges_per_minute = 1000000.0\n"
           << "invite_burst = 1000000.0\ninvites_per_hour = 1000000.0\n"
           << "max_outstanding_invites = 1000000\n";
    config.close();
    port_ = e2e::FreePort();
    address_ = "127.0.0.1:" + std::to_string(port_);
    relay_ = std::make_unique<e2e::Background>(
        std::vector<std::string>{Binary(), "serve", "--config", (dir_ / "relay.toml").string(),
                                 "--data", data, "--listen", address_, "--log-file",
                                 (dir_ / "relay.log").string()},
        (dir_ / "relay.out").string());
    if (!e2e::WaitForPort(port_, 30)) {
      std::fprintf(stderr, "relay did not start: %s\n",
                   e2e::ReadFile((dir_ / "relay.out").string()).c_str());
      return false;
    }
    wire_ = std::make_unique<WireRelay>(address_);
    admin_ = WireAccount::Generate();
    return wire_->Register(bootstrap_, &admin_).ok() && wire_->Login(&admin_).ok();
  }

  // `count` accounts of `role` invited by `inviter`, registered and logged in, 16 at a time.
  std::vector<WireAccount> Accounts(const WireAccount& inviter, v1::Role role, int count) {
    std::vector<WireAccount> out(static_cast<size_t>(count));
    std::atomic<int> next{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&] {
        for (int i = next++; i < count; i = next++) {
          WireAccount a = WireAccount::Generate();
          std::string code;
          if (!wire_->CreateInvite(inviter, role, &code).ok() || !wire_->Register(code, &a).ok() ||
              !wire_->Login(&a).ok()) {
            ++failed;
          }
          out[static_cast<size_t>(i)] = std::move(a);
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failed > 0) std::fprintf(stderr, "%d registrations failed\n", failed.load());
    return out;
  }

  void MemoryPerStream();
  void OpenLoop();
  void Drain();
  bool RestoreDrill();

 private:
  static std::string Binary() { return std::string(ALLIANCE_BINARY_DIR) + "/server/alliance-relay"; }

  Settings s_;
  fs::path dir_;
  int port_ = 0;
  std::string address_;
  std::string bootstrap_;
  std::unique_ptr<e2e::Background> relay_;
  std::unique_ptr<WireRelay> wire_;
  WireAccount admin_;
};

// One idle Receive stream driven through a completion queue.
struct Stream {
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientAsyncReader<v1::ReceiveResponse>> reader;
  v1::ReceiveResponse response;
  grpc::Status status;
  int stage = 0;  // 0 starting, 1 reading the backlog, 2 ready, 3 finishing, 4 done
};

void Bench::MemoryPerStream() {
  const int most = *std::max_element(s_.streams.begin(), s_.streams.end());
  WireAccount therapist = Accounts(admin_, v1::ROLE_THERAPIST, 1)[0];
  const auto t0 = Clock::now();
  std::vector<WireAccount> clients = Accounts(therapist, v1::ROLE_CLIENT, most);
  std::printf("streams: %d accounts registered and logged in in %.1f s\n", most,
              std::chrono::duration<double>(Clock::now() - t0).count());

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::Relay::Stub>> stubs;
  for (int c = 0; c < s_.channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("alliance.scale.connection", c);  // Distinct args: a connection per channel.
    channels.push_back(
        grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(v1::Relay::NewStub(channels.back()));
  }
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Stream>> streams;
  std::atomic<int> ready{0};
  std::atomic<int> failed{0};
  std::thread pump([&] {
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
      auto* st = static_cast<Stream*>(tag);
      if (st->stage == 0) {
        if (!ok) {
          ++failed;
          st->stage = 3;
          st->reader->Finish(&st->status, st);
          continue;
        }
        st->stage = 1;
        st->reader->Read(&st->response, st);
      } else if (st->stage == 1) {
        if (ok && st->response.backlog_complete()) {
          st->stage = 2;
          ++ready;
          st->reader->Read(&st->response, st);  // Idle: completes when the stream ends.
        } else if (ok) {
          st->reader->Read(&st->response, st);
        } else {
          ++failed;
          st->stage = 3;
          st->reader->Finish(&st->status, st);
        }
      } else if (st->stage == 2) {
        st->stage = 3;
        st->reader->Finish(&st->status, st);
      } else {
        st->stage = 4;
      }
    }
  });

  const uint64_t base_kib = RssKiB(relay_->pid());
  std::printf("relay RSS with %d accounts and no stream: %.1f MiB\n", most, base_kib / 1024.0);
  int opened = 0;
  std::vector<int> levels = s_.streams;
  std::sort(levels.begin(), levels.end());
  for (int level : levels) {
    for (; opened < level; ++opened) {
      auto st = std::make_unique<Stream>();
      st->ctx = WireRelay::Context(clients[static_cast<size_t>(opened)], std::chrono::hours(1));
      st->reader = stubs[static_cast<size_t>(opened % s_.channels)]->PrepareAsyncReceive(
          st->ctx.get(), v1::ReceiveRequest(), &cq);
      st->reader->StartCall(st.get());
      streams.push_back(std::move(st));
    }
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (ready + failed < level && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));  // Let allocations settle.
    const uint64_t kib = RssKiB(relay_->pid());
    std::printf("streams_%d: %d open, %d failed; relay RSS %.1f MiB; %.1f KiB per stream\n", level,
                ready.load(), failed.load(), kib / 1024.0,
                static_cast<double>(kib - std::min(kib, base_kib)) / std::max(1, ready.load()));
  }
  for (auto& st : streams) st->ctx->TryCancel();
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  auto all_done = [&] {
    return std::all_of(streams.begin(), streams.end(), [](const auto& st) { return st->stage == 4; });
  };
  while (!all_done() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  cq.Shutdown();
  pump.join();
  std::fflush(stdout);
}

// One therapist's receive loop: acks in batches and records scheduled -> delivered latency.
void Receive(WireRelay* wire, const WireAccount& therapist, std::atomic<uint64_t>* count,
             std::vector<int64_t>* latencies, std::mutex* mu,
             std::atomic<grpc::ClientContext*>* ctx_out) {
  auto ctx = WireRelay::Context(therapist, std::chrono::hours(1));
  *ctx_out = ctx.get();
  auto reader = wire->relay().Receive(ctx.get(), v1::ReceiveRequest());
  v1::ReceiveResponse r;
  v1::AckRequest ack;
  std::vector<int64_t> mine;
  auto flush = [&] {
    if (ack.sequences_size() == 0) return;
    v1::AckResponse out;
    (void)wire->relay().Ack(WireRelay::Context(therapist, std::chrono::seconds(10)).get(), ack,
                            &out);
    ack.clear_sequences();
  };
  while (reader->Read(&r)) {
    if (!r.has_envelope()) continue;
    const int64_t now = NowNs();
    int64_t due = 0;
    if (r.envelope().payload().size() >= 8) std::memcpy(&due, r.envelope().payload().data(), 8);
    mine.push_back(now - due);
    ++*count;
    ack.add_sequences(r.envelope().sequence());
    if (ack.sequences_size() >= 32) flush();
  }
  flush();
  (void)reader->Finish();
  std::lock_guard<std::mutex> lock(*mu);
  latencies->insert(latencies->end(), mine.begin(), mine.end());
}

struct AsyncSend {
  grpc::ClientContext ctx;
  v1::SendResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::SendResponse>> call;
  int64_t due = 0;
};

void Bench::OpenLoop() {
  constexpr int kPairs = 16;
  std::vector<WireAccount> therapists = Accounts(admin_, v1::ROLE_THERAPIST, kPairs);
  std::vector<WireAccount> clients;
  for (const WireAccount& t : therapists) clients.push_back(Accounts(t, v1::ROLE_CLIENT, 1)[0]);

  std::atomic<uint64_t> delivered_count{0};
  std::mutex mu;
  std::vector<int64_t> delivered;
  std::vector<std::atomic<grpc::ClientContext*>> ctxs(kPairs);
  std::vector<std::thread> receivers;
  for (int p = 0; p < kPairs; ++p) {
    ctxs[static_cast<size_t>(p)] = nullptr;
    receivers.emplace_back(Receive, wire_.get(), std::cref(therapists[static_cast<size_t>(p)]),
                           &delivered_count, &delivered, &mu, &ctxs[static_cast<size_t>(p)]);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // Streams subscribed.

  grpc::CompletionQueue cq;
  std::vector<int64_t> answered;
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> outstanding{0};
  std::thread completions([&] {
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
      std::unique_ptr<AsyncSend> call(static_cast<AsyncSend*>(tag));
      if (ok && call->status.ok()) {
        answered.push_back(NowNs() - call->due);
      } else {
        ++errors;
      }
      --outstanding;
    }
  });

  const uint64_t total = static_cast<uint64_t>(s_.rate * s_.seconds);
  const int64_t interval_ns = static_cast<int64_t>(1e9 / s_.rate);
  const int64_t start = NowNs() + 10'000'000;
  std::string payload(1024, '\0');
  randombytes_buf(payload.data(), payload.size());
  uint64_t late = 0;
  for (uint64_t i = 0; i < total; ++i) {
    const int64_t due = start + static_cast<int64_t>(i) * interval_ns;
    int64_t now = NowNs();
    if (due > now) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
    } else if (now - due > 1'000'000) {
      ++late;  // The generator itself fell behind by over 1 ms.
    }
    const size_t p = i % kPairs;
    auto call = std::make_unique<AsyncSend>();
    call->due = due;
    call->ctx.AddMetadata("authorization", "Bearer " + base::ToHex(clients[p].token));
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::SendRequest request;
    request.set_version(1);
    request.set_message_id(e2e::RandomMessageId());
    *request.mutable_recipient() = therapists[p].address();
    request.set_type(v1::ENVELOPE_TYPE_MESSAGE);
    std::memcpy(payload.data(), &due, sizeof(due));
    request.set_payload(payload);
    call->call = wire_->relay().AsyncSend(&call->ctx, request, &cq);
    ++outstanding;
    AsyncSend* raw = call.release();
    raw->call->Finish(&raw->response, &raw->status, raw);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (outstanding > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Every send that was answered OK must arrive; then the streams are stopped.
  while (delivered_count < total - errors && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& c : ctxs) {
    if (c.load() != nullptr) c.load()->TryCancel();
  }
  for (auto& t : receivers) t.join();
  cq.Shutdown();
  completions.join();
  std::printf(
      "open_loop: %.0f sends/s for %.0f s = %" PRIu64 " sends, %" PRIu64 " errors, %" PRIu64
      " delivered, generator late by >1 ms: %" PRIu64 "\n",
      s_.rate, s_.seconds, total, errors.load(), static_cast<uint64_t>(delivered.size()), late);
  std::printf("open_loop due -> delivered ms: p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
              Percentile(delivered, 0.5), Percentile(delivered, 0.99),
              Percentile(delivered, 0.999), Percentile(delivered, 1.0));
  std::printf("open_loop due -> Send answered ms: p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
              Percentile(answered, 0.5), Percentile(answered, 0.99), Percentile(answered, 0.999),
              Percentile(answered, 1.0));
  std::fflush(stdout);
}

void Bench::Drain() {
  for (int size : s_.drain_sizes) {
    WireAccount therapist = Accounts(admin_, v1::ROLE_THERAPIST, 1)[0];
    WireAccount client = Accounts(therapist, v1::ROLE_CLIENT, 1)[0];
    // Fill the therapist's mailbox, 64 sends in flight.
    std::string payload(1024, 'p');
    std::atomic<int> next{0};
    std::vector<std::thread> fillers;
    for (int t = 0; t < 64; ++t) {
      fillers.emplace_back([&] {
        for (int i = next++; i < size; i = next++) {
          v1::SendResponse r;
          (void)wire_->Send(client, therapist.address(), e2e::RandomMessageId(), payload, &r);
        }
      });
    }
    for (auto& f : fillers) f.join();
    const auto t0 = Clock::now();
    auto ctx = WireRelay::Context(therapist, std::chrono::minutes(5));
    auto reader = wire_->relay().Receive(ctx.get(), v1::ReceiveRequest());
    v1::ReceiveResponse r;
    v1::AckRequest ack;
    int received = 0;
    while (reader->Read(&r) && !r.backlog_complete()) {
      ++received;
      ack.add_sequences(r.envelope().sequence());
      if (ack.sequences_size() == 1000) {
        v1::AckResponse out;
        (void)wire_->relay().Ack(WireRelay::Context(therapist, std::chrono::seconds(30)).get(),
                                 ack, &out);
        ack.clear_sequences();
      }
    }
    if (ack.sequences_size() > 0) {
      v1::AckResponse out;
      (void)wire_->relay().Ack(WireRelay::Context(therapist, std::chrono::seconds(30)).get(), ack,
                               &out);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    ctx->TryCancel();
    (void)reader->Finish();
    std::printf("drain_%d: %d envelopes streamed and acked in %.3f s (%.1f us each), with %" PRIu64
                " other envelopes stored\n",
                size, received, seconds, seconds * 1e6 / std::max(1, received), s_.background);
  }
  std::fflush(stdout);
}

std::vector<int> IntList(const std::string& s) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    int v = 0;
    if (absl::SimpleAtoi(part, &v) && v > 0) out.push_back(v);
  }
  return out;
}

int Main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::string value = i + 1 < argc ? argv[i + 1] : "";
    if (arg == "--smoke") {
      s.streams = {50, 200};
      s.rate = 200;
      s.seconds = 1;
      s.background = 2000;
      s.drain_sizes = {10, 100};
      s.channels = 4;
    } else if (arg == "--streams") {
      s.streams = IntList(value), ++i;
    } else if (arg == "--rate") {
      (void)absl::SimpleAtod(value, &s.rate), ++i;
    } else if (arg == "--seconds") {
      (void)absl::SimpleAtod(value, &s.seconds), ++i;
    } else if (arg == "--background") {
      (void)absl::SimpleAtoi(value, &s.background), ++i;
    } else if (arg == "--drain") {
      s.drain_sizes = IntList(value), ++i;
    } else {
      std::fprintf(stderr, "unknown argument %s (see the comment at the top of relay_scale.cc)\n",
                   arg.c_str());
      return 2;
    }
  }
  if (s.streams.empty() || s.rate <= 0 || s.seconds <= 0) {
    std::fprintf(stderr, "bad settings\n");
    return 2;
  }
  Bench bench(s);
  if (!bench.Start()) return 1;
  bench.Drain();
  bench.MemoryPerStream();
  bench.OpenLoop();
  return bench.RestoreDrill() ? 0 : 1;
}

bool Bench::RestoreDrill() {
  const std::string data = (dir_ / "data").string();
  const std::string backup = (dir_ / "backup").string();
  const std::string restored = (dir_ / "restored").string();
  auto t0 = Clock::now();
  e2e::Result b = e2e::RunCommand({Binary(), "backup", "--to", backup, "--data", data});
  const double backup_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (b.exit_code != 0) {
    std::fprintf(stderr, "backup failed: %s\n", b.err.c_str());
    return false;
  }
  uint64_t bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(backup)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  t0 = Clock::now();
  e2e::Result r = e2e::RunCommand({Binary(), "restore", "--from", backup, "--data", restored});
  const double restore_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (r.exit_code != 0) {
    std::fprintf(stderr, "restore failed: %s\n", r.err.c_str());
    return false;
  }
  // The restored relay opens and serves (health SERVING) on a port of its own.
  const int port = e2e::FreePort();
  t0 = Clock::now();
  e2e::Background second({Binary(), "serve", "--data", restored, "--listen",
                          "127.0.0.1:" + std::to_string(port), "--metrics-listen", ""},
                         (dir_ / "restored.out").string());
  const bool up = e2e::WaitForPort(port, 60);
  const double start_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("restore drill, %" PRIu64 " background envelopes (+ the run's own), backup %.1f MiB:"
              " online backup %.2f s, restore with check %.2f s, restored relay listening after"
              " %.2f s\n",
              s_.background, static_cast<double>(bytes) / (1 << 20), backup_s, restore_s, start_s);
  if (!up) std::fprintf(stderr, "the restored relay did not start\n");
  return up;
}

}  // namespace
}  // namespace alliance::load

int main(int argc, char** argv) { return alliance::load::Main(argc, argv); }

// client_bench: end-to-end messaging cost through two alliance::client::Clients and a real relay
// on 127.0.0.1, beside the bare relay path measured in the same run, so the client-side overhead
// (X3DH/ratchet, sealed local store with synced writes, receipts) shows as a ratio.
//
//   relay_only   one account sends 1 KiB envelopes with Relay.Send, another receives them on a
//                Receive stream and acks each: send -> delivered latency, 1 in flight.
//   client       Client::SendText of 1 KiB, the other Client's Listen callback fires once the
//                message is decrypted and durably stored: send -> stored latency, 1 in flight.
//
// Bounded: at most --messages per case (default 300) and 20 s per case.
//   build/tests/bench/client_bench [--messages N]
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "client/relay_connection.h"
#include "server/infra/clock.h"
#include "server/infra/config.h"
#include "server/infra/logging.h"
#include "server/relay_server.h"

namespace alliance::bench {
namespace {

namespace fs = std::filesystem;

struct Stats {
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  size_t n = 0;
};

Stats Summarize(std::vector<double> latencies_ms, double seconds) {
  Stats s;
  s.n = latencies_ms.size();
  if (s.n == 0) return s;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  s.per_second = static_cast<double>(s.n) / seconds;
  s.p50_ms = latencies_ms[s.n / 2];
  s.p99_ms = latencies_ms[std::min(s.n - 1, s.n * 99 / 100)];
  return s;
}

void Die(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "client_bench: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

struct Relay {
  server::SystemClock clock;
  std::unique_ptr<server::Logger> logger;
  std::unique_ptr<server::RelayServer> server;
  std::string bootstrap;
  std::string address;

  explicit Relay(const fs::path& dir) {
    auto invite = server::RelayServer::Initialize((dir / "relay").string(), &clock);
    Die(invite.status(), "relay init");
    bootstrap = *invite;
    auto log = server::Logger::Create((dir / "relay.log").string(), "warn");
    Die(log.status(), "relay log");
    logger = *std::move(log);
    server::RelayOptions o;
    o.data_dir = (dir / "relay").string();
    o.listen = "127.0.0.1:0";
    o.metrics_listen = "";
    o.limits.send_rate_per_second = 1e9;
    o.limits.send_burst = 1e9;
    auto started = server::RelayServer::Start(o, &clock, logger.get());
    Die(started.status(), "relay start");
    server = *std::move(started);
    address = "127.0.0.1:" + std::to_string(server->port());
  }
};

// A bare account: identity key + relay connection, registered through real invites.
struct Bare {
  crypto::SystemRandom rng;
  std::optional<crypto::IdentityKeyPair> id;
  std::unique_ptr<client::RelayConnection> conn;
  std::string account_id;

  Bare(const std::string& address, const std::string& invite) {
    id.emplace(*crypto::IdentityKeyPair::Generate(rng));
    conn = *client::RelayConnection::Create({address, "", absl::Seconds(10)});
    auto ch = conn->Challenge();
    Die(ch.status(), "challenge");
    std::string msg = "alliance/v1/register" + ch->relay_id() + invite;
    msg.append(reinterpret_cast<const char*>(id->public_key().data()), 32);
    crypto::Signature proof = id->Sign(crypto::AsBytes(msg));
    v1::RegisterRequest req;
    req.set_invite_code(invite);
    req.set_identity_key(reinterpret_cast<const char*>(id->public_key().data()), 32);
    req.set_proof(reinterpret_cast<const char*>(proof.data()), proof.size());
    auto resp = conn->Register(req);
    Die(resp.status(), "register");
    account_id = resp->account_id();
    conn->SetLogin(&*id, account_id, 1, resp->relay_id());
  }
  std::string Invite(v1::Role role) {
    v1::CreateInviteRequest req;
    req.set_role(role);
    auto r = conn->CreateInvite(req);
    Die(r.status(), "invite");
    return r->invite_code();
  }
};

Stats RelayOnly(const fs::path& dir, int messages) {
  Relay relay(dir);
  Bare admin(relay.address, relay.bootstrap);
  Bare therapist(relay.address, admin.Invite(v1::ROLE_THERAPIST));
  Bare client(relay.address, therapist.Invite(v1::ROLE_CLIENT));

  std::mutex mu;
  std::condition_variable cv;
  uint64_t delivered = 0;
  grpc::ClientContext ctx;
  Die(therapist.conn->PrepareStream(&ctx), "stream");
  auto reader = therapist.conn->relay_stub()->Receive(&ctx, v1::ReceiveRequest());
  std::thread receiver([&] {
    v1::ReceiveResponse resp;
    while (reader->Read(&resp)) {
      if (resp.backlog_complete()) continue;
      v1::AckRequest ack;
      ack.add_sequences(resp.envelope().sequence());
      Die(therapist.conn->Ack(ack).status(), "ack");
      std::lock_guard<std::mutex> lock(mu);
      ++delivered;
      cv.notify_all();
    }
  });
  std::string payload(1024, '\0');
  randombytes_buf(payload.data(), payload.size());
  std::vector<double> lat;
  const absl::Time start = absl::Now();
  for (int i = 0; i < messages && absl::Now() - start < absl::Seconds(20); ++i) {
    v1::SendRequest req;
    req.set_version(1);
    std::string id(16, '\0');
    randombytes_buf(id.data(), id.size());
    req.set_message_id(id);
    req.mutable_recipient()->set_account_id(therapist.account_id);
    req.mutable_recipient()->set_device_id(1);
    req.set_type(v1::ENVELOPE_TYPE_MESSAGE);
    req.set_payload(payload);
    const absl::Time t0 = absl::Now();
    Die(client.conn->Send(req).status(), "send");
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return delivered == static_cast<uint64_t>(i + 1); });
    lat.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  ctx.TryCancel();
  receiver.join();
  (void)reader->Finish();
  return Summarize(lat, seconds);
}

// `recipient_devices` devices of the therapist (linked before the warm-up): every send is
// encrypted once per device and stored in every device's mailbox in one batch.
Stats EndToEnd(const fs::path& dir, int messages, int recipient_devices = 1,
               double* send_p50_ms = nullptr) {
  Relay relay(dir);
  auto make = [&](const std::string& name) {
    client::ClientOptions o;
    o.profile_dir = (dir / name).string();
    o.relay.address = relay.address;
    o.store.cost = crypto::PassphraseCost::Interactive();  // Unlocking is not measured here.
    auto c = client::Client::Init(o, crypto::AsBytes("bench passphrase " + name));
    Die(c.status(), "client init");
    return *std::move(c);
  };
  auto admin = make("admin");
  Die(admin->Register(relay.bootstrap, "Admin"), "register admin");
  auto therapist = make("therapist");
  Die(therapist->Register(*client::ParseInviteCode(admin->CreateInvite(v1::ROLE_THERAPIST)->code),
                          "Rivera"),
      "register therapist");
  auto sam = make("sam");
  Die(sam->Register(*client::ParseInviteCode(therapist->CreateInvite(v1::ROLE_CLIENT)->code),
                    "Sam"),
      "register client");
  std::vector<std::unique_ptr<client::Client>> extra;
  for (int i = 1; i < recipient_devices; ++i) {
    auto device = make("therapist-" + std::to_string(i));
    client::RelayOptions ro;
    ro.address = relay.address;
    auto code = device->StartLink(ro);
    Die(code.status(), "start link");
    Die(therapist->ApproveLink(code->code, "Device").status(), "approve link");
    Die(device->FinishLink(absl::Seconds(10)), "finish link");
    extra.push_back(std::move(device));
  }
  // Warm up: the session exists and both sides are past the prekey stage.
  Die(sam->SendText("therapist", "hello").status(), "warm-up send");
  Die(therapist->Sync().status(), "warm-up sync");
  Die(therapist->SendText("client", "hello back").status(), "warm-up reply");
  Die(sam->Sync().status(), "warm-up sync 2");

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, absl::Time> stored;
  std::thread listener([&] {
    absl::Status s = therapist->Listen([&](const client::MessageView& m) {
      std::lock_guard<std::mutex> lock(mu);
      stored[m.body.substr(0, 8)] = absl::Now();
      cv.notify_all();
    });
    Die(s, "listen");
  });
  std::string filler(1024 - 8, 'x');
  std::vector<double> lat;
  std::vector<double> send_lat;
  const absl::Time start = absl::Now();
  for (int i = 0; i < messages && absl::Now() - start < absl::Seconds(20); ++i) {
    char tag[16];
    std::snprintf(tag, sizeof tag, "%08d", i % 100000000);
    tag[8] = '\0';
    const absl::Time t0 = absl::Now();
    auto r = sam->SendText("therapist", std::string(tag) + filler);
    Die(r.status(), "send");
    send_lat.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return stored.count(tag) > 0; });
    lat.push_back(absl::ToDoubleMilliseconds(stored[tag] - t0));
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  therapist->StopListening();
  listener.join();
  if (send_p50_ms != nullptr) {
    std::sort(send_lat.begin(), send_lat.end());
    *send_p50_ms = send_lat.empty() ? 0 : send_lat[send_lat.size() / 2];
  }
  return Summarize(lat, seconds);
}

}  // namespace
}  // namespace alliance::bench

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  int messages = 300;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--messages") (void)absl::SimpleAtoi(argv[i + 1], &messages);
  }
  namespace fs = std::filesystem;
  const fs::path root =
      fs::temp_directory_path() / ("alliance-client-bench-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "a");
  fs::create_directories(root / "b");
  using alliance::bench::Stats;
  Stats relay = alliance::bench::RelayOnly(root / "a", messages);
  Stats e2e = alliance::bench::EndToEnd(root / "b", messages);
  // Send cost against the number of the recipient's devices (fan-out, DESIGN §4).
  std::vector<std::pair<int, std::pair<Stats, double>>> fan_out;
  for (int devices : {1, 2, 5}) {
    const fs::path d = root / ("devices-" + std::to_string(devices));
    fs::create_directories(d);
    double send_p50 = 0;
    Stats s = alliance::bench::EndToEnd(d, messages, devices, &send_p50);
    fan_out.push_back({devices, {s, send_p50}});
  }
  fs::remove_all(root);
  std::printf("case         messages  msgs/s    p50_ms   p99_ms   (1 KiB, 1 in flight)\n");
  std::printf("relay_only   %8zu  %8.1f  %7.2f  %7.2f\n", relay.n, relay.per_second, relay.p50_ms,
              relay.p99_ms);
  std::printf("client       %8zu  %8.1f  %7.2f  %7.2f\n", e2e.n, e2e.per_second, e2e.p50_ms,
              e2e.p99_ms);
  std::printf("ratio client/relay_only throughput %.2f, p50 latency x%.2f\n",
              relay.per_second > 0 ? e2e.per_second / relay.per_second : 0,
              relay.p50_ms > 0 ? e2e.p50_ms / relay.p50_ms : 0);
  std::printf("\nrecipient_devices  messages  send_p50_ms  stored_p50_ms  msgs/s\n");
  const double base = fan_out.front().second.second;
  for (const auto& [devices, r] : fan_out) {
    std::printf("%17d  %8zu  %11.2f  %13.2f  %6.1f  (send cost x%.2f of 1 device)\n", devices,
                r.first.n, r.second, r.first.p50_ms, r.first.per_second,
                base > 0 ? r.second / base : 0);
  }
  return 0;
}

// Hostile clients that do not break rules but lean on the relay (issue 11): ten thousand
// streams from one device, readers that never read, oversized metadata. The real
// `alliance-relay serve` in its own process, so that its memory is measured alone
// (/proc/<pid>/status VmRSS); each test prints what it measured.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/bytes.h"
#include "tests/e2e/e2e_fixture.h"
#include "tests/e2e/wire_client.h"

namespace alliance::e2e {
namespace {

uint64_t RssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      uint64_t kib = 0;
      fields >> kib;
      return kib / 1024;
    }
  }
  return 0;
}

class RelayPressureTest : public E2eFixture {
 protected:
  void PrepareRelay() override {
    // Senders here are well-behaved but fast: lift the per-account send rate, nothing else.
    const fs::path config = dir_ / "relay.toml";
    std::ofstream(config) << "[limits]\nsend_rate_per_second = 100000.0\nsend_burst = 100000.0\n";
    relay_flags_ = {"--config", config.string()};
  }

  void SetUpClinic(int clients) {
    wire_ = std::make_unique<WireRelay>(Address());
    admin_ = WireAccount::Generate();
    const std::optional<std::string> bootstrap = base::FromHex(bootstrap_);
    ASSERT_TRUE(bootstrap.has_value());
    ASSERT_TRUE(wire_->Register(*bootstrap, &admin_).ok());
    ASSERT_TRUE(wire_->Login(&admin_).ok());
    std::string code;
    therapist_ = WireAccount::Generate();
    ASSERT_TRUE(wire_->CreateInvite(admin_, v1::ROLE_THERAPIST, &code).ok());
    ASSERT_TRUE(wire_->Register(code, &therapist_).ok());
    ASSERT_TRUE(wire_->Login(&therapist_).ok());
    for (int i = 0; i < clients; ++i) {
      WireAccount c = WireAccount::Generate();
      ASSERT_TRUE(wire_->CreateInvite(therapist_, v1::ROLE_CLIENT, &code).ok());
      ASSERT_TRUE(wire_->Register(code, &c).ok());
      ASSERT_TRUE(wire_->Login(&c).ok());
      clients_.push_back(std::move(c));
    }
  }

  std::unique_ptr<WireRelay> wire_;
  WireAccount admin_;
  WireAccount therapist_;
  std::vector<WireAccount> clients_;
};

// A device may hold one Receive stream: each new one ends the one before with ABORTED. A client
// that opens ten thousand gets one, and the relay's memory does not follow the count.
TEST_F(RelayPressureTest, TenThousandStreamsFromOneDeviceLeaveOneAndBoundedMemory) {
  SetUpClinic(0);
  const uint64_t before = RssMiB(relay_->pid());
  constexpr int kStreams = 10'000;
  struct Stream {
    grpc::ClientContext ctx;
    v1::ReceiveResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncReader<v1::ReceiveResponse>> reader;
    int stage = 0;  // 0 starting, 1 reading, 2 finishing
  };
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::Relay::Stub>> stubs;
  for (int c = 0; c < 10; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("alliance.test.connection", c);
    channels.push_back(grpc::CreateCustomChannel(Address(), grpc::InsecureChannelCredentials(), args));
    stubs.push_back(v1::Relay::NewStub(channels.back()));
  }
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Stream>> streams;
  std::atomic<int> finished{0};
  std::atomic<int> aborted{0};
  std::thread pump([&] {
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
      auto* st = static_cast<Stream*>(tag);
      if (st->stage < 2 && ok) {
        st->stage = 1;
        st->reader->Read(&st->response, st);  // The backlog marker, then until the end.
      } else if (st->stage < 2) {
        st->stage = 2;
        st->reader->Finish(&st->status, st);
      } else {
        if (st->status.error_code() == grpc::StatusCode::ABORTED) ++aborted;
        ++finished;
      }
    }
  });
  for (int i = 0; i < kStreams; ++i) {
    auto st = std::make_unique<Stream>();
    st->ctx.AddMetadata("authorization", "Bearer " + base::ToHex(therapist_.token));
    st->reader = stubs[i % stubs.size()]->PrepareAsyncReceive(&st->ctx, v1::ReceiveRequest(), &cq);
    st->reader->StartCall(st.get());
    streams.push_back(std::move(st));
  }
  // Every stream but the last is ended by its successor.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (finished < kStreams - 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t after = RssMiB(relay_->pid());
  std::printf("10 000 streams from one device: %d ended (%d ABORTED), relay RSS %llu -> %llu MiB\n",
              finished.load(), aborted.load(), static_cast<unsigned long long>(before),
              static_cast<unsigned long long>(after));
  EXPECT_GE(finished.load(), kStreams - 1);
  EXPECT_LE(finished.load(), kStreams);
  EXPECT_GE(aborted.load(), kStreams - 1);
  EXPECT_LT(after, before + 64) << "the relay kept memory for replaced streams";
  // The relay still serves.
  WireAccount probe = admin_;
  EXPECT_TRUE(wire_->Login(&probe).ok());
  for (auto& st : streams) st->ctx.TryCancel();
  while (finished < kStreams && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  cq.Shutdown();
  pump.join();
}

// Twenty clients open Receive and never read while each has 9 MiB waiting (600 envelopes of
// 16 KiB). The relay reads a mailbox a batch at a time and writes one response at a time, so
// its memory grows by a bounded amount per stream, not by the backlog (192 MiB in all);
// once the readers read, everything arrives.
TEST_F(RelayPressureTest, ReadersThatNeverReadCannotMakeTheRelayHoldTheirBacklog) {
  constexpr int kClients = 20;
  constexpr int kPerClient = 600;
  SetUpClinic(kClients);
  const std::string payload(16 * 1024, 'e');
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 8; ++t) {
    senders.emplace_back([&] {
      for (int i = next++; i < kClients * kPerClient; i = next++) {
        v1::SendResponse r;
        if (!wire_->Send(therapist_, clients_[i % kClients].address(), RandomMessageId(), payload, &r)
                 .ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : senders) t.join();
  ASSERT_EQ(failures.load(), 0);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const uint64_t before = RssMiB(relay_->pid());

  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::ReceiveResponse>>> readers;
  for (const WireAccount& c : clients_) {
    ctxs.push_back(WireRelay::Context(c, std::chrono::minutes(5)));
    readers.push_back(wire_->relay().Receive(ctxs.back().get(), v1::ReceiveRequest()));
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));  // The relay fills what it can.
  const uint64_t stalled = RssMiB(relay_->pid());
  std::printf("20 readers that never read, 192 MiB waiting: relay RSS %llu -> %llu MiB\n",
              static_cast<unsigned long long>(before), static_cast<unsigned long long>(stalled));
  EXPECT_LT(stalled, before + 96) << "the relay buffered the backlog of streams nobody reads";

  // Now they read: every envelope arrives.
  for (size_t i = 0; i < readers.size(); ++i) {
    v1::ReceiveResponse r;
    int got = 0;
    while (readers[i]->Read(&r) && !r.backlog_complete()) {
      if (r.has_envelope()) ++got;
    }
    EXPECT_EQ(got, kPerClient) << "client " << i;
    ctxs[i]->TryCancel();
    (void)readers[i]->Finish();
  }
}

// Metadata far beyond gRPC's limit is refused by the transport before any of the relay's code
// runs; the relay answers the next caller.
TEST_F(RelayPressureTest, HugeMetadataIsRefusedAndTheRelayKeepsServing) {
  SetUpClinic(0);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + std::string(1 << 20, 'a'));
  ctx.AddMetadata("x-padding", std::string(1 << 20, 'b'));
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::AckRequest request;
  request.add_sequences(1);
  v1::AckResponse response;
  grpc::Status s = wire_->relay().Ack(&ctx, request, &response);
  EXPECT_FALSE(s.ok());
  std::printf("1 MiB metadata: %d %s\n", s.error_code(), s.error_message().c_str());
  // The transport may have closed that connection; the next caller, on a channel of its own,
  // is served once it has reconnected (a few attempts, not a fixed sleep).
  WireAccount probe = therapist_;
  grpc::Status login;
  for (int attempt = 0; attempt < 50; ++attempt) {
    WireRelay next(Address());
    login = next.Login(&probe);
    if (login.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(login.ok()) << login.error_code() << " " << login.error_message();
}

}  // namespace
}  // namespace alliance::e2e

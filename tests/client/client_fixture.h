// An in-process relay on 127.0.0.1 (real gRPC, real RocksDB in a temporary directory) and
// helpers that build a clinic through real invites: an admin, a therapist, a client.
#ifndef ALLIANCE_TESTS_CLIENT_CLIENT_FIXTURE_H_
#define ALLIANCE_TESTS_CLIENT_CLIENT_FIXTURE_H_

#include <filesystem>
#include <memory>
#include <string>

#include "client/client.h"
#include "gtest/gtest.h"
#include "server/infra/clock.h"
#include "server/infra/config.h"
#include "server/infra/logging.h"
#include "server/relay_server.h"

namespace alliance::client::testing {

inline crypto::ByteSpan Pass(const std::string& s) { return crypto::AsBytes(s); }

class ClientFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("alliance-client-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    relay_dir_ = (root_ / "relay").string();
    auto invite = server::RelayServer::Initialize(relay_dir_, &clock_);
    ASSERT_TRUE(invite.ok()) << invite.status();
    bootstrap_ = *invite;
    auto logger = server::Logger::Create((root_ / "relay.log").string(), "info");
    ASSERT_TRUE(logger.ok()) << logger.status();
    logger_ = *std::move(logger);
    StartRelay("127.0.0.1:0");
  }

  void TearDown() override {
    relay_.reset();
    logger_.reset();
    std::filesystem::remove_all(root_);
  }

  void StartRelay(const std::string& listen) {
    server::RelayOptions o;
    o.data_dir = relay_dir_;
    o.listen = listen;
    o.metrics_listen = "";
    o.limits = limits_;
    o.limits.send_rate_per_second = 100000;
    o.limits.send_burst = 100000;
    auto relay = server::RelayServer::Start(o, &clock_, logger_.get());
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    port_ = relay_->port();
  }
  void StopRelay() { relay_.reset(); }
  void RestartRelay() {
    StopRelay();
    StartRelay("127.0.0.1:" + std::to_string(port_));
  }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  ClientOptions Options(const std::string& name, bool hold_open = true) {
    ClientOptions o;
    o.profile_dir = (root_ / name).string();
    o.relay.address = Address();
    o.relay.call_timeout = absl::Seconds(5);
    o.store.hold_open = hold_open;
    o.store.cost = crypto::PassphraseCost::Interactive();  // Fast; the default is Moderate.
    return o;
  }

  // A registered client for `name` from `invite` (16 bytes).
  std::unique_ptr<Client> Join(const std::string& name, const std::string& invite,
                               bool hold_open = true) {
    auto c = Client::Init(Options(name, hold_open), Pass("pw-" + name));
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    absl::Status s = (*c)->Register(invite, name);
    EXPECT_TRUE(s.ok()) << s;
    return *std::move(c);
  }

  std::string Invite(Client& by, v1::Role role) {
    auto inv = by.CreateInvite(role);
    EXPECT_TRUE(inv.ok()) << inv.status();
    return *ParseInviteCode(inv->code);
  }

  // Admin, therapist "Rivera" and client "Sam" linked to her.
  void BuildClinic() {
    admin_ = Join("Admin", bootstrap_);
    ASSERT_NE(admin_, nullptr);
    therapist_ = Join("Rivera", Invite(*admin_, v1::ROLE_THERAPIST));
    ASSERT_NE(therapist_, nullptr);
    client_ = Join("Sam", Invite(*therapist_, v1::ROLE_CLIENT));
    ASSERT_NE(client_, nullptr);
  }

  std::filesystem::path root_;
  std::string relay_dir_;
  std::string bootstrap_;
  server::SystemClock clock_;
  std::unique_ptr<server::Logger> logger_;
  std::unique_ptr<server::RelayServer> relay_;
  int port_ = 0;
  server::Limits limits_;  // The relay's (set before StartRelay / RestartRelay).
  std::unique_ptr<Client> admin_, therapist_, client_;
};

}  // namespace alliance::client::testing

#endif  // ALLIANCE_TESTS_CLIENT_CLIENT_FIXTURE_H_

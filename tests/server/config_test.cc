// Configuration: TOML keys, validation, loopback detection, and the refusal to serve plaintext
// on a non-loopback address.
#include "server/infra/config.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "server/relay_server.h"
#include "server/services/service_util.h"
#include "tests/server/relay_harness.h"

namespace alliance::server {
namespace {

std::string WriteTemp(const std::string& text) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "alliance-cfg-XXXXXX").string();
  int fd = mkstemp(tmpl.data());
  EXPECT_GE(fd, 0);
  std::ofstream(tmpl) << text;
  return tmpl;
}

TEST(ConfigTest, DefaultsAreDocumented) {
  RelayOptions o;
  EXPECT_EQ(o.limits.max_envelope_bytes, 64u * 1024);
  EXPECT_EQ(o.limits.max_mailbox_envelopes, 10'000u);
  EXPECT_EQ(o.limits.retention, absl::Hours(24 * 30));
  EXPECT_EQ(o.limits.token_ttl, absl::Hours(24));
  EXPECT_EQ(o.limits.invite_ttl, absl::Hours(24 * 7));
  EXPECT_EQ(o.metrics_listen, "127.0.0.1:0");
  EXPECT_FALSE(o.insecure);
}

TEST(ConfigTest, LoadsEveryKey) {
  std::string path = WriteTemp(R"(
data = "/var/lib/alliance"
listen = "0.0.0.0:7443"
tls_cert = "/etc/alliance/cert.pem"
tls_key = "/etc/alliance/key.pem"
metrics_listen = "127.0.0.1:9464"
insecure = false
log_file = "/var/log/alliance/relay.log"
log_level = "warn"
sweep_interval_seconds = 300
commit_threads = 16
trusted_proxies = ["10.0.0.2", "2001:db8::7"]

[limits]
max_envelope_bytes = 32768
max_mailbox_envelopes = 500
retention_days = 14
send_rate_per_second = 2.5
send_burst = 20
max_one_time_prekeys_per_request = 50
max_one_time_prekeys_per_device = 150
token_ttl_hours = 12
challenge_ttl_seconds = 30
invite_ttl_days = 3
login_failures_burst = 4
login_failures_per_minute = 2
max_pending_challenges = 1000
)");
  RelayOptions o;
  ASSERT_TRUE(LoadConfigFile(path, &o).ok());
  EXPECT_EQ(o.data_dir, "/var/lib/alliance");
  EXPECT_EQ(o.listen, "0.0.0.0:7443");
  EXPECT_EQ(o.tls_cert_file, "/etc/alliance/cert.pem");
  EXPECT_EQ(o.tls_key_file, "/etc/alliance/key.pem");
  EXPECT_EQ(o.metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(o.log_file, "/var/log/alliance/relay.log");
  EXPECT_EQ(o.log_level, "warn");
  EXPECT_EQ(o.sweep_interval, absl::Seconds(300));
  EXPECT_EQ(o.commit_threads, 16);
  EXPECT_EQ(o.trusted_proxies, (std::vector<std::string>{"10.0.0.2", "2001:db8::7"}));
  EXPECT_EQ(o.limits.max_envelope_bytes, 32768u);
  EXPECT_EQ(o.limits.max_mailbox_envelopes, 500u);
  EXPECT_EQ(o.limits.retention, absl::Hours(24 * 14));
  EXPECT_EQ(o.limits.send_rate_per_second, 2.5);
  EXPECT_EQ(o.limits.send_burst, 20);
  EXPECT_EQ(o.limits.max_one_time_prekeys_per_request, 50u);
  EXPECT_EQ(o.limits.max_one_time_prekeys_per_device, 150u);
  EXPECT_EQ(o.limits.token_ttl, absl::Hours(12));
  EXPECT_EQ(o.limits.challenge_ttl, absl::Seconds(30));
  EXPECT_EQ(o.limits.invite_ttl, absl::Hours(72));
  EXPECT_EQ(o.limits.login_failures_burst, 4);
  EXPECT_EQ(o.limits.login_failures_per_minute, 2);
  EXPECT_EQ(o.limits.max_pending_challenges, 1000u);
  EXPECT_TRUE(ValidateOptions(o).ok());
  std::filesystem::remove(path);
}

TEST(ConfigTest, RejectsUnknownKeysBadTypesAndSyntax) {
  RelayOptions o;
  for (const char* text : {"listne = \"x\"\n", "[limits]\nretention = 3\n", "insecure = \"yes\"\n",
                           "[limits]\nsend_burst = -1\n", "listen = \n",
                           // A float, or one beyond the key's range, for an integer key.
                           "commit_threads = 1e77\n", "commit_threads = 2.5\n",
                           "commit_threads = 99999999999\n", "trusted_proxies = \"10.0.0.2\"\n",
                           "trusted_proxies = [1, 2]\n"}) {
    std::string path = WriteTemp(text);
    EXPECT_EQ(LoadConfigFile(path, &o).code(), absl::StatusCode::kInvalidArgument) << text;
    std::filesystem::remove(path);
  }
  EXPECT_EQ(LoadConfigFile("/nonexistent/relay.toml", &o).code(), absl::StatusCode::kNotFound);
}

TEST(ConfigTest, ValidationCatchesHalfTlsAndMissingData) {
  RelayOptions o;
  EXPECT_EQ(ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o.data_dir = "/tmp/x";
  EXPECT_TRUE(ValidateOptions(o).ok());
  o.tls_cert_file = "cert.pem";
  EXPECT_EQ(ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigTest, ATrustedProxyMustBeAnIpAddress) {
  RelayOptions o;
  o.data_dir = "/tmp/x";
  o.trusted_proxies = {"10.0.0.2", "::1"};
  EXPECT_TRUE(ValidateOptions(o).ok());
  o.trusted_proxies = {"proxy.example"};
  EXPECT_EQ(ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CallerAddressTest, APeerIsChargedForItselfWhateverItsHeadersSay) {
  const std::vector<std::string> none;
  EXPECT_EQ(CallerAddressBehindProxies("ipv4:203.0.113.9:5000", "198.51.100.1", none),
            "4:203.0.113.9");
  // Not a trusted proxy: its x-forwarded-for is the client's own claim.
  EXPECT_EQ(CallerAddressBehindProxies("ipv4:203.0.113.9:5000", "198.51.100.1", {"10.0.0.2"}),
            "4:203.0.113.9");
  EXPECT_EQ(CallerAddressFromPeer("ipv4:203.0.113.9:5000"), "4:203.0.113.9");
  EXPECT_EQ(CallerAddressFromPeer("unix:/run/x.sock"), "other");
  // IPv6: the /64.
  EXPECT_EQ(CallerAddressFromPeer("ipv6:[2001:db8:1:2::5]:443"),
            CallerAddressFromPeer("ipv6:[2001:db8:1:2::6]:443"));
  EXPECT_NE(CallerAddressFromPeer("ipv6:[2001:db8:1:2::5]:443"),
            CallerAddressFromPeer("ipv6:[2001:db8:1:3::5]:443"));
}

TEST(CallerAddressTest, BehindATrustedProxyTheAddressItAppendedIsCharged) {
  const std::vector<std::string> proxies = {"10.0.0.2", "fd00::2"};
  // The proxy appends the address it saw; what the client sent before it is ignored.
  EXPECT_EQ(CallerAddressBehindProxies("ipv4:10.0.0.2:40000", "198.51.100.1", proxies),
            "4:198.51.100.1");
  EXPECT_EQ(CallerAddressBehindProxies("ipv4:10.0.0.2:40000", "1.2.3.4, 198.51.100.1", proxies),
            "4:198.51.100.1");
  EXPECT_EQ(CallerAddressBehindProxies("ipv6:[fd00::2]:40000", " 2001:db8:5::1", proxies),
            CallerAddressFromPeer("ipv6:[2001:db8:5::1]:1"));
  EXPECT_EQ(CallerAddressBehindProxies("ipv4:10.0.0.2:40000", "[2001:db8:5::1]:443", proxies),
            CallerAddressFromPeer("ipv6:[2001:db8:5::1]:1"));
  // No header, or garbage: charged to the proxy, as without the setting.
  EXPECT_EQ(CallerAddressBehindProxies("ipv4:10.0.0.2:40000", "", proxies), "4:10.0.0.2");
  EXPECT_EQ(CallerAddressBehindProxies("ipv4:10.0.0.2:40000", "unknown", proxies), "4:10.0.0.2");
}

TEST(ConfigTest, PostgresStorageNeedsADatabaseUrlAndNoDataDirectory) {
  RelayOptions o;
  std::string path = WriteTemp(
      "storage = \"postgres\"\ndatabase_url = \"postgresql://alliance@db/alliance\"\n"
      "database_connections = 8\n");
  ASSERT_TRUE(LoadConfigFile(path, &o).ok());
  std::filesystem::remove(path);
  EXPECT_EQ(o.storage, "postgres");
  EXPECT_EQ(o.database_url, "postgresql://alliance@db/alliance");
  EXPECT_EQ(o.database_connections, 8);
  EXPECT_TRUE(ValidateOptions(o).ok());  // no --data needed
  o.database_url.clear();
  EXPECT_EQ(ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o.storage = "sqlite";
  o.data_dir = "/tmp/x";
  EXPECT_EQ(ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigTest, LoopbackDetection) {
  EXPECT_TRUE(IsLoopbackListenAddress("127.0.0.1:7443"));
  EXPECT_TRUE(IsLoopbackListenAddress("127.1.2.3:0"));
  EXPECT_TRUE(IsLoopbackListenAddress("localhost:7443"));
  EXPECT_TRUE(IsLoopbackListenAddress("[::1]:7443"));
  EXPECT_FALSE(IsLoopbackListenAddress("0.0.0.0:7443"));
  EXPECT_FALSE(IsLoopbackListenAddress("[::]:7443"));
  EXPECT_FALSE(IsLoopbackListenAddress("10.0.0.5:7443"));
  EXPECT_FALSE(IsLoopbackListenAddress("relay.example.org:7443"));
}

TEST(ConfigTest, RefusesPlaintextOnNonLoopbackUnlessInsecure) {
  testing::RelayHarness h;
  h.Stop();
  RelayOptions o = h.options();
  o.listen = "0.0.0.0:0";
  auto logger = Logger::Create(h.log_file(), "info");
  ASSERT_TRUE(logger.ok());
  ManualClock clock(absl::FromUnixSeconds(1'700'000'000));
  EXPECT_EQ(RelayServer::Start(o, &clock, logger->get()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  o.insecure = true;
  auto relay = RelayServer::Start(o, &clock, logger->get());
  ASSERT_TRUE(relay.ok()) << relay.status();
  EXPECT_GT((*relay)->port(), 0);
  (*relay)->Shutdown();
}

}  // namespace
}  // namespace alliance::server

// The relay's TLS with the real binaries: `alliance-relay tls init` makes a CA and a server
// certificate; clients with that CA connect, clients with another CA or facing an expired
// certificate fail in one line; `tls renew` plus SIGHUP serves a new certificate to new
// connections while an open Receive stream keeps its connection.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "server/admin/tls_init.h"
#include "tests/e2e/e2e_fixture.h"

namespace alliance::e2e {
namespace {

// Runs a shell command line; returns its stdout with the trailing newline removed.
std::string Shell(const std::string& command) {
  Result r = RunCommand({"/bin/sh", "-c", command});
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// Local TCP ports of `pid`'s established connections to 127.0.0.1:remote_port (from /proc).
std::set<int> ConnectionsTo(pid_t pid, int remote_port) {
  std::set<std::string> inodes;
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& f : fs::directory_iterator(fd_dir)) {
    std::error_code ec;
    std::string target = fs::read_symlink(f.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  std::set<int> ports;
  // gRPC uses dual-stack sockets, so IPv4 connections may be listed in tcp6 (v4-mapped).
  std::vector<std::string> rows =
      absl::StrSplit(ReadFile("/proc/net/tcp") + ReadFile("/proc/net/tcp6"), '\n');
  for (const std::string& row : rows) {
    std::vector<std::string> f = absl::StrSplit(row, ' ', absl::SkipEmpty());
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    if (f.size() < 10 || f[3] != "01" || inodes.count(f[9]) == 0) continue;
    const int local = std::stoi(f[1].substr(f[1].rfind(':') + 1), nullptr, 16);
    const int remote = std::stoi(f[2].substr(f[2].rfind(':') + 1), nullptr, 16);
    if (remote == remote_port) ports.insert(local);
  }
  return ports;
}

class RelayTlsE2eTest : public E2eFixture {
 protected:
  void PrepareRelay() override {
    tls_ = dir_ / "tls";
    Result made = RunCommand(
        {kRelay, "tls", "init", "--host", "relay.clinic.example", "--out", tls_.string()});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    tls_init_out_ = made.out;
    if (expired_) {
      // Re-issue the server certificate from the same CA, valid for one day 30 days ago.
      server::TlsInitOptions old{.host = "relay.clinic.example", .out_dir = tls_.string()};
      old.not_before = absl::Now() - absl::Hours(24 * 30);
      old.server_validity = absl::Hours(24);
      ASSERT_TRUE(server::RenewServerCertificate(old).ok());
    }
    relay_flags_ = {"--tls-cert", (tls_ / "cert.pem").string(), "--tls-key",
                    (tls_ / "key.pem").string()};
  }

  // `alliance init` and `register` over TLS with the given CA file.
  Result JoinWithCa(const std::string& who, const std::string& invite, const std::string& name,
                    const fs::path& ca) {
    std::ofstream(dir_ / (who + ".pass")) << "passphrase of " << who << "\n";
    MustRun(who, {"init", "--passphrase-cost", "interactive"});
    return Run(who, {"--relay", Address(), "--ca-file", ca.string(), "register", invite, "--name",
                     name});
  }

  // Serial number of the certificate the relay presents to a new connection ("ABC123...").
  std::string ServedSerial() {
    return Shell(absl::StrCat("openssl s_client -connect ", Address(),
                              " -servername localhost -alpn h2 </dev/null 2>/dev/null | "
                              "openssl x509 -noout -serial"));
  }
  std::string FileSerial(const fs::path& cert) {
    return Shell("openssl x509 -noout -serial -in " + cert.string());
  }

  fs::path tls_;
  std::string tls_init_out_;
  bool expired_ = false;
};

TEST_F(RelayTlsE2eTest, InitWritesPrivateKeysAndTheRegisterLine) {
  for (const char* key : {"ca.key", "key.pem"}) {
    struct stat st{};
    ASSERT_EQ(::stat((tls_ / key).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << key;
  }
  EXPECT_NE(tls_init_out_.find("alliance register <invite> --relay relay.clinic.example:7443 "
                               "--ca-file ca.pem --name"),
            std::string::npos)
      << tls_init_out_;
  // The SANs clients check: the host, 127.0.0.1 and localhost.
  std::string sans = Shell("openssl x509 -noout -ext subjectAltName -in " +
                           (tls_ / "cert.pem").string());
  EXPECT_NE(sans.find("DNS:relay.clinic.example"), std::string::npos) << sans;
  EXPECT_NE(sans.find("IP Address:127.0.0.1"), std::string::npos) << sans;
  EXPECT_NE(sans.find("DNS:localhost"), std::string::npos) << sans;
  EXPECT_EQ(Shell("openssl verify -CAfile " + (tls_ / "ca.pem").string() + " " +
                  (tls_ / "cert.pem").string()),
            (tls_ / "cert.pem").string() + ": OK");
  // A second init never overwrites a CA.
  Result again = RunCommand(
      {kRelay, "tls", "init", "--host", "relay.clinic.example", "--out", tls_.string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(Lines(again.err), 1) << again.err;
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  // Bad input: missing flags (usage, exit 2) and a host that is not a name.
  Result missing = RunCommand({kRelay, "tls", "init", "--out", (dir_ / "x").string()});
  EXPECT_NE(missing.exit_code, 0);
  Result bad_host =
      RunCommand({kRelay, "tls", "init", "--host", "a b", "--out", (dir_ / "x").string()});
  EXPECT_EQ(bad_host.exit_code, 1);
  EXPECT_EQ(Lines(bad_host.err), 1) << bad_host.err;
  Result no_ca = RunCommand({kRelay, "tls", "renew", "--host", "h", "--dir", dir_.string()});
  EXPECT_EQ(no_ca.exit_code, 1);
  EXPECT_EQ(no_ca.err.rfind("alliance-relay: no CA in ", 0), 0u) << no_ca.err;
}

TEST_F(RelayTlsE2eTest, RightCaConnectsWrongCaFailsInOneLine) {
  Result ok = JoinWithCa("admin", bootstrap_, "Clinic Admin", tls_ / "ca.pem");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  Result status =
      RunCommand({kRelay, "status", "--address", Address(), "--ca-file", (tls_ / "ca.pem").string()});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.out, "SERVING\n");

  const fs::path other = dir_ / "other-ca";
  ASSERT_EQ(RunCommand({kRelay, "tls", "init", "--host", "relay.clinic.example", "--out",
                        other.string()})
                .exit_code,
            0);
  Result wrong = JoinWithCa("therapist", Invite("admin", "therapist"), "Dr. Rivera",
                            other / "ca.pem");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_EQ(Lines(wrong.err), 1) << wrong.err;
  EXPECT_NE(wrong.err.find("TLS handshake failed"), std::string::npos) << wrong.err;
  Result wrong_status = RunCommand(
      {kRelay, "status", "--address", Address(), "--ca-file", (other / "ca.pem").string()});
  EXPECT_EQ(wrong_status.exit_code, 1);
  EXPECT_EQ(wrong_status.out, "");
  EXPECT_EQ(Lines(wrong_status.err), 1) << wrong_status.err;
  EXPECT_NE(wrong_status.err.find("TLS handshake failed"), std::string::npos) << wrong_status.err;
  // Plaintext to a TLS relay is one line too.
  Result plain = RunCommand({kRelay, "status", "--address", Address()});
  EXPECT_EQ(plain.exit_code, 1);
  EXPECT_EQ(Lines(plain.err), 1) << plain.err;
}

class ExpiredTlsE2eTest : public RelayTlsE2eTest {
 protected:
  ExpiredTlsE2eTest() { expired_ = true; }
};

TEST_F(ExpiredTlsE2eTest, ExpiredCertificateFailsInOneLine) {
  Result r = JoinWithCa("admin", bootstrap_, "Clinic Admin", tls_ / "ca.pem");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("TLS handshake failed"), std::string::npos) << r.err;
  Result status =
      RunCommand({kRelay, "status", "--address", Address(), "--ca-file", (tls_ / "ca.pem").string()});
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_EQ(Lines(status.err), 1) << status.err;
  EXPECT_NE(status.err.find("expired"), std::string::npos) << status.err;
  // The relay warned about it at start.
  EXPECT_NE(ReadFile((dir_ / "relay.log").string()).find("tls_certificate_expired"),
            std::string::npos);
}

TEST_F(RelayTlsE2eTest, RenewedCertificateServedAfterSighupStreamsKept) {
  const fs::path ca = tls_ / "ca.pem";
  ASSERT_EQ(JoinWithCa("admin", bootstrap_, "Clinic Admin", ca).exit_code, 0);
  ASSERT_EQ(JoinWithCa("therapist", Invite("admin", "therapist"), "Dr. Rivera", ca).exit_code, 0);
  ASSERT_EQ(JoinWithCa("client", Invite("therapist", "client"), "Sam Client", ca).exit_code, 0);
  const std::string first = FileSerial(tls_ / "cert.pem");
  ASSERT_EQ(ServedSerial(), first);

  const std::string watch_out = (dir_ / "watch.out").string();
  Background watch(As("therapist", {"--json", "watch"}), watch_out);
  auto wait_for = [&](const std::string& text) { return WaitForText(watch_out, text, 500); };
  MustRun("client", {"send", "therapist", "before renewal"});
  ASSERT_TRUE(wait_for("before renewal")) << ReadFile(watch_out);
  const std::set<int> stream_before = ConnectionsTo(watch.pid(), port_);
  ASSERT_EQ(stream_before.size(), 1u);

  Result renew =
      RunCommand({kRelay, "tls", "renew", "--host", "relay.clinic.example", "--dir", tls_.string()});
  ASSERT_EQ(renew.exit_code, 0) << renew.err;
  const std::string second = FileSerial(tls_ / "cert.pem");
  ASSERT_NE(second, first);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(ServedSerial(), first) << "files alone must not change what is served";

  ASSERT_EQ(::kill(relay_->pid(), SIGHUP), 0);
  std::string served;
  for (int i = 0; i < 50 && (served = ServedSerial()) != second; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(served, second);
  EXPECT_NE(ReadFile((dir_ / "relay.log").string()).find("\"tls_reloaded\""), std::string::npos);

  MustRun("client", {"send", "therapist", "after renewal"});
  EXPECT_TRUE(wait_for("after renewal")) << ReadFile(watch_out);
  EXPECT_EQ(ConnectionsTo(watch.pid(), port_), stream_before) << "the stream reconnected";

  // A mismatched pair on SIGHUP is refused and the renewed certificate stays in service.
  fs::copy_file(tls_ / "ca.key", tls_ / "key.pem", fs::copy_options::overwrite_existing);
  ASSERT_EQ(::kill(relay_->pid(), SIGHUP), 0);
  for (int i = 0; i < 50; ++i) {
    if (ReadFile((dir_ / "relay.log").string()).find("tls_reload_refused") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(ReadFile((dir_ / "relay.log").string()).find("does not belong to the certificate"),
            std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(ServedSerial(), second);
  EXPECT_EQ(watch.Stop(SIGTERM), 0);
  EXPECT_EQ(StopRelay(), 0);
}

}  // namespace
}  // namespace alliance::e2e

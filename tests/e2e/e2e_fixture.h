// Fixture for end-to-end tests with the real binaries: a fresh alliance-relay process on a free
// 127.0.0.1 port with its own data directory, and helpers that run `alliance` as a named profile.
#ifndef ALLIANCE_TESTS_E2E_E2E_FIXTURE_H_
#define ALLIANCE_TESTS_E2E_E2E_FIXTURE_H_

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/process.h"

namespace alliance::e2e {

namespace fs = std::filesystem;
using nlohmann::json;

inline const std::string kRelay = std::string(ALLIANCE_BINARY_DIR) + "/server/alliance-relay";
inline const std::string kCli = std::string(ALLIANCE_BINARY_DIR) + "/client/alliance";

// How many lines `s` has (a one-line error is exactly one).
inline int Lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Polls the file `path` (a background process's output) every 20 ms, up to `tries` times, until
// it contains `text`.
inline bool WaitForText(const std::string& path, const std::string& text, int tries) {
  for (int i = 0; i < tries; ++i) {
    if (ReadFile(path).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// True when `root` (a file, or any file below a directory) contains `needle`.
inline bool TreeContains(const fs::path& root, const std::string& needle) {
  if (fs::is_regular_file(root)) return ReadFile(root.string()).find(needle) != std::string::npos;
  for (const auto& f : fs::recursive_directory_iterator(root)) {
    if (f.is_regular_file() && ReadFile(f.path().string()).find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

class E2eFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("alliance-e2e-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Result init = RunCommand({kRelay, "init", "--data", (dir_ / "relay").string()});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    std::vector<std::string> lines = absl::StrSplit(init.out, '\n', absl::SkipEmpty());
    ASSERT_FALSE(lines.empty());
    bootstrap_ = lines.back();
    port_ = FreePort();
    PrepareRelay();
    StartRelay();
  }

  void TearDown() override {
    relay_.reset();
    fs::remove_all(dir_);
  }

  // Runs before the relay first starts (e.g. to make certificates).
  virtual void PrepareRelay() {}

  void StartRelay() {
    relay_ = std::make_unique<Background>(RelayArgs(), (dir_ / "relay.out").string());
    ASSERT_TRUE(WaitForPort(port_, 10)) << ReadFile((dir_ / "relay.out").string());
  }
  // The relay's command line; a fixture may add flags (TLS) in relay_flags_.
  std::vector<std::string> RelayArgs() const {
    std::vector<std::string> argv = {
        kRelay,     "serve",   "--data",     (dir_ / "relay").string(),
        "--listen", Address(), "--log-file", (dir_ / "relay.log").string()};
    argv.insert(argv.end(), relay_flags_.begin(), relay_flags_.end());
    return argv;
  }
  // SIGTERM; returns the relay's exit code.
  int StopRelay() { return relay_->Stop(SIGTERM); }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  // argv for `alliance` as profile `who`.
  std::vector<std::string> As(const std::string& who, std::vector<std::string> args) {
    std::vector<std::string> argv = {kCli, "--profile", (dir_ / who).string(), "--passphrase-file",
                                     (dir_ / (who + ".pass")).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  Result Run(const std::string& who, std::vector<std::string> args,
             const std::map<std::string, std::string>& env = {}) {
    return RunCommand(As(who, std::move(args)), env);
  }
  Result MustRun(const std::string& who, std::vector<std::string> args) {
    Result r = Run(who, args);
    EXPECT_EQ(r.exit_code, 0) << who << ": " << r.err;
    return r;
  }

  void Join(const std::string& who, const std::string& invite, const std::string& name) {
    std::ofstream(dir_ / (who + ".pass")) << "passphrase of " << who << "\n";
    MustRun(who, {"init", "--passphrase-cost", "interactive"});
    MustRun(who, {"--relay", Address(), "register", invite, "--name", name});
  }
  std::string Invite(const std::string& by, const std::string& role) {
    Result r = MustRun(by, {"--json", "admin", "invite", "--role", role});
    return json::parse(r.out)["code"];
  }
  // admin, therapist "Dr. Rivera", client "Sam Client" through real invites.
  void BuildClinic() {
    Join("admin", bootstrap_, "Clinic Admin");
    Join("therapist", Invite("admin", "therapist"), "Dr. Rivera");
    Join("client", Invite("therapist", "client"), "Sam Client");
  }

  fs::path dir_;
  std::vector<std::string> relay_flags_;
  std::string bootstrap_;
  int port_ = 0;
  std::unique_ptr<Background> relay_;
};

}  // namespace alliance::e2e

#endif  // ALLIANCE_TESTS_E2E_E2E_FIXTURE_H_

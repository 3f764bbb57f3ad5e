// End to end with the real binaries: one alliance-relay process, several `alliance` profile
// directories, everything over 127.0.0.1.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/process.h"

namespace alliance::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kRelay = std::string(ALLIANCE_BINARY_DIR) + "/server/alliance-relay";
const std::string kCli = std::string(ALLIANCE_BINARY_DIR) + "/client/alliance";

int Lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

bool TreeContains(const fs::path& root, const std::string& needle) {
  if (fs::is_regular_file(root)) return ReadFile(root.string()).find(needle) != std::string::npos;
  for (const auto& f : fs::recursive_directory_iterator(root)) {
    if (f.is_regular_file() && ReadFile(f.path().string()).find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

class CliE2eTest : public ::testing::Test {
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
    StartRelay();
  }

  void TearDown() override {
    relay_.reset();
    fs::remove_all(dir_);
  }

  void StartRelay() {
    relay_ = std::make_unique<Background>(
        std::vector<std::string>{kRelay, "serve", "--data", (dir_ / "relay").string(), "--listen",
                                 Address(), "--log-file", (dir_ / "relay.log").string()},
        (dir_ / "relay.out").string());
    ASSERT_TRUE(WaitForPort(port_, 10)) << ReadFile((dir_ / "relay.out").string());
  }
  int StopRelay() { return relay_->Stop(SIGTERM); }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

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
    MustRun(who, {"init"});
    MustRun(who, {"--relay", Address(), "register", invite, "--name", name});
  }
  std::string Invite(const std::string& by, const std::string& role) {
    Result r = MustRun(by, {"--json", "admin", "invite", "--role", role});
    return json::parse(r.out)["code"];
  }
  void BuildClinic() {
    Join("admin", bootstrap_, "Clinic Admin");
    Join("therapist", Invite("admin", "therapist"), "Dr. Rivera");
    Join("client", Invite("therapist", "client"), "Sam Client");
  }
  json History(const std::string& who, const std::string& contact) {
    Result r = MustRun(who, {"--json", "history", contact});
    return json::parse(r.out);
  }

  fs::path dir_;
  std::string bootstrap_;
  int port_ = 0;
  std::unique_ptr<Background> relay_;
};

TEST_F(CliE2eTest, ConversationBothWaysWithMatchingSafetyNumbers) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "Can we talk about Tuesday?"});
  json t = History("therapist", "client");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]["body"], "Can we talk about Tuesday?");
  EXPECT_EQ(t[0]["contact_name"], "Sam Client");
  MustRun("therapist", {"send", "Sam Client", "Yes, first thing."});
  json c = History("client", "therapist");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0]["state"], "delivered");
  EXPECT_EQ(c[1]["body"], "Yes, first thing.");
  json a = json::parse(MustRun("client", {"--json", "safety-number", "therapist"}).out);
  json b = json::parse(MustRun("therapist", {"--json", "safety-number", "client"}).out);
  EXPECT_EQ(a["safety_number"], b["safety_number"]);
  EXPECT_EQ(a["safety_number"].get<std::string>().size(), 60u);
  // Text from stdin.
  Result piped = RunCommand(As("client", {"send", "therapist"}), {}, "from stdin\n");
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(History("therapist", "client").back()["body"], "from stdin");
}

TEST_F(CliE2eTest, RecipientOfflineThenOnlineGetsEverythingInOrder) {
  BuildClinic();
  for (int i = 0; i < 12; ++i)
    MustRun("client", {"send", "therapist", "note " + std::to_string(i)});
  json got = json::parse(MustRun("therapist", {"--json", "sync"}).out);
  ASSERT_EQ(got.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(got[i]["body"], "note " + std::to_string(i));
  EXPECT_EQ(json::parse(MustRun("therapist", {"--json", "sync"}).out).size(), 0u);
}

TEST_F(CliE2eTest, RelayRestartMidConversation) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "before"});
  EXPECT_EQ(StopRelay(), 0);  // SIGTERM: clean exit.
  Result down = Run("client", {"send", "therapist", "while the relay is down"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_EQ(Lines(down.err), 1);
  EXPECT_EQ(down.err.rfind("alliance: cannot reach relay " + Address() + ": connection refused", 0),
            0u)
      << down.err;
  StartRelay();
  MustRun("client", {"send", "therapist", "after"});
  json t = History("therapist", "client");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0]["body"], "before");
  EXPECT_EQ(t[1]["body"], "while the relay is down");
  EXPECT_EQ(t[2]["body"], "after");
}

TEST_F(CliE2eTest, WrongPassphraseIsOneClearLine) {
  BuildClinic();
  std::ofstream(dir_ / "wrong.pass") << "not it\n";
  Result r = RunCommand({kCli, "--profile", (dir_ / "client").string(), "--passphrase-file",
                         (dir_ / "wrong.pass").string(), "inbox"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "alliance: wrong passphrase or damaged key file\n");
  Result no_pass = RunCommand({kCli, "--profile", (dir_ / "client").string(), "inbox"});
  EXPECT_EQ(no_pass.exit_code, 1);
  EXPECT_EQ(Lines(no_pass.err), 1);
  Result usage = Run("client", {"send"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_EQ(Lines(usage.err), 1);
}

TEST_F(CliE2eTest, CorruptedLocalStoreGivesAnErrorNotACrash) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "history to lose"});
  for (const auto& f : fs::directory_iterator(dir_ / "client" / "db")) {
    const std::string name = f.path().filename().string();
    if (name.find(".log") == std::string::npos && name.find(".sst") == std::string::npos &&
        name.find("MANIFEST") == std::string::npos) {
      continue;
    }
    std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(0, std::ios::end);
    const std::streamoff size = io.tellg();
    for (std::streamoff pos = 3; pos < size; pos += 61) {
      io.seekp(pos);
      io.put('\x77');
    }
  }
  Result r = Run("client", {"history", "therapist"});
  EXPECT_EQ(r.signal, 0) << "crashed";
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("alliance: ", 0), 0u);
}

TEST_F(CliE2eTest, KilledBetweenReceiveAndAckGetsMessageExactlyOnce) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "exactly once please"});
  Result crashed = Run("therapist", {"sync"}, {{"ALLIANCE_TEST_CRASH_BEFORE_ACK", "1"}});
  EXPECT_EQ(crashed.exit_code, 137);
  json again = json::parse(MustRun("therapist", {"--json", "sync"}).out);
  EXPECT_EQ(again.size(), 0u);  // Redelivered, recognized as already stored.
  json t = History("therapist", "client");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]["body"], "exactly once please");
}

TEST_F(CliE2eTest, WatchAndSendShareOneProfile) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "opening message"});
  const std::string watch_out = (dir_ / "watch.out").string();
  Background watch(As("therapist", {"--json", "watch"}), watch_out);
  auto wait_for = [&](const std::string& text) {
    for (int i = 0; i < 300; ++i) {
      if (ReadFile(watch_out).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  EXPECT_TRUE(wait_for("opening message")) << ReadFile(watch_out);
  MustRun("client", {"send", "therapist", "live while watching"});
  EXPECT_TRUE(wait_for("live while watching")) << ReadFile(watch_out);
  // The therapist answers from another terminal on the same profile while watch runs.
  MustRun("therapist", {"send", "client", "answer from the second terminal"});
  json c = History("client", "therapist");
  EXPECT_EQ(c.back()["body"], "answer from the second terminal");
  EXPECT_EQ(watch.Stop(SIGTERM), 0);
}

TEST_F(CliE2eTest, NoPlaintextOrNamesInRelayFilesOrProfiles) {
  BuildClinic();
  const std::string marker = "E2E-PLAINTEXT-MARKER-93af17";
  MustRun("client", {"send", "therapist", marker});
  MustRun("therapist", {"history", "client"});
  MustRun("therapist", {"send", "client", marker + " reply"});
  MustRun("client", {"history", "therapist"});
  EXPECT_EQ(StopRelay(), 0);
  for (const std::string& secret : {marker, std::string("Dr. Rivera"), std::string("Sam Client")}) {
    EXPECT_FALSE(TreeContains(dir_ / "relay", secret)) << secret;
    EXPECT_FALSE(TreeContains(dir_ / "relay.log", secret)) << secret;
    EXPECT_FALSE(TreeContains(dir_ / "relay.out", secret)) << secret;
    for (const char* profile : {"admin", "therapist", "client"}) {
      EXPECT_FALSE(TreeContains(dir_ / profile, secret)) << profile << " " << secret;
    }
  }
  // The relay did write something: the scan looked at real files.
  EXPECT_GT(ReadFile((dir_ / "relay.log").string()).size(), 0u);
}

TEST_F(CliE2eTest, AdminSeesMembersAndAuditButNoContent) {
  BuildClinic();
  json members = json::parse(MustRun("admin", {"--json", "admin", "members"}).out);
  EXPECT_EQ(members.size(), 3u);
  json audit = json::parse(MustRun("admin", {"--json", "admin", "audit"}).out);
  EXPECT_GE(audit.size(), 3u);
  Result denied = Run("client", {"admin", "members"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_EQ(Lines(denied.err), 1);
}

}  // namespace
}  // namespace alliance::e2e

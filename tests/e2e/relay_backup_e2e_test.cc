// Online backup and restore with the real binaries: `alliance-relay backup` while two clients
// keep sending, `restore` into a new directory, and a relay started there delivers every
// envelope whose Send had returned OK before the backup began.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "tests/e2e/e2e_fixture.h"

namespace alliance::e2e {
namespace {

using Clock = std::chrono::steady_clock;

struct Sent {
  std::string body;
  bool ok;
  Clock::time_point returned;
};

class BackupE2eTest : public E2eFixture {
 protected:
  std::string Relay() const { return (dir_ / "relay").string(); }
  // Every message body the therapist can still fetch, syncing until nothing is left.
  std::set<std::string> DrainTherapist() {
    std::set<std::string> bodies;
    for (int round = 0; round < 50; ++round) {
      Result r = MustRun("therapist", {"--json", "sync"});
      json got = json::parse(r.out);
      if (got.empty()) break;
      for (const auto& m : got) bodies.insert(m["body"].get<std::string>());
    }
    return bodies;
  }
};

TEST_F(BackupE2eTest, BackupWhileSendingRestoresEverySentEnvelope) {
  BuildClinic();
  Join("client2", Invite("therapist", "client"), "Kim Client");
  MustRun("client", {"send", "therapist", "client first"});
  MustRun("client2", {"send", "therapist", "client2 first"});

  std::mutex mu;
  std::vector<Sent> sent;
  std::atomic<bool> stop{false};
  auto sender = [&](const std::string& who) {
    for (int i = 0; !stop.load(); ++i) {
      const std::string body = who + " #" + std::to_string(i);
      Result r = Run(who, {"send", "therapist", body});
      std::lock_guard<std::mutex> lock(mu);
      sent.push_back({body, r.exit_code == 0, Clock::now()});
    }
  };
  std::thread a(sender, "client");
  std::thread b(sender, "client2");
  // Until at least four sends have returned (each is a whole CLI run, so how long that takes
  // depends on the machine's load), at most 60 s.
  for (int waited = 0; waited < 600; ++waited) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (sent.size() >= 4) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  const fs::path backup = dir_ / "backup";
  const Clock::time_point began = Clock::now();
  Result taken = RunCommand({kRelay, "backup", "--data", Relay(), "--to", backup.string()});
  const double backup_seconds = std::chrono::duration<double>(Clock::now() - began).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // senders keep going
  stop = true;
  a.join();
  b.join();
  ASSERT_EQ(taken.exit_code, 0) << taken.err;
  EXPECT_NE(taken.out.find("verified: ok: schema version "), std::string::npos) << taken.out;

  std::set<std::string> expected = {"client first", "client2 first"};
  size_t after = 0;
  for (const Sent& s : sent) {
    ASSERT_TRUE(s.ok) << s.body;
    if (s.returned < began) {
      expected.insert(s.body);
    } else {
      ++after;
    }
  }
  ASSERT_GT(expected.size(), 4u) << "the senders did not get going";
  ASSERT_GT(after, 0u) << "no send overlapped or followed the backup";

  // A backup into a directory that is not empty is refused in one line.
  Result again = RunCommand({kRelay, "backup", "--data", Relay(), "--to", backup.string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(Lines(again.err), 1) << again.err;
  EXPECT_NE(again.err.find("not empty"), std::string::npos) << again.err;

  EXPECT_EQ(StopRelay(), 0);
  // With the relay stopped, backup says so in one line.
  Result down = RunCommand({kRelay, "backup", "--data", Relay(), "--to", (dir_ / "b2").string()});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_EQ(Lines(down.err), 1) << down.err;
  EXPECT_NE(down.err.find("no running relay answers on"), std::string::npos) << down.err;

  // Restore: refuses a non-empty target and a missing backup, then restores into a new one.
  Result into_live = RunCommand({kRelay, "restore", "--from", backup.string(), "--data", Relay()});
  EXPECT_EQ(into_live.exit_code, 1);
  EXPECT_EQ(Lines(into_live.err), 1) << into_live.err;
  EXPECT_NE(into_live.err.find("not empty"), std::string::npos) << into_live.err;
  Result missing = RunCommand({kRelay, "restore", "--from", (dir_ / "nothing").string(), "--data",
                               (dir_ / "r0").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(Lines(missing.err), 1) << missing.err;
  EXPECT_FALSE(fs::exists(dir_ / "r0"));
  Result usage = RunCommand({kRelay, "restore", "--from", backup.string()});
  EXPECT_NE(usage.exit_code, 0);

  const fs::path restored = dir_ / "restored";
  const Clock::time_point restore_began = Clock::now();
  Result r = RunCommand({kRelay, "restore", "--from", backup.string(), "--data", restored.string()});
  const double restore_seconds = std::chrono::duration<double>(Clock::now() - restore_began).count();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("audit chain of"), std::string::npos) << r.out;
  std::printf("[ figures ] %zu envelopes sent before the backup, %zu after; backup %.3f s, "
              "restore %.3f s\n",
              expected.size(), after, backup_seconds, restore_seconds);

  // A relay on the restored directory delivers every envelope sent before the backup began.
  relay_ = std::make_unique<Background>(
      std::vector<std::string>{kRelay, "serve", "--data", restored.string(), "--listen", Address(),
                               "--log-file", (dir_ / "restored.log").string()},
      (dir_ / "restored.out").string());
  ASSERT_TRUE(WaitForPort(port_, 10)) << ReadFile((dir_ / "restored.out").string());
  std::set<std::string> got = DrainTherapist();
  for (const std::string& body : expected) EXPECT_EQ(got.count(body), 1u) << body;
  EXPECT_EQ(StopRelay(), 0);
}

}  // namespace
}  // namespace alliance::e2e

// Crash drill for the client (issue 11): the real `alliance` CLI is killed for real (SIGKILL,
// through the test-only ALLIANCE_CRASH_POINT hook of client/internal/crash_point.h) at each
// point of the send and receive paths where a message changes hands:
//   outbox-stored   committed to the outbox (ratchet advanced), not sent
//   sent-unmarked   accepted by the relay, still queued in the outbox and the history
//   stored-unacked  received and stored, not acknowledged to the relay
// After a restart nothing is lost, nothing is shown twice (history on both sides), and the
// ratchet still works both ways. The app (app/) embeds the same ClientCore, so these points
// cover it too.
#include <signal.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/e2e_fixture.h"

namespace alliance::e2e {
namespace {

class ClientCrashDrillTest : public E2eFixture {
 protected:
  // A clinic whose therapist and client have exchanged one message each way, so that both
  // sessions exist and the profile messages are out of the way: the next queued content is
  // the text under test.
  void SetUp() override {
    E2eFixture::SetUp();
    if (HasFatalFailure()) return;
    BuildClinic();
    MustRun("client", {"send", "therapist", "hello"});
    MustRun("therapist", {"sync"});
    MustRun("therapist", {"send", "client", "hello back"});
    MustRun("client", {"sync"});
  }

  json History(const std::string& who, const std::string& contact) {
    return json::parse(MustRun(who, {"--json", "history", contact}).out);
  }
  std::vector<std::string> Bodies(const json& history) {
    std::vector<std::string> out;
    for (const json& m : history) out.push_back(m["body"]);
    return out;
  }
  // `who` runs `args` with the crash point set and must die of SIGKILL there.
  void Crash(const std::string& who, const std::string& point, std::vector<std::string> args) {
    Result r = Run(who, std::move(args), {{"ALLIANCE_CRASH_POINT", point}});
    EXPECT_EQ(r.signal, SIGKILL) << point << " not reached: exit " << r.exit_code << " " << r.err;
  }
  // After the restart the sessions still work: one more message each way arrives intact.
  void ExpectRatchetWorksBothWays(size_t therapist_entries, size_t client_entries) {
    MustRun("therapist", {"send", "client", "still there?"});
    MustRun("client", {"sync"});
    MustRun("client", {"send", "therapist", "yes, still here"});
    json t = History("therapist", "client");
    json c = History("client", "therapist");
    ASSERT_EQ(t.size(), therapist_entries + 2) << t.dump();
    ASSERT_EQ(c.size(), client_entries + 2) << c.dump();
    EXPECT_EQ(t.back()["body"], "yes, still here");
    EXPECT_EQ(c[c.size() - 2]["body"], "still there?");
    for (const json& m : t) EXPECT_FALSE(m["undecryptable"].get<bool>()) << t.dump();
    for (const json& m : c) EXPECT_FALSE(m["undecryptable"].get<bool>()) << c.dump();
  }
};

TEST_F(ClientCrashDrillTest, KilledAfterOutboxStoreSendsOnRestartExactlyOnce) {
  Crash("client", "outbox-stored", {"send", "therapist", "stored, not sent"});
  // The next command flushes the outbox first, then sends its own message.
  MustRun("client", {"send", "therapist", "next"});
  const std::vector<std::string> expected = {"hello", "hello back", "stored, not sent", "next"};
  EXPECT_EQ(Bodies(History("therapist", "client")), expected);
  json c = History("client", "therapist");
  EXPECT_EQ(Bodies(c), expected);
  for (const json& m : c) EXPECT_NE(m["state"], "queued") << c.dump();
  ExpectRatchetWorksBothWays(4, 4);
}

TEST_F(ClientCrashDrillTest, KilledAfterSendBeforeMarkingSentIsNotDeliveredTwice) {
  Crash("client", "sent-unmarked", {"send", "therapist", "sent, not marked"});
  // The relay has it; the recipient gets it now, before the sender's retry.
  EXPECT_EQ(Bodies(History("therapist", "client")),
            (std::vector<std::string>{"hello", "hello back", "sent, not marked"}));
  // The sender's next command resends it with the same id: the relay answers "duplicate"
  // and stores nothing, and the history entry moves on from queued.
  MustRun("client", {"send", "therapist", "next"});
  const std::vector<std::string> expected = {"hello", "hello back", "sent, not marked", "next"};
  EXPECT_EQ(Bodies(History("therapist", "client")), expected);
  json c = History("client", "therapist");
  EXPECT_EQ(Bodies(c), expected);
  for (const json& m : c) EXPECT_NE(m["state"], "queued") << c.dump();
  ExpectRatchetWorksBothWays(4, 4);
}

TEST_F(ClientCrashDrillTest, KilledAfterStoringBeforeAckShowsEachMessageOnce) {
  MustRun("client", {"send", "therapist", "first"});
  MustRun("client", {"send", "therapist", "second"});
  Crash("therapist", "stored-unacked", {"sync"});
  // Redelivered after the restart and recognized as stored: nothing new to show.
  EXPECT_EQ(json::parse(MustRun("therapist", {"--json", "sync"}).out).size(), 0u);
  const std::vector<std::string> expected = {"hello", "hello back", "first", "second"};
  EXPECT_EQ(Bodies(History("therapist", "client")), expected);
  // The delivery receipts the killed sync never sent still reach the sender.
  json c = History("client", "therapist");
  EXPECT_EQ(Bodies(c), expected);
  EXPECT_EQ(c[2]["state"], "delivered") << c.dump();
  EXPECT_EQ(c[3]["state"], "delivered") << c.dump();
  ExpectRatchetWorksBothWays(4, 4);
}

TEST_F(ClientCrashDrillTest, WatchKilledAfterStoringBeforeAckShowsTheMessageOnce) {
  MustRun("client", {"send", "therapist", "while watching"});
  // `watch` (Listen) stores and acknowledges one envelope at a time: the same point there.
  Crash("therapist", "stored-unacked", {"watch"});
  const std::vector<std::string> expected = {"hello", "hello back", "while watching"};
  EXPECT_EQ(Bodies(History("therapist", "client")), expected);
  ExpectRatchetWorksBothWays(3, 3);
}

}  // namespace
}  // namespace alliance::e2e

// Issue 5 with the real binaries: propose -> accept -> a message outside the agreed hours shows
// the notice and due time -> the therapist's due list -> a reply clears it; a one-sided
// agreement is never in force; the relay's files contain none of the agreement text.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_fixture.h"

namespace alliance::e2e {
namespace {

const char* const kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

// The weekday `days` from today (UTC), as the CLI spells it.
std::string Day(int days) {
  const absl::Weekday w = absl::GetWeekday(absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()));
  return kDays[(static_cast<int>(w) + days) % 7];
}

class CareE2eTest : public E2eFixture {
 protected:
  void SetUp() override {
    E2eFixture::SetUp();
    Join("admin", bootstrap_, "Admin");
    Join("therapist", Invite("admin", "therapist"), "Dr. Rivera");
    Join("client", Invite("therapist", "client"), "Sam");
  }
};

TEST_F(CareE2eTest, ProposeAcceptNoticeDueListAndReplyClears) {
  const std::string emergency = "AGREEMENT-TEXT-7d1e: call 112 in an emergency";
  // A window ending when it starts is a typo, never 24 hours: refused in one line.
  Result typo = Run("therapist", {"agreement", "propose", "client", "--time-zone", "UTC",
                                  "--window", "mon 09:00-09:00", "--emergency", emergency});
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_EQ(std::count(typo.err.begin(), typo.err.end(), '\n'), 1) << typo.err;
  EXPECT_NE(typo.err.find("mon 00:00-24:00"), std::string::npos) << typo.err;
  MustRun("therapist",
          {"agreement", "propose", "client", "--time-zone", "UTC", "--window",
           Day(2) + " 09:00-17:00", "--reply-within-hours", "4", "--emergency", emergency});
  // One-sided: never in force.
  json shown = json::parse(MustRun("client", {"--json", "agreement", "show", "therapist"}).out);
  EXPECT_TRUE(shown["in_force"].is_null());
  EXPECT_EQ(shown["pending"]["version"], 1);
  MustRun("client", {"agreement", "accept", "therapist"});
  json in_force = json::parse(MustRun("therapist", {"--json", "agreement", "show", "client"}).out);
  ASSERT_FALSE(in_force["in_force"].is_null());
  EXPECT_EQ(in_force["in_force"]["emergency_notice"], emergency);

  Result sent = MustRun("client", {"send", "therapist", "Hard evening, can we talk?"});
  EXPECT_NE(sent.out.find("outside agreed hours — expect a reply by"), std::string::npos)
      << sent.out;
  EXPECT_NE(sent.out.find(emergency), std::string::npos);
  json sent_json =
      json::parse(MustRun("client", {"--json", "send", "therapist", "One more thing"}).out);
  EXPECT_FALSE(sent_json["reply_due"].is_null());

  json due = json::parse(MustRun("therapist", {"--json", "inbox", "--due"}).out);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0]["due_at"], sent_json["reply_due"]);  // Same due time on both sides.
  EXPECT_EQ(due[0]["waiting"], 2);
  MustRun("therapist", {"send", "client", "Yes, let's talk on Thursday."});
  EXPECT_EQ(json::parse(MustRun("therapist", {"--json", "inbox", "--due"}).out).size(), 0u);

  // The relay saw none of it.
  EXPECT_EQ(relay_->Stop(SIGTERM), 0);
  EXPECT_FALSE(TreeContains(dir_ / "relay", "AGREEMENT-TEXT-7d1e"));
  EXPECT_FALSE(TreeContains(dir_ / "relay.log", "AGREEMENT-TEXT-7d1e"));
  EXPECT_FALSE(TreeContains(dir_ / "relay", "Hard evening"));
}

TEST_F(CareE2eTest, WatchHoldsNotificationsOutsideTheTherapistsHours) {
  MustRun("therapist", {"agreement", "propose", "client", "--time-zone", "UTC", "--window",
                        Day(3) + " 09:00-10:00", "--emergency", "Call 112 in an emergency."});
  MustRun("client", {"agreement", "accept", "therapist"});
  MustRun("therapist", {"sync"});
  const std::string out = (dir_ / "watch.out").string();
  Background watch(As("therapist", {"--json", "watch"}), out);
  MustRun("client", {"send", "therapist", "late night thought"});
  MustRun("client", {"send", "therapist", "another one"});
  bool held = false;
  for (int i = 0; i < 300 && !held; ++i) {
    held = ReadFile(out).find("\"held\":2") != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(held) << ReadFile(out);
  EXPECT_EQ(ReadFile(out).find("late night thought"), std::string::npos);  // Not shown now...
  EXPECT_EQ(watch.Stop(SIGTERM), 0);
  json due = json::parse(MustRun("therapist", {"--json", "inbox", "--due"}).out);
  ASSERT_EQ(due.size(), 1u);  // ...but waiting in the due list.
  EXPECT_EQ(due[0]["waiting"], 2);
}

TEST_F(CareE2eTest, ConcernsGoalsDigestAndBadInput) {
  json opened = json::parse(MustRun("client", {"--json", "concern", "open", "therapist", "Sleep",
                                               "--note", "Waking at 4am"})
                                .out);
  const std::string id = opened["id"];
  MustRun("therapist", {"concern", "ack", "client", id.substr(0, 8)});
  MustRun("therapist", {"concern", "defer", "client", id.substr(0, 8), "--note", "Tuesday"});
  json concerns = json::parse(MustRun("client", {"--json", "concern", "list", "therapist"}).out);
  ASSERT_EQ(concerns.size(), 1u);
  EXPECT_EQ(concerns[0]["state"], "deferred");
  MustRun("client", {"send", "therapist", "--intent", "next-session", "About my sister"});
  json digest = json::parse(MustRun("therapist", {"--json", "digest", "client"}).out);
  EXPECT_EQ(digest.size(), 2u);  // The next-session message and the deferred concern.

  json goal = json::parse(
      MustRun("therapist", {"--json", "goals", "add", "client", "Walk three times a week"}).out);
  MustRun("client", {"goals", "progress", "therapist", goal["id"].get<std::string>().substr(0, 8),
                     "Twice so far", "--percent", "60"});
  json goals = json::parse(MustRun("therapist", {"--json", "goals", "list", "client"}).out);
  ASSERT_EQ(goals.size(), 1u);
  EXPECT_EQ(goals[0]["percent"], 60);

  // Bad input: one clear line and a non-zero exit.
  Result bad_window = Run("therapist", {"agreement", "propose", "client", "--time-zone", "UTC",
                                        "--window", "someday", "--emergency", "x"});
  EXPECT_EQ(bad_window.exit_code, 1);
  EXPECT_EQ(bad_window.err, "alliance: window must look like 'mon 09:00-12:00'\n");
  Result bad_zone =
      Run("therapist", {"agreement", "propose", "client", "--time-zone", "Mars/Olympus", "--window",
                        "mon 09:00-10:00", "--emergency", "x"});
  EXPECT_EQ(bad_zone.exit_code, 1);
  Result no_concern = Run("therapist", {"concern", "ack", "client", "ffffffff"});
  EXPECT_EQ(no_concern.exit_code, 1);
  EXPECT_NE(no_concern.err.find("no concern matches"), std::string::npos);
}

}  // namespace
}  // namespace alliance::e2e

// Tests for client/care/goals.h: the shared goal list and its convergence under concurrent
// edits delivered in any order.
#include "care/goals.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/care/care_test_util.h"

namespace alliance::care {
namespace {

constexpr v1::Party kT = v1::PARTY_THERAPIST;
constexpr v1::Party kC = v1::PARTY_CLIENT;

std::string Id(const std::string& label) {
  std::string id = label;
  id.resize(16, '.');
  return id;
}

v1::GoalEvent Base(const std::string& event, const std::string& goal, v1::GoalAction action,
                   uint64_t lamport, v1::Party author) {
  v1::GoalEvent e;
  e.set_event_id(Id(event));
  e.set_goal_id(Id(goal));
  e.set_action(action);
  e.set_lamport(lamport);
  e.set_author(author);
  return e;
}

v1::GoalEvent Add(const std::string& event, const std::string& goal, uint64_t lamport,
                  v1::Party author, const std::string& title) {
  v1::GoalEvent e = Base(event, goal, v1::GOAL_ACTION_ADD, lamport, author);
  e.set_title(title);
  return e;
}

v1::GoalEvent Edit(const std::string& event, const std::string& goal, uint64_t lamport,
                   v1::Party author, const std::string& title, const std::string& description) {
  v1::GoalEvent e = Base(event, goal, v1::GOAL_ACTION_EDIT, lamport, author);
  e.set_title(title);
  e.set_description(description);
  return e;
}

v1::GoalEvent Progress(const std::string& event, const std::string& goal, uint64_t lamport,
                       v1::Party author, const std::string& note, int percent = -1) {
  v1::GoalEvent e = Base(event, goal, v1::GOAL_ACTION_PROGRESS, lamport, author);
  e.set_note(note);
  if (percent >= 0) {
    e.set_has_percent(true);
    e.set_percent(static_cast<uint32_t>(percent));
  }
  return e;
}

v1::GoalEvent Complete(const std::string& event, const std::string& goal, uint64_t lamport,
                       v1::Party author) {
  return Base(event, goal, v1::GOAL_ACTION_COMPLETE, lamport, author);
}

std::string Describe(const GoalList& list) {
  std::string out = absl::StrCat("ignored=", list.ignored_events, "\n");
  for (const Goal& g : list.goals) {
    absl::StrAppend(&out, g.goal_id, "|", g.title, "|", g.description, "|",
                    static_cast<int>(g.added_by), "|", g.added_lamport, "|", g.updated_lamport, "|",
                    static_cast<int>(g.updated_by), "|",
                    g.percent.has_value() ? absl::StrCat(*g.percent) : "-", "|", g.completed, "|",
                    static_cast<int>(g.completed_by), "|", g.completion_note, "\n");
    for (const GoalProgress& p : g.progress) {
      absl::StrAppend(&out, "  ", p.lamport, "|", static_cast<int>(p.author), "|", p.note, "|",
                      p.percent.has_value() ? absl::StrCat(*p.percent) : "-", "\n");
    }
  }
  return out;
}

TEST(GoalsTest, AddEditRecordProgressComplete) {
  std::vector<v1::GoalEvent> log = {Add("e1", "g1", 1, kT, "Sleep seven hours")};
  log.push_back(Edit("e2", "g1", 2, kC, "", "Lights out by 23:00"));
  log.push_back(Progress("e3", "g1", 3, kC, "Four nights out of seven", 60));
  log.push_back(Progress("e4", "g1", 4, kT, "Talked about evenings"));
  GoalList list = DeriveGoals(log);
  ASSERT_EQ(list.goals.size(), 1u);
  const Goal& g = list.goals[0];
  EXPECT_EQ(g.title, "Sleep seven hours");  // An empty title in EDIT leaves it unchanged.
  EXPECT_EQ(g.description, "Lights out by 23:00");
  EXPECT_EQ(g.percent, 60u);
  ASSERT_EQ(g.progress.size(), 2u);
  EXPECT_EQ(g.progress[0].note, "Four nights out of seven");
  EXPECT_FALSE(g.progress[1].percent.has_value());
  EXPECT_FALSE(g.completed);

  v1::GoalEvent done = Complete("e5", "g1", 5, kC);
  done.set_note("Managed it for a month");
  log.push_back(done);
  list = DeriveGoals(log);
  EXPECT_TRUE(list.goals[0].completed);
  EXPECT_EQ(list.goals[0].completed_by, kC);
  EXPECT_EQ(list.goals[0].completion_note, "Managed it for a month");
  EXPECT_EQ(list.ignored_events, 0u);
}

TEST(GoalsTest, ConcurrentEditsResolveByLamportThenAuthor) {
  const std::vector<v1::GoalEvent> same_clock = {
      Add("e1", "g1", 1, kT, "Walk"),
      Edit("e2", "g1", 2, kT, "Walk 20 minutes", ""),
      Edit("e3", "g1", 2, kC, "Walk 30 minutes", ""),
  };
  // Equal clocks: the therapist (1) sorts before the client (2), so the client's edit lands last.
  EXPECT_EQ(DeriveGoals(same_clock).goals.at(0).title, "Walk 30 minutes");

  const std::vector<v1::GoalEvent> later_clock = {
      Add("e1", "g1", 1, kT, "Walk"),
      Edit("e2", "g1", 3, kT, "Walk 20 minutes", ""),
      Edit("e3", "g1", 2, kC, "Walk 30 minutes", ""),
  };
  EXPECT_EQ(DeriveGoals(later_clock).goals.at(0).title, "Walk 20 minutes");
}

TEST(GoalsTest, IgnoresChangesToUnknownOrCompletedGoals) {
  const std::vector<v1::GoalEvent> log = {
      Add("e1", "g1", 1, kC, "Journal"),
      Complete("e2", "g1", 2, kC),
      Edit("e3", "g1", 3, kT, "Journal daily", ""),   // After completion.
      Progress("e4", "g1", 3, kC, "More", 10),        // After completion.
      Complete("e5", "g1", 4, kT),                    // Already completed.
      Edit("e6", "g9", 2, kT, "Unknown", ""),         // No such goal.
      Add("e7", "g1", 5, kT, "Second add, same id"),  // Already added.
  };
  GoalList list = DeriveGoals(log);
  ASSERT_EQ(list.goals.size(), 1u);
  EXPECT_EQ(list.goals[0].title, "Journal");
  EXPECT_TRUE(list.goals[0].completed);
  EXPECT_TRUE(list.goals[0].progress.empty());
  EXPECT_EQ(list.ignored_events, 5u);
}

TEST(GoalsTest, ValidatesEventForm) {
  EXPECT_TRUE(ValidateGoalEvent(Add("e1", "g1", 1, kT, "ok")).ok());
  EXPECT_TRUE(ValidateGoalEvent(Progress("e1", "g1", 2, kT, "", 100)).ok());
  std::vector<v1::GoalEvent> bad = {
      Add("e1", "g1", 1, kT, ""),                              // ADD without title.
      Edit("e1", "g1", 2, kT, "", ""),                         // EDIT changes nothing.
      Progress("e1", "g1", 2, kT, ""),                         // Empty progress.
      Progress("e1", "g1", 2, kT, "x", 101),                   // Over 100 %.
      Add("e1", "g1", 0, kT, "zero clock"),                    // Lamport 0.
      Add("e1", "g1", kMaxLamport + 1, kT, "huge clock"),      // Lamport too high.
      Add("e1", "g1", 1, v1::PARTY_UNSPECIFIED, "no author"),  // Author.
      Add("e1", "g1", 1, kT, std::string(kMaxTitleBytes + 1, 't')),
  };
  v1::GoalEvent wrong_ids = Add("e1", "g1", 1, kT, "x");
  wrong_ids.set_goal_id("short");
  bad.push_back(wrong_ids);
  v1::GoalEvent percent_on_add = Add("e1", "g1", 1, kT, "x");
  percent_on_add.set_has_percent(true);
  bad.push_back(percent_on_add);
  v1::GoalEvent title_on_complete = Complete("e1", "g1", 2, kT);
  title_on_complete.set_title("x");
  bad.push_back(title_on_complete);
  v1::GoalEvent unknown = Base("e1", "g1", v1::GOAL_ACTION_UNSPECIFIED, 1, kT);
  bad.push_back(unknown);
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(ValidateGoalEvent(bad[i]).code(), absl::StatusCode::kInvalidArgument) << i;
  }
}

// Two goals, concurrent edits from both sides, completion racing an edit, a duplicate: 7
// events, 5040 orders.
std::vector<v1::GoalEvent> MixedLog() {
  return {
      Add("e1", "g1", 1, kT, "Sleep seven hours"),
      Add("e2", "g2", 1, kC, "Walk daily"),
      Edit("e3", "g1", 2, kC, "Sleep eight hours", ""),
      Edit("e4", "g1", 2, kT, "Sleep seven and a half hours", "Agreed in session"),
      Progress("e5", "g1", 3, kC, "Most nights", 50),
      Complete("e6", "g2", 3, kC),
      Edit("e7", "g2", 3, kT, "Walk twice a day", ""),  // Same clock as the completion.
  };
}

TEST(GoalsTest, EveryDeliveryOrderGivesTheSameList) {
  const std::vector<v1::GoalEvent> log = MixedLog();
  const std::string expected = Describe(DeriveGoals(log));
  std::vector<size_t> order(log.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  size_t orders = 0;
  do {
    std::vector<v1::GoalEvent> delivered;
    for (size_t i : order) delivered.push_back(log[i]);
    ASSERT_EQ(Describe(DeriveGoals(delivered)), expected) << "order #" << orders;
    ++orders;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(orders, 5040u);

  GoalList list = DeriveGoals(log);
  ASSERT_EQ(list.goals.size(), 2u);
  // g1 and g2 were added at the same clock: the therapist's sorts first.
  EXPECT_EQ(list.goals[0].goal_id, Id("g1"));
  EXPECT_EQ(list.goals[0].title, "Sleep eight hours");  // Client edit lands after therapist's.
  EXPECT_EQ(list.goals[0].description, "Agreed in session");
  EXPECT_EQ(list.goals[0].percent, 50u);
  // At clock 3 the therapist's edit sorts before the client's completion, so both apply.
  EXPECT_EQ(list.goals[1].title, "Walk twice a day");
  EXPECT_TRUE(list.goals[1].completed);
}

TEST(GoalsTest, SeededShufflesWithDuplicatesConverge) {
  std::vector<v1::GoalEvent> log;
  for (int g = 0; g < 8; ++g) {
    const std::string id = absl::StrCat("g", g);
    const v1::Party adder = g % 2 == 0 ? kT : kC;
    const uint64_t base = static_cast<uint64_t>(g % 3) + 1;
    log.push_back(Add(absl::StrCat(id, "a"), id, base, adder, absl::StrCat("goal ", g)));
    log.push_back(Edit(absl::StrCat(id, "t"), id, base + 1, kT, absl::StrCat("T", g), ""));
    log.push_back(Edit(absl::StrCat(id, "c"), id, base + 1, kC, absl::StrCat("C", g), "d"));
    for (int p = 0; p < 3; ++p) {
      log.push_back(Progress(absl::StrCat(id, "p", p), id, base + 2, p % 2 == 0 ? kT : kC,
                             absl::StrCat("step ", p), 10 * (p + 1)));
    }
    if (g % 3 == 0) log.push_back(Complete(absl::StrCat(id, "x"), id, base + 2, kC));
  }
  const std::string expected = Describe(DeriveGoals(log));
  std::mt19937 rng(5);
  for (int round = 0; round < 300; ++round) {
    std::vector<v1::GoalEvent> delivered = log;
    std::shuffle(delivered.begin(), delivered.end(), rng);
    const std::string got = Describe(DeriveGoals(delivered));
    ASSERT_EQ(got, expected) << round;
  }
}

TEST(GoalsTest, NextLamportIsOneAboveTheHighestSeen) {
  EXPECT_EQ(NextGoalLamport({}), 1u);
  EXPECT_EQ(NextGoalLamport(MixedLog()), 4u);
}

TEST(GoalsTest, SignedGoalEventVerifiesUnderAuthorKeyOnly) {
  testing::Parties p;
  const v1::GoalEvent event = Add("e1", "g1", 1, kC, "Walk daily");
  absl::StatusOr<v1::SignedGoalEvent> s = SignGoalEvent(event, p.client);
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string message = std::string("alliance/v1/doc/goal") + s->event();
  EXPECT_TRUE(crypto::VerifySignature(p.client.public_key(), crypto::AsBytes(message),
                                      crypto::AsBytes(s->signature())));
  absl::StatusOr<v1::GoalEvent> back = VerifyGoalEvent(*s, p.client.public_key());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->title(), "Walk daily");
  EXPECT_EQ(VerifyGoalEvent(*s, p.therapist.public_key()).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::SignedGoalEvent tampered = *s;
  std::string bytes = tampered.event();
  bytes.back() ^= 0x01;
  tampered.set_event(bytes);
  EXPECT_EQ(VerifyGoalEvent(tampered, p.client.public_key()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(SignGoalEvent(Add("e1", "g1", 1, kC, ""), p.client).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace alliance::care

// Tests for client/care/concerns.h: the lifecycle, ignored transitions, and convergence of the
// derived list whatever the delivery order.
#include "care/concerns.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace alliance::care {
namespace {

constexpr v1::Party kT = v1::PARTY_THERAPIST;
constexpr v1::Party kC = v1::PARTY_CLIENT;

// A 16-byte id from a short label.
std::string Id(const std::string& label) {
  std::string id = label;
  id.resize(16, '.');
  return id;
}

v1::ConcernEvent Event(const std::string& event, const std::string& concern,
                       v1::ConcernAction action, uint64_t lamport, v1::Party author) {
  v1::ConcernEvent e;
  e.set_event_id(Id(event));
  e.set_concern_id(Id(concern));
  e.set_action(action);
  e.set_lamport(lamport);
  e.set_author(author);
  if (action == v1::CONCERN_ACTION_OPEN) e.set_title(absl::StrCat("concern ", concern));
  return e;
}

// Everything a list says, as one string, to compare lists exactly.
std::string Describe(const ConcernList& list) {
  std::string out = absl::StrCat("ignored=", list.ignored_events, "\n");
  for (const Concern& c : list.concerns) {
    absl::StrAppend(&out, c.concern_id, "|", c.title, "|", static_cast<int>(c.opened_by), "|",
                    std::string(ConcernStateName(c.state)), "|", c.opened_lamport, "|",
                    c.updated_lamport, "|", static_cast<int>(c.updated_by), "|", c.reply_message_id,
                    "|", c.note, "\n");
  }
  return out;
}

TEST(ConcernsTest, FollowsOpenAcknowledgeAddressClose) {
  std::vector<v1::ConcernEvent> log = {Event("e1", "c1", v1::CONCERN_ACTION_OPEN, 1, kC)};
  EXPECT_EQ(DeriveConcerns(log).concerns.at(0).state, ConcernState::kOpen);
  EXPECT_TRUE(AwaitsResponse(DeriveConcerns(log).concerns.at(0)));
  log.push_back(Event("e2", "c1", v1::CONCERN_ACTION_ACKNOWLEDGE, 2, kT));
  EXPECT_EQ(DeriveConcerns(log).concerns.at(0).state, ConcernState::kAcknowledged);
  v1::ConcernEvent address = Event("e3", "c1", v1::CONCERN_ACTION_ADDRESS, 3, kT);
  address.set_reply_message_id(Id("reply"));
  log.push_back(address);
  ConcernList list = DeriveConcerns(log);
  EXPECT_EQ(list.concerns.at(0).state, ConcernState::kAddressed);
  EXPECT_EQ(list.concerns.at(0).reply_message_id, Id("reply"));
  log.push_back(Event("e4", "c1", v1::CONCERN_ACTION_CLOSE, 4, kC));
  list = DeriveConcerns(log);
  ASSERT_EQ(list.concerns.size(), 1u);
  EXPECT_EQ(list.concerns[0].state, ConcernState::kClosed);
  EXPECT_EQ(list.concerns[0].title, "concern c1");
  EXPECT_EQ(list.concerns[0].opened_by, kC);
  EXPECT_EQ(list.concerns[0].updated_lamport, 4u);
  EXPECT_EQ(list.ignored_events, 0u);
}

TEST(ConcernsTest, DefersToNextSessionThenAddresses) {
  std::vector<v1::ConcernEvent> log = {
      Event("e1", "c1", v1::CONCERN_ACTION_OPEN, 1, kC),
      Event("e2", "c1", v1::CONCERN_ACTION_DEFER, 2, kT),
  };
  log[1].set_note("Let's take this to Thursday's session.");
  ConcernList list = DeriveConcerns(log);
  EXPECT_EQ(list.concerns.at(0).state, ConcernState::kDeferred);
  EXPECT_EQ(list.concerns.at(0).note, "Let's take this to Thursday's session.");
  log.push_back(Event("e3", "c1", v1::CONCERN_ACTION_ADDRESS, 3, kT));
  EXPECT_EQ(DeriveConcerns(log).concerns.at(0).state, ConcernState::kAddressed);
}

TEST(ConcernsTest, IgnoresInvalidTransitions) {
  const std::vector<v1::ConcernEvent> log = {
      Event("e1", "c1", v1::CONCERN_ACTION_OPEN, 1, kC),
      Event("e2", "c1", v1::CONCERN_ACTION_ACKNOWLEDGE, 2, kC),  // The opener cannot ack.
      Event("e3", "c9", v1::CONCERN_ACTION_ACKNOWLEDGE, 2, kT),  // Unknown concern.
      Event("e4", "c1", v1::CONCERN_ACTION_OPEN, 3, kT),         // Already open.
      Event("e5", "c1", v1::CONCERN_ACTION_CLOSE, 4, kT),
      Event("e6", "c1", v1::CONCERN_ACTION_ACKNOWLEDGE, 5, kT),  // After close.
      Event("e7", "c1", v1::CONCERN_ACTION_CLOSE, 6, kC),        // Already closed.
  };
  ConcernList list = DeriveConcerns(log);
  ASSERT_EQ(list.concerns.size(), 1u);
  EXPECT_EQ(list.concerns[0].state, ConcernState::kClosed);
  EXPECT_EQ(list.concerns[0].opened_by, kC);
  EXPECT_EQ(list.concerns[0].updated_by, kT);
  EXPECT_EQ(list.ignored_events, 5u);
}

TEST(ConcernsTest, EventBeforeItsOpenInClockOrderIsIgnored) {
  // An acknowledgement whose clock is not after the open cannot have seen it.
  const std::vector<v1::ConcernEvent> log = {
      Event("e1", "c1", v1::CONCERN_ACTION_ACKNOWLEDGE, 1, kT),
      Event("e2", "c1", v1::CONCERN_ACTION_OPEN, 2, kC),
  };
  ConcernList list = DeriveConcerns(log);
  EXPECT_EQ(list.concerns.at(0).state, ConcernState::kOpen);
  EXPECT_EQ(list.ignored_events, 1u);
}

TEST(ConcernsTest, RedeliveredEventCountsOnce) {
  const v1::ConcernEvent open = Event("e1", "c1", v1::CONCERN_ACTION_OPEN, 1, kC);
  const std::vector<v1::ConcernEvent> log = {open, open, open};
  ConcernList list = DeriveConcerns(log);
  EXPECT_EQ(list.concerns.size(), 1u);
  EXPECT_EQ(list.ignored_events, 2u);
}

TEST(ConcernsTest, MalformedEventCannotShadowWellFormedOneWithSameId) {
  v1::ConcernEvent bad = Event("e1", "c1", v1::CONCERN_ACTION_OPEN, 1, kC);
  bad.set_title("");  // Malformed: OPEN needs a title. Sorts before the good one.
  const std::vector<v1::ConcernEvent> log = {Event("e1", "c1", v1::CONCERN_ACTION_OPEN, 1, kC),
                                             bad};
  ConcernList list = DeriveConcerns(log);
  ASSERT_EQ(list.concerns.size(), 1u);
  EXPECT_EQ(list.concerns[0].title, "concern c1");
}

TEST(ConcernsTest, ValidatesEventForm) {
  v1::ConcernEvent ok = Event("e1", "c1", v1::CONCERN_ACTION_OPEN, 1, kC);
  EXPECT_TRUE(ValidateConcernEvent(ok).ok());
  std::vector<v1::ConcernEvent> bad(8, ok);
  bad[0].set_event_id("short");
  bad[1].set_concern_id(std::string(17, 'x'));
  bad[2].set_action(v1::CONCERN_ACTION_UNSPECIFIED);
  bad[3].set_author(v1::PARTY_UNSPECIFIED);
  bad[4].set_lamport(0);
  bad[5].set_title(std::string(kMaxTitleBytes + 1, 't'));
  bad[6].set_note(std::string(kMaxNoteBytes + 1, 'n'));
  bad[7].set_reply_message_id(Id("reply"));  // Only on ADDRESS.
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(ValidateConcernEvent(bad[i]).code(), absl::StatusCode::kInvalidArgument) << i;
  }
  v1::ConcernEvent ack = Event("e2", "c1", v1::CONCERN_ACTION_ACKNOWLEDGE, 2, kT);
  ack.set_title("titles belong to OPEN");
  EXPECT_EQ(ValidateConcernEvent(ack).code(), absl::StatusCode::kInvalidArgument);
}

// Two concerns, concurrent events, a duplicate and an invalid one: 7 events, 5040 orders.
std::vector<v1::ConcernEvent> MixedLog() {
  v1::ConcernEvent address = Event("e5", "c1", v1::CONCERN_ACTION_ADDRESS, 3, kT);
  address.set_reply_message_id(Id("reply-1"));
  return {
      Event("e1", "c1", v1::CONCERN_ACTION_OPEN, 1, kC),
      Event("e2", "c1", v1::CONCERN_ACTION_ACKNOWLEDGE, 2, kT),
      Event("e3", "c2", v1::CONCERN_ACTION_OPEN, 2, kC),
      Event("e4", "c2", v1::CONCERN_ACTION_DEFER, 3, kT),
      address,
      Event("e6", "c1", v1::CONCERN_ACTION_CLOSE, 3, kC),        // Concurrent with the address.
      Event("e2", "c1", v1::CONCERN_ACTION_ACKNOWLEDGE, 2, kT),  // Redelivered.
  };
}

TEST(ConcernsTest, EveryDeliveryOrderGivesTheSameList) {
  const std::vector<v1::ConcernEvent> log = MixedLog();
  const std::string expected = Describe(DeriveConcerns(log));
  std::vector<size_t> order(log.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  size_t orders = 0;
  do {
    std::vector<v1::ConcernEvent> delivered;
    for (size_t i : order) delivered.push_back(log[i]);
    ASSERT_EQ(Describe(DeriveConcerns(delivered)), expected) << "order #" << orders;
    ++orders;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(orders, 5040u);

  // And the converged list is the intended one: at equal clocks the therapist's address comes
  // before the client's close, so c1 is closed with the reply recorded; c2 stays deferred.
  ConcernList list = DeriveConcerns(log);
  ASSERT_EQ(list.concerns.size(), 2u);
  EXPECT_EQ(list.concerns[0].concern_id, Id("c1"));
  EXPECT_EQ(list.concerns[0].state, ConcernState::kClosed);
  EXPECT_EQ(list.concerns[0].reply_message_id, Id("reply-1"));
  EXPECT_EQ(list.concerns[1].state, ConcernState::kDeferred);
  EXPECT_EQ(list.ignored_events, 1u);
}

TEST(ConcernsTest, SeededShufflesOfALongLogConverge) {
  std::vector<v1::ConcernEvent> log;
  for (int c = 0; c < 10; ++c) {
    const std::string id = absl::StrCat("c", c);
    const v1::Party opener = c % 3 == 0 ? kT : kC;
    const v1::Party other = opener == kT ? kC : kT;
    const uint64_t base = static_cast<uint64_t>(c % 4) + 1;
    log.push_back(Event(absl::StrCat(id, "o"), id, v1::CONCERN_ACTION_OPEN, base, opener));
    log.push_back(
        Event(absl::StrCat(id, "a"), id, v1::CONCERN_ACTION_ACKNOWLEDGE, base + 1, other));
    if (c % 2 == 0) {
      log.push_back(Event(absl::StrCat(id, "d"), id, v1::CONCERN_ACTION_DEFER, base + 2, other));
    }
    log.push_back(Event(absl::StrCat(id, "x"), id, v1::CONCERN_ACTION_ADDRESS, base + 2, other));
    if (c % 3 == 1) {
      log.push_back(Event(absl::StrCat(id, "c"), id, v1::CONCERN_ACTION_CLOSE, base + 2, opener));
    }
  }
  const std::string expected = Describe(DeriveConcerns(log));
  std::mt19937 rng(20240612);
  for (int round = 0; round < 300; ++round) {
    std::vector<v1::ConcernEvent> delivered = log;
    std::shuffle(delivered.begin(), delivered.end(), rng);
    // Some events delivered twice.
    delivered.push_back(delivered[static_cast<size_t>(round) % delivered.size()]);
    const std::string got = Describe(DeriveConcerns(delivered));
    // Only the ignored count may differ (one more duplicate).
    ASSERT_EQ(got.substr(got.find('\n')), expected.substr(expected.find('\n'))) << round;
  }
}

TEST(ConcernsTest, NextLamportIsOneAboveTheHighestSeen) {
  EXPECT_EQ(NextConcernLamport({}), 1u);
  EXPECT_EQ(NextConcernLamport(MixedLog()), 4u);
}

TEST(ConcernsTest, StateNamesAreStable) {
  EXPECT_EQ(ConcernStateName(ConcernState::kOpen), "open");
  EXPECT_EQ(ConcernStateName(ConcernState::kAcknowledged), "acknowledged");
  EXPECT_EQ(ConcernStateName(ConcernState::kDeferred), "deferred");
  EXPECT_EQ(ConcernStateName(ConcernState::kAddressed), "addressed");
  EXPECT_EQ(ConcernStateName(ConcernState::kClosed), "closed");
}

}  // namespace
}  // namespace alliance::care

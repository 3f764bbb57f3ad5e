// Tests for client/care/due_list.h: the therapist's due list and the pre-session digest.
#include "care/due_list.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/care/care_test_util.h"

namespace alliance::care {
namespace {

using testing::Local;
using testing::OfficeHours;

constexpr char kBerlin[] = "Europe/Berlin";

ClientMessageState Msg(const std::string& contact, const std::string& id, absl::Time at,
                       v1::Intent intent = v1::INTENT_NEEDS_REPLY, bool answered = false) {
  return {.contact_id = contact,
          .message_id = id,
          .arrived_at = at,
          .intent = intent,
          .answered = answered};
}

class DueListTest : public ::testing::Test {
 protected:
  DueList Build(const std::vector<ClientMessageState>& messages, absl::Time now) {
    return BuildDueList(
        messages,
        [this](std::string_view contact) -> const v1::CareAgreement* {
          auto it = agreements_.find(std::string(contact));
          return it == agreements_.end() ? nullptr : &it->second;
        },
        now);
  }

  std::map<std::string, v1::CareAgreement> agreements_ = {
      {"ana", OfficeHours(kBerlin, 16)},
      {"ben", OfficeHours(kBerlin, 4)},
      {"cem", OfficeHours("America/New_York", 8)},
  };
};

TEST_F(DueListTest, OrdersByDueTimeAndMarksOverdue) {
  const std::vector<ClientMessageState> messages = {
      Msg("ana", "a1", Local(kBerlin, 2024, 6, 10, 10)),  // Due Wed 12 10:00.
      Msg("ben", "b1", Local(kBerlin, 2024, 6, 12, 9)),   // Due Wed 12 13:00.
      Msg("cem", "c1", Local(kBerlin, 2024, 6, 11, 20)),  // 14:00 NY, due Wed 12 14:00 NY.
  };
  const absl::Time now = Local(kBerlin, 2024, 6, 12, 12);
  DueList list = Build(messages, now);
  ASSERT_EQ(list.due.size(), 3u);
  EXPECT_EQ(list.due[0].contact_id, "ana");
  EXPECT_EQ(list.due[0].due_at, Local(kBerlin, 2024, 6, 12, 10));
  EXPECT_TRUE(list.due[0].overdue);
  EXPECT_EQ(list.due[1].contact_id, "ben");
  EXPECT_EQ(list.due[1].due_at, Local(kBerlin, 2024, 6, 12, 13));
  EXPECT_FALSE(list.due[1].overdue);
  EXPECT_EQ(list.due[2].contact_id, "cem");
  EXPECT_EQ(list.due[2].due_at, Local("America/New_York", 2024, 6, 12, 14));
  EXPECT_FALSE(list.due[2].overdue);
  EXPECT_TRUE(list.digest.empty());
}

TEST_F(DueListTest, ExactlyAtDueTimeIsNotOverdue) {
  DueList list =
      Build({Msg("ben", "b1", Local(kBerlin, 2024, 6, 12, 9))}, Local(kBerlin, 2024, 6, 12, 13));
  ASSERT_EQ(list.due.size(), 1u);
  EXPECT_FALSE(list.due[0].overdue);
}

TEST_F(DueListTest, OnlyNeedsReplyCreatesDueItem) {
  const absl::Time t = Local(kBerlin, 2024, 6, 12, 10);
  DueList list = Build(
      {
          Msg("ana", "a1", t, v1::INTENT_FOR_NEXT_SESSION),
          Msg("ben", "b1", t, v1::INTENT_JUST_LETTING_YOU_KNOW),
          Msg("cem", "c1", t, v1::INTENT_UNSPECIFIED),  // Counts as needs-reply.
      },
      t);
  ASSERT_EQ(list.due.size(), 1u);
  EXPECT_EQ(list.due[0].contact_id, "cem");
}

TEST_F(DueListTest, ForNextSessionGoesToTheDigest) {
  const std::vector<ClientMessageState> messages = {
      Msg("ben", "b2", Local(kBerlin, 2024, 6, 12, 11), v1::INTENT_FOR_NEXT_SESSION),
      Msg("ana", "a1", Local(kBerlin, 2024, 6, 12, 10), v1::INTENT_FOR_NEXT_SESSION),
      Msg("ben", "b1", Local(kBerlin, 2024, 6, 10, 10), v1::INTENT_FOR_NEXT_SESSION),
      Msg("ben", "b0", Local(kBerlin, 2024, 6, 9, 10), v1::INTENT_FOR_NEXT_SESSION,
          /*answered=*/true),
  };
  DueList list = Build(messages, Local(kBerlin, 2024, 6, 12, 12));
  EXPECT_TRUE(list.due.empty());
  ASSERT_EQ(list.digest.size(), 3u);
  EXPECT_EQ(list.digest[0].message_id, "a1");
  EXPECT_EQ(list.digest[1].message_id, "b1");
  EXPECT_EQ(list.digest[2].message_id, "b2");
  std::vector<DigestItem> ben = DigestFor(messages, "ben");
  ASSERT_EQ(ben.size(), 2u);
  EXPECT_EQ(ben[0].message_id, "b1");
}

TEST_F(DueListTest, AnsweredMessagesLeaveTheList) {
  DueList list = Build({Msg("ana", "a1", Local(kBerlin, 2024, 6, 10, 10), v1::INTENT_NEEDS_REPLY,
                            /*answered=*/true)},
                       Local(kBerlin, 2024, 6, 12, 12));
  EXPECT_TRUE(list.due.empty());
}

TEST_F(DueListTest, EarliestUnansweredMessageSetsTheDueTime) {
  std::vector<ClientMessageState> messages = {
      Msg("ana", "a3", Local(kBerlin, 2024, 6, 12, 10)),
      Msg("ana", "a2", Local(kBerlin, 2024, 6, 11, 10)),
      Msg("ana", "a1", Local(kBerlin, 2024, 6, 10, 10), v1::INTENT_NEEDS_REPLY, true),
  };
  messages[0].urgent = true;
  DueList list = Build(messages, Local(kBerlin, 2024, 6, 12, 12));
  ASSERT_EQ(list.due.size(), 1u);
  EXPECT_EQ(list.due[0].message_id, "a2");
  EXPECT_EQ(list.due[0].due_at, Local(kBerlin, 2024, 6, 13, 10));
  EXPECT_EQ(list.due[0].waiting, 2u);
  EXPECT_TRUE(list.due[0].urgent);
}

TEST_F(DueListTest, ContactWithoutAgreementComesLastWithoutDueTime) {
  DueList list = Build(
      {
          Msg("zoe", "z1", Local(kBerlin, 2024, 6, 1, 10)),
          Msg("ana", "a1", Local(kBerlin, 2024, 6, 12, 10)),
      },
      Local(kBerlin, 2024, 6, 12, 12));
  ASSERT_EQ(list.due.size(), 2u);
  EXPECT_EQ(list.due[0].contact_id, "ana");
  EXPECT_EQ(list.due[1].contact_id, "zoe");
  EXPECT_FALSE(list.due[1].due_at.has_value());
  EXPECT_FALSE(list.due[1].overdue);
}

TEST_F(DueListTest, EmptyInputGivesEmptyLists) {
  DueList list = Build({}, Local(kBerlin, 2024, 6, 12, 12));
  EXPECT_TRUE(list.due.empty());
  EXPECT_TRUE(list.digest.empty());
}

}  // namespace
}  // namespace alliance::care

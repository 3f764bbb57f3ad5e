// Tests for client/care/notice.h: what the client is shown when sending.
#include "care/notice.h"

#include "gtest/gtest.h"
#include "tests/care/care_test_util.h"

namespace alliance::care {
namespace {

using testing::kEmergency;
using testing::Local;
using testing::OfficeHours;

constexpr char kBerlin[] = "Europe/Berlin";

absl::TimeZone Zone(const char* name) {
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(name, &tz)) std::abort();
  return tz;
}

SendNotice Notice(absl::Time t, const v1::CareAgreement& a, const SendNoticeOptions& o,
                  const char* display = kBerlin) {
  absl::StatusOr<SendNotice> n = NoticeForSend(t, a, o, Zone(display));
  EXPECT_TRUE(n.ok()) << n.status();
  return n.value_or(SendNotice{});
}

TEST(NoticeTest, OutsideHoursSaysWhenToExpectAReplyAndShowsEmergencyNotice) {
  // Wednesday 20:00; 16 working hours → Friday 17:00.
  SendNotice n = Notice(Local(kBerlin, 2024, 6, 12, 20), OfficeHours(kBerlin), {});
  EXPECT_FALSE(n.within_windows);
  ASSERT_TRUE(n.reply_due.has_value());
  EXPECT_EQ(*n.reply_due, Local(kBerlin, 2024, 6, 14, 17));
  EXPECT_TRUE(n.show_emergency_notice);
  ASSERT_EQ(n.lines.size(), 2u);
  EXPECT_EQ(n.lines[0], "outside agreed hours — expect a reply by Fri 14 Jun 2024 17:00 CEST");
  EXPECT_EQ(n.lines[1], kEmergency);
}

TEST(NoticeTest, ShowsDueTimeInTheSendersZone) {
  SendNotice n =
      Notice(Local(kBerlin, 2024, 6, 12, 20), OfficeHours(kBerlin), {}, "America/New_York");
  ASSERT_FALSE(n.lines.empty());
  EXPECT_EQ(n.lines[0], "outside agreed hours — expect a reply by Fri 14 Jun 2024 11:00 EDT");
}

TEST(NoticeTest, InsideHoursShowsNothingButStillComputesDueTime) {
  SendNotice n = Notice(Local(kBerlin, 2024, 6, 12, 10), OfficeHours(kBerlin), {});
  EXPECT_TRUE(n.within_windows);
  EXPECT_TRUE(n.lines.empty());
  EXPECT_FALSE(n.show_emergency_notice);
  EXPECT_EQ(n.reply_due, Local(kBerlin, 2024, 6, 14, 10));
}

TEST(NoticeTest, UrgentMessageAlwaysShowsEmergencyNotice) {
  SendNotice n = Notice(Local(kBerlin, 2024, 6, 12, 10), OfficeHours(kBerlin), {.urgent = true});
  EXPECT_TRUE(n.show_emergency_notice);
  ASSERT_EQ(n.lines.size(), 1u);
  EXPECT_EQ(n.lines[0], kEmergency);
  // Outside hours the emergency notice appears once, after the hours line.
  n = Notice(Local(kBerlin, 2024, 6, 15, 10), OfficeHours(kBerlin), {.urgent = true});
  ASSERT_EQ(n.lines.size(), 2u);
  EXPECT_EQ(n.lines[1], kEmergency);
}

TEST(NoticeTest, CrisisMatchShowsEmergencyNoticeInHours) {
  SendNotice n =
      Notice(Local(kBerlin, 2024, 6, 12, 10), OfficeHours(kBerlin), {.crisis_matched = true});
  ASSERT_EQ(n.lines.size(), 1u);
  EXPECT_EQ(n.lines[0], kEmergency);
}

TEST(NoticeTest, OutOfOfficeShowsThatPeriodsNotice) {
  v1::CareAgreement a = OfficeHours(kBerlin);
  v1::OutOfOffice* o = a.add_out_of_office();
  o->set_start_unix(absl::ToUnixSeconds(Local(kBerlin, 2024, 6, 17, 0)));
  o->set_end_unix(absl::ToUnixSeconds(Local(kBerlin, 2024, 6, 24, 0)));
  o->set_notice("Away until 24 June; Dr Weber covers urgent matters.");
  // Wednesday 10:00 is inside the windows, but the therapist is away.
  SendNotice n = Notice(Local(kBerlin, 2024, 6, 19, 10), a, {});
  EXPECT_TRUE(n.within_windows);
  ASSERT_TRUE(n.out_of_office.has_value());
  ASSERT_EQ(n.lines.size(), 3u);
  EXPECT_EQ(n.lines[0], "Away until 24 June; Dr Weber covers urgent matters.");
  EXPECT_EQ(n.lines[1], "expect a reply by Tue 25 Jun 2024 17:00 CEST");
  EXPECT_EQ(n.lines[2], kEmergency);
}

TEST(NoticeTest, ForNextSessionOutsideHoursPromisesNoReply) {
  SendNotice n = Notice(Local(kBerlin, 2024, 6, 15, 10), OfficeHours(kBerlin),
                        {.intent = v1::INTENT_FOR_NEXT_SESSION});
  EXPECT_FALSE(n.reply_due.has_value());
  ASSERT_EQ(n.lines.size(), 2u);
  EXPECT_EQ(n.lines[0], "outside agreed hours");
  EXPECT_EQ(n.lines[1], kEmergency);
}

TEST(NoticeTest, UnspecifiedIntentCountsAsNeedsReply) {
  SendNotice n = Notice(Local(kBerlin, 2024, 6, 12, 10), OfficeHours(kBerlin),
                        {.intent = v1::INTENT_UNSPECIFIED});
  EXPECT_TRUE(n.reply_due.has_value());
}

TEST(NoticeTest, RejectsZeroWindowAgreement) {
  v1::CareAgreement a = OfficeHours(kBerlin);
  a.clear_windows();
  EXPECT_EQ(NoticeForSend(Local(kBerlin, 2024, 6, 12, 10), a, {}, Zone(kBerlin)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace alliance::care

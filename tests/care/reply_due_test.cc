// Tests for client/care/reply_due.h: working time across weekends, midnight, daylight-saving
// changes and out-of-office periods. Every time is explicit; nothing reads the clock.
#include "care/reply_due.h"

#include "gtest/gtest.h"
#include "tests/care/care_test_util.h"

namespace alliance::care {
namespace {

using testing::AddWindow;
using testing::Local;
using testing::OfficeHours;
using testing::Utc;

constexpr char kBerlin[] = "Europe/Berlin";
constexpr char kNewYork[] = "America/New_York";

absl::Time Due(absl::Time arrived, const v1::CareAgreement& a) {
  absl::StatusOr<absl::Time> due = ReplyDue(arrived, a);
  EXPECT_TRUE(due.ok()) << due.status();
  return due.value_or(absl::InfinitePast());
}

bool Within(absl::Time t, const v1::CareAgreement& a) {
  absl::StatusOr<bool> in = IsWithinWindows(t, a);
  EXPECT_TRUE(in.ok()) << in.status();
  return in.value_or(false);
}

// Only the windows given, in `zone`.
v1::CareAgreement WindowsOnly(const std::string& zone, uint32_t hours) {
  v1::CareAgreement a = OfficeHours(zone, hours);
  a.clear_windows();
  return a;
}

void AddAway(v1::CareAgreement* a, absl::Time start, absl::Time end, const std::string& notice) {
  v1::OutOfOffice* o = a->add_out_of_office();
  o->set_start_unix(absl::ToUnixSeconds(start));
  o->set_end_unix(absl::ToUnixSeconds(end));
  o->set_notice(notice);
}

// 2024-06-12 is a Wednesday.
TEST(ReplyDueTest, CountsFromArrivalInsideWindow) {
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 12, 10), OfficeHours(kBerlin)),
            Local(kBerlin, 2024, 6, 14, 10));
}

TEST(ReplyDueTest, SkipsWeekendInBerlin) {
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 14, 15), OfficeHours(kBerlin)),
            Local(kBerlin, 2024, 6, 18, 15));
}

TEST(ReplyDueTest, MessageOutsideWindowStartsCountingAtNextWindow) {
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 12, 20), OfficeHours(kBerlin)),
            Local(kBerlin, 2024, 6, 14, 17));
  // Saturday: counting starts Monday 09:00.
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 15, 11), OfficeHours(kBerlin)),
            Local(kBerlin, 2024, 6, 18, 17));
}

TEST(ReplyDueTest, MessageInsideWindowIsDueSoonerThanOneJustOutside) {
  const v1::CareAgreement a = OfficeHours(kBerlin, 2);
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 12, 14), a), Local(kBerlin, 2024, 6, 12, 16));
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 12, 17), a), Local(kBerlin, 2024, 6, 13, 11));
}

TEST(ReplyDueTest, WindowEdgesAreStartInclusiveEndExclusive) {
  const v1::CareAgreement a = OfficeHours(kBerlin);
  EXPECT_TRUE(Within(Local(kBerlin, 2024, 6, 12, 9), a));
  EXPECT_TRUE(Within(Local(kBerlin, 2024, 6, 12, 16, 59), a));
  EXPECT_FALSE(Within(Local(kBerlin, 2024, 6, 12, 17), a));
  EXPECT_FALSE(Within(Local(kBerlin, 2024, 6, 12, 8, 59), a));
  EXPECT_FALSE(Within(Local(kBerlin, 2024, 6, 15, 11), a));  // Saturday.
}

TEST(ReplyDueTest, WindowCrossingMidnightCountsIntoNextDay) {
  v1::CareAgreement a = WindowsOnly(kBerlin, 3);
  AddWindow(&a, v1::WEEKDAY_FRIDAY, 22, 0, 240);  // Friday 22:00 → Saturday 02:00.
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 14, 23), a), Local(kBerlin, 2024, 6, 15, 2));
  EXPECT_TRUE(Within(Local(kBerlin, 2024, 6, 14, 22), a));
  EXPECT_TRUE(Within(Local(kBerlin, 2024, 6, 15, 1, 30), a));
  EXPECT_FALSE(Within(Local(kBerlin, 2024, 6, 15, 2), a));
  EXPECT_FALSE(Within(Local(kBerlin, 2024, 6, 14, 21, 59), a));
  // Arriving after midnight inside the window: one hour left that night, one the next Friday.
  a.set_reply_within_working_hours(2);
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 15, 1), a), Local(kBerlin, 2024, 6, 21, 23));
}

TEST(ReplyDueTest, WindowCrossingMidnightWrapsFromSundayIntoMonday) {
  v1::CareAgreement a = WindowsOnly(kBerlin, 1);
  AddWindow(&a, v1::WEEKDAY_SUNDAY, 23, 0, 120);
  EXPECT_TRUE(Within(Local(kBerlin, 2024, 6, 17, 0, 30), a));  // Monday 00:30.
  EXPECT_FALSE(Within(Local(kBerlin, 2024, 6, 16, 22, 59), a));
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 17, 0, 30), a), Local(kBerlin, 2024, 6, 23, 23, 30));
}

TEST(ReplyDueTest, OverlappingWindowsAreCountedOnce) {
  v1::CareAgreement a = OfficeHours(kBerlin);
  AddWindow(&a, v1::WEEKDAY_WEDNESDAY, 8, 0, 120);  // 08:00–10:00 overlaps 09:00–17:00.
  AddWindow(&a, v1::WEEKDAY_THURSDAY, 12, 0, 60);   // Inside 09:00–17:00.
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 12, 8, 30), a), Local(kBerlin, 2024, 6, 13, 16, 30));
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 12, 10), a), Local(kBerlin, 2024, 6, 14, 10));
}

TEST(ReplyDueTest, KeepsWallClockAcrossSpringForwardInNewYork) {
  // DST starts Sunday 2024-03-10 02:00 EST → 03:00 EDT. Friday 16:00 EST (21:00 UTC) plus two
  // working hours is Monday 10:00 EDT (14:00 UTC), not 15:00 UTC.
  EXPECT_EQ(Due(Local(kNewYork, 2024, 3, 8, 16), OfficeHours(kNewYork, 2)), Utc(2024, 3, 11, 14));
}

TEST(ReplyDueTest, WindowSpanningSpringForwardInNewYorkIsOneHourShorter) {
  v1::CareAgreement a = WindowsOnly(kNewYork, 3);
  AddWindow(&a, v1::WEEKDAY_SUNDAY, 1, 0, 240);  // 01:00–05:00 wall clock = 3 real hours.
  EXPECT_EQ(Due(Utc(2024, 3, 10, 5, 30), a), Utc(2024, 3, 10, 9));
  a.set_reply_within_working_hours(4);  // The fourth hour comes the next Sunday, 01:00 EDT.
  EXPECT_EQ(Due(Utc(2024, 3, 10, 5, 30), a), Utc(2024, 3, 17, 6));
}

TEST(ReplyDueTest, KeepsWallClockAcrossFallBackInNewYork) {
  // DST ends Sunday 2024-11-03 02:00 EDT → 01:00 EST. Friday 16:00 EDT (20:00 UTC) plus two
  // working hours is Monday 10:00 EST (15:00 UTC).
  EXPECT_EQ(Due(Local(kNewYork, 2024, 11, 1, 16), OfficeHours(kNewYork, 2)), Utc(2024, 11, 4, 15));
}

TEST(ReplyDueTest, WindowSpanningFallBackInNewYorkIsOneHourLonger) {
  v1::CareAgreement a = WindowsOnly(kNewYork, 5);
  AddWindow(&a, v1::WEEKDAY_SUNDAY, 0, 0, 240);  // 00:00 EDT – 04:00 EST = 5 real hours.
  EXPECT_EQ(Due(Local(kNewYork, 2024, 11, 2, 12), a), Utc(2024, 11, 3, 9));
  EXPECT_TRUE(Within(Utc(2024, 11, 3, 5, 30), a));  // 01:30 EDT, first occurrence.
  EXPECT_TRUE(Within(Utc(2024, 11, 3, 6, 30), a));  // 01:30 EST, second occurrence.
  EXPECT_FALSE(Within(Utc(2024, 11, 3, 9), a));
}

TEST(ReplyDueTest, KeepsWallClockAcrossSpringForwardInBerlin) {
  // DST starts Sunday 2024-03-31 02:00 CET → 03:00 CEST. Friday 16:00 CET (15:00 UTC) plus two
  // working hours is Monday 10:00 CEST (08:00 UTC).
  EXPECT_EQ(Due(Local(kBerlin, 2024, 3, 29, 16), OfficeHours(kBerlin, 2)), Utc(2024, 4, 1, 8));
}

TEST(ReplyDueTest, WindowSpanningSpringForwardInBerlinIsOneHourShorter) {
  v1::CareAgreement a = WindowsOnly(kBerlin, 2);
  AddWindow(&a, v1::WEEKDAY_SUNDAY, 1, 0, 180);  // 01:00 CET – 04:00 CEST = 2 real hours.
  EXPECT_EQ(Due(Local(kBerlin, 2024, 3, 30, 12), a), Utc(2024, 3, 31, 2));
}

TEST(ReplyDueTest, WindowStartingInSkippedHourStartsAtTheChange) {
  v1::CareAgreement a = WindowsOnly(kBerlin, 1);
  AddWindow(&a, v1::WEEKDAY_SUNDAY, 2, 30, 60);  // 02:30 does not exist on 2024-03-31.
  EXPECT_FALSE(Within(Utc(2024, 3, 31, 0, 59), a));
  EXPECT_TRUE(Within(Utc(2024, 3, 31, 1, 0), a));  // 03:00 CEST.
  EXPECT_TRUE(Within(Utc(2024, 3, 31, 1, 15), a));
  EXPECT_FALSE(Within(Utc(2024, 3, 31, 1, 30), a));  // 03:30 CEST.
  // Half an hour that night, the other half the next Sunday 02:30–03:00 CEST.
  EXPECT_EQ(Due(Utc(2024, 3, 31, 0), a), Utc(2024, 4, 7, 1));
}

TEST(ReplyDueTest, KeepsWallClockAcrossFallBackInBerlin) {
  // DST ends Sunday 2024-10-27 03:00 CEST → 02:00 CET. Friday 16:00 CEST (14:00 UTC) plus two
  // working hours is Monday 10:00 CET (09:00 UTC).
  EXPECT_EQ(Due(Local(kBerlin, 2024, 10, 25, 16), OfficeHours(kBerlin, 2)), Utc(2024, 10, 28, 9));
}

TEST(ReplyDueTest, WindowInRepeatedHourInBerlinCoversBothOccurrences) {
  v1::CareAgreement a = WindowsOnly(kBerlin, 2);
  AddWindow(&a, v1::WEEKDAY_SUNDAY, 2, 0, 60);  // 02:00 CEST – 03:00 CET = 2 real hours.
  EXPECT_EQ(Due(Local(kBerlin, 2024, 10, 26, 12), a), Utc(2024, 10, 27, 2));
  EXPECT_TRUE(Within(Utc(2024, 10, 27, 0, 30), a));  // 02:30 CEST.
  EXPECT_TRUE(Within(Utc(2024, 10, 27, 1, 30), a));  // 02:30 CET.
}

TEST(ReplyDueTest, SkipsOutOfOfficeWeek) {
  v1::CareAgreement a = OfficeHours(kBerlin);
  AddAway(&a, Local(kBerlin, 2024, 6, 17, 0), Local(kBerlin, 2024, 6, 24, 0), "Away this week");
  // Friday 15:00: two hours that Friday, none the week away, then Monday and Tuesday.
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 14, 15), a), Local(kBerlin, 2024, 6, 25, 15));
  // A message during the week away starts counting when it ends.
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 19, 10), a), Local(kBerlin, 2024, 6, 25, 17));
}

TEST(ReplyDueTest, OverlappingOutOfOfficePeriodsAreSkippedOnce) {
  v1::CareAgreement a = OfficeHours(kBerlin);
  AddAway(&a, Local(kBerlin, 2024, 6, 19, 0), Local(kBerlin, 2024, 6, 24, 0), "b");
  AddAway(&a, Local(kBerlin, 2024, 6, 17, 0), Local(kBerlin, 2024, 6, 21, 0), "a");
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 14, 15), a), Local(kBerlin, 2024, 6, 25, 15));
}

TEST(ReplyDueTest, SkipsOutOfOfficeHoursInsideWindow) {
  v1::CareAgreement a = OfficeHours(kBerlin, 4);
  AddAway(&a, Local(kBerlin, 2024, 6, 12, 12), Local(kBerlin, 2024, 6, 12, 14), "Lunch seminar");
  EXPECT_EQ(Due(Local(kBerlin, 2024, 6, 12, 10), a), Local(kBerlin, 2024, 6, 12, 16));
}

TEST(ReplyDueTest, ActiveOutOfOfficeReturnsThePeriodInForceAtThatTime) {
  v1::CareAgreement a = OfficeHours(kBerlin);
  AddAway(&a, Local(kBerlin, 2024, 6, 17, 0), Local(kBerlin, 2024, 6, 24, 0), "Away this week");
  AddAway(&a, Local(kBerlin, 2024, 6, 19, 0), Local(kBerlin, 2024, 6, 20, 0), "Conference");
  EXPECT_FALSE(ActiveOutOfOffice(Local(kBerlin, 2024, 6, 16, 23, 59), a).has_value());
  ASSERT_TRUE(ActiveOutOfOffice(Local(kBerlin, 2024, 6, 17, 0), a).has_value());
  EXPECT_EQ(ActiveOutOfOffice(Local(kBerlin, 2024, 6, 17, 0), a)->notice(), "Away this week");
  EXPECT_EQ(ActiveOutOfOffice(Local(kBerlin, 2024, 6, 19, 12), a)->notice(), "Conference");
  EXPECT_FALSE(ActiveOutOfOffice(Local(kBerlin, 2024, 6, 24, 0), a).has_value());  // Exclusive.
}

TEST(ReplyDueTest, NextWorkingTimeSkipsWeekendAndOutOfOffice) {
  v1::CareAgreement a = OfficeHours(kBerlin);
  const absl::Time inside = Local(kBerlin, 2024, 6, 12, 10, 15);
  EXPECT_EQ(*NextWorkingTime(inside, a), inside);
  EXPECT_EQ(*NextWorkingTime(Local(kBerlin, 2024, 6, 15, 11), a), Local(kBerlin, 2024, 6, 17, 9));
  AddAway(&a, Local(kBerlin, 2024, 6, 17, 0), Local(kBerlin, 2024, 6, 24, 0), "Away");
  EXPECT_EQ(*NextWorkingTime(Local(kBerlin, 2024, 6, 15, 11), a), Local(kBerlin, 2024, 6, 24, 9));
}

TEST(ReplyDueTest, RejectsZeroWindowAgreement) {
  v1::CareAgreement a = OfficeHours(kBerlin);
  a.clear_windows();
  const absl::Time t = Local(kBerlin, 2024, 6, 12, 10);
  EXPECT_EQ(ReplyDue(t, a).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IsWithinWindows(t, a).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NextWorkingTime(t, a).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReplyDueTest, RejectsUnknownTimeZone) {
  v1::CareAgreement a = OfficeHours("Atlantis/Capital");
  EXPECT_EQ(ReplyDue(Utc(2024, 6, 12, 10), a).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReplyDueTest, OutOfRangeWhenOutOfOfficeCoversTheHorizon) {
  v1::CareAgreement a = OfficeHours(kBerlin);
  absl::Time start = Utc(2024, 6, 1, 0);
  for (int i = 0; i < 4; ++i) {
    const absl::Time end = start + absl::Hours(24 * 366);
    AddAway(&a, start, end, "Sabbatical");
    start = end;
  }
  EXPECT_EQ(ReplyDue(Utc(2024, 6, 12, 10), a).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(ReplyDueTest, IsPureAndRepeatable) {
  const v1::CareAgreement a = OfficeHours(kNewYork);
  const std::string before = a.SerializeAsString();
  const absl::Time t = Local(kNewYork, 2024, 3, 8, 16);
  const absl::Time first = Due(t, a);
  EXPECT_EQ(Due(t, a), first);
  EXPECT_EQ(a.SerializeAsString(), before);
}

}  // namespace
}  // namespace alliance::care

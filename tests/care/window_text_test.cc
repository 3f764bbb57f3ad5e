// Response windows as typed: an end equal to its start is refused (never read as 24 hours), a
// whole day is written 00:00-24:00, and a window may run past midnight.
#include "care/window_text.h"

#include "gtest/gtest.h"

namespace alliance::care {
namespace {

TEST(WindowTextTest, RejectsAWindowThatEndsWhenItStarts) {
  for (const char* typo : {"mon 09:00-09:00", "tue 00:00-00:00", "sun 23:59-23:59"}) {
    absl::StatusOr<v1::ResponseWindow> w = ParseResponseWindow(typo);
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << typo;
    const std::string message(w.status().message());
    EXPECT_EQ(message.find('\n'), std::string::npos);
    EXPECT_NE(message.find("00:00-24:00"), std::string::npos) << message;
  }
}

TEST(WindowTextTest, WholeDayIsWrittenExplicitly) {
  absl::StatusOr<v1::ResponseWindow> w = ParseResponseWindow("mon 00:00-24:00");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->day(), v1::WEEKDAY_MONDAY);
  EXPECT_EQ(w->start_minute(), 0u);
  EXPECT_EQ(w->duration_minutes(), 1440u);
  EXPECT_EQ(FormatResponseWindow(*w), "mon 00:00-24:00");
}

TEST(WindowTextTest, ParsesOrdinaryAndOvernightWindows) {
  absl::StatusOr<v1::ResponseWindow> w = ParseResponseWindow("Thursday 14:00-18:30");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->day(), v1::WEEKDAY_THURSDAY);
  EXPECT_EQ(w->start_minute(), 14u * 60);
  EXPECT_EQ(w->duration_minutes(), 270u);
  EXPECT_EQ(FormatResponseWindow(*w), "thu 14:00-18:30");
  w = ParseResponseWindow("fri 22:00-02:00");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->duration_minutes(), 240u);
  EXPECT_EQ(FormatResponseWindow(*w), "fri 22:00-02:00");
  w = ParseResponseWindow("sat 09:00-24:00");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->duration_minutes(), 900u);
  EXPECT_EQ(FormatResponseWindow(*w), "sat 09:00-24:00");
}

TEST(WindowTextTest, RejectsMalformedText) {
  for (const char* bad : {"", "mon", "mon 09:00", "xyz 09:00-10:00", "mo 09:00-10:00", "mon 9-10",
                          "mon 25:00-26:00", "mon 24:00-01:00", "mon 09:60-10:00",
                          "mon 09:00-10:00-11:00", "mon 09:00-24:30", "mon 09:0-10:00"}) {
    EXPECT_EQ(ParseResponseWindow(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace alliance::care

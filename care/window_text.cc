// Parsing and formatting response windows ("mon 09:00-12:00").
#include "care/window_text.h"

#include <cstdio>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"

namespace alliance::care {
namespace {

constexpr int kDayMinutes = 24 * 60;
constexpr const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
constexpr char kShape[] = "window must look like 'mon 09:00-12:00'";

absl::StatusOr<int> ParseMinute(absl::string_view hhmm) {
  std::vector<absl::string_view> parts = absl::StrSplit(hhmm, ':');
  int h = 0, m = 0;
  if (parts.size() != 2 || parts[1].size() != 2 || !absl::SimpleAtoi(parts[0], &h) ||
      !absl::SimpleAtoi(parts[1], &m) || h < 0 || h > 24 || m < 0 || m > 59 ||
      (h == 24 && m != 0)) {
    return absl::InvalidArgumentError(absl::StrCat("bad time '", hhmm, "' (use HH:MM)"));
  }
  return h * 60 + m;
}

}  // namespace

absl::StatusOr<v1::ResponseWindow> ParseResponseWindow(absl::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(text, ' ', absl::SkipEmpty());
  if (parts.size() != 2 || parts[0].size() < 3) return absl::InvalidArgumentError(kShape);
  const std::string day = absl::AsciiStrToLower(parts[0]).substr(0, 3);
  int index = -1;
  for (int i = 0; i < 7; ++i) {
    if (day == kDays[i]) index = i;
  }
  std::vector<absl::string_view> range = absl::StrSplit(parts[1], '-');
  if (index < 0 || range.size() != 2) return absl::InvalidArgumentError(kShape);
  ALLIANCE_ASSIGN_OR_RETURN(int start, ParseMinute(range[0]));
  ALLIANCE_ASSIGN_OR_RETURN(int end, ParseMinute(range[1]));
  if (start >= kDayMinutes) return absl::InvalidArgumentError("a window starts before 24:00");
  if (end == start) {
    return absl::InvalidArgumentError(absl::StrCat("window '", text,
                                                   "' ends when it starts; for a whole day write '",
                                                   kDays[index], " 00:00-24:00'"));
  }
  const int duration = end > start ? end - start : kDayMinutes - start + end;
  v1::ResponseWindow w;
  w.set_day(static_cast<v1::Weekday>(index + 1));
  w.set_start_minute(static_cast<uint32_t>(start));
  w.set_duration_minutes(static_cast<uint32_t>(duration));
  return w;
}

std::string FormatResponseWindow(const v1::ResponseWindow& w) {
  const int start = static_cast<int>(w.start_minute());
  const int sum = start + static_cast<int>(w.duration_minutes());
  const int end = sum == kDayMinutes ? kDayMinutes : sum % kDayMinutes;
  const int day = static_cast<int>(w.day());
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %02d:%02d-%02d:%02d",
                day >= 1 && day <= 7 ? kDays[day - 1] : "???", start / 60, start % 60, end / 60,
                end % 60);
  return buf;
}

}  // namespace alliance::care

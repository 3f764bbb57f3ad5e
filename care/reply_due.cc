// Working-time arithmetic over weekly wall-clock windows in the therapist's time zone.
#include "care/reply_due.h"

#include <algorithm>
#include <array>
#include <vector>

#include "absl/time/civil_time.h"
#include "base/status_macros.h"
#include "care/agreement.h"

namespace alliance::care {
namespace {

struct Interval {
  absl::Time start;
  absl::Time end;
};

// Start of a window at local civil time `cm`: first occurrence of a repeated time, the
// transition for a skipped one.
absl::Time StartInstant(const absl::TimeZone& zone, absl::CivilMinute cm) {
  const absl::TimeZone::TimeInfo info = zone.At(absl::CivilSecond(cm));
  switch (info.kind) {
    case absl::TimeZone::TimeInfo::SKIPPED:
      return info.trans;
    case absl::TimeZone::TimeInfo::REPEATED:
    case absl::TimeZone::TimeInfo::UNIQUE:
      break;
  }
  return info.pre;
}

// End of a window at local civil time `cm`: second occurrence of a repeated time, the
// transition for a skipped one.
absl::Time EndInstant(const absl::TimeZone& zone, absl::CivilMinute cm) {
  const absl::TimeZone::TimeInfo info = zone.At(absl::CivilSecond(cm));
  switch (info.kind) {
    case absl::TimeZone::TimeInfo::SKIPPED:
      return info.trans;
    case absl::TimeZone::TimeInfo::REPEATED:
      return info.post;
    case absl::TimeZone::TimeInfo::UNIQUE:
      break;
  }
  return info.pre;
}

// Index 0..6 (Monday..Sunday) of a civil day.
int WeekdayIndex(absl::CivilDay day) {
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::monday:
      return 0;
    case absl::Weekday::tuesday:
      return 1;
    case absl::Weekday::wednesday:
      return 2;
    case absl::Weekday::thursday:
      return 3;
    case absl::Weekday::friday:
      return 4;
    case absl::Weekday::saturday:
      return 5;
    case absl::Weekday::sunday:
      return 6;
  }
  return 0;
}

// A validated agreement prepared for working-time queries.
class Schedule {
 public:
  static absl::StatusOr<Schedule> Create(const v1::CareAgreement& agreement) {
    ALLIANCE_RETURN_IF_ERROR(ValidateAgreement(agreement));
    Schedule s;
    // Validated above, so the zone loads.
    if (!absl::LoadTimeZone(agreement.time_zone(), &s.zone_)) {
      return absl::InvalidArgumentError("care agreement: unknown time zone");
    }
    for (const v1::ResponseWindow& w : agreement.windows()) {
      s.windows_[static_cast<int>(w.day()) - 1].push_back(w);
    }
    for (auto& day : s.windows_) {
      std::sort(day.begin(), day.end(),
                [](const v1::ResponseWindow& a, const v1::ResponseWindow& b) {
                  return a.start_minute() < b.start_minute();
                });
    }
    for (const v1::OutOfOffice& p : agreement.out_of_office()) {
      s.away_.push_back(
          {absl::FromUnixSeconds(p.start_unix()), absl::FromUnixSeconds(p.end_unix())});
    }
    std::sort(s.away_.begin(), s.away_.end(),
              [](const Interval& a, const Interval& b) { return a.start < b.start; });
    return s;
  }

  absl::CivilDay LocalDay(absl::Time t) const { return absl::ToCivilDay(t, zone_); }

  // The windows that start on local day `day`, as real-time intervals in start order.
  std::vector<Interval> WindowsOn(absl::CivilDay day) const {
    std::vector<Interval> out;
    for (const v1::ResponseWindow& w : windows_[WeekdayIndex(day)]) {
      const absl::CivilMinute start = absl::CivilMinute(day) + w.start_minute();
      const absl::CivilMinute end = start + w.duration_minutes();
      out.push_back({StartInstant(zone_, start), EndInstant(zone_, end)});
    }
    return out;
  }

  // Calls `fn(start, end)` for each part of [start, end) outside every out-of-office period, in
  // order, until `fn` returns true; returns whether it did.
  template <typename Fn>
  bool ForEachWorkingPart(absl::Time start, absl::Time end, Fn&& fn) const {
    absl::Time cursor = start;
    for (const Interval& away : away_) {
      if (cursor >= end) return false;
      if (away.end <= cursor) continue;
      if (away.start >= end) break;
      if (away.start > cursor && fn(cursor, away.start)) return true;
      cursor = std::max(cursor, away.end);
    }
    return cursor < end && fn(cursor, end);
  }

  // The instant at which `amount` of working time has elapsed after `from`.
  absl::StatusOr<absl::Time> Advance(absl::Time from, absl::Duration amount) const {
    absl::Duration remaining = amount;
    absl::Time cursor = from;  // Working time before this instant is already counted.
    std::optional<absl::Time> due;
    const absl::CivilDay first = LocalDay(from) - 1;  // A window may run past midnight.
    for (absl::CivilDay day = first; day - first <= kWorkingTimeHorizonDays; ++day) {
      for (const Interval& w : WindowsOn(day)) {
        const absl::Time start = std::max(w.start, cursor);
        if (w.end <= start) continue;
        const bool found = ForEachWorkingPart(start, w.end, [&](absl::Time a, absl::Time b) {
          if (b - a >= remaining) {
            due = a + remaining;
            return true;
          }
          remaining -= b - a;
          return false;
        });
        if (found) return *due;
        cursor = w.end;
      }
    }
    return absl::OutOfRangeError("care agreement: no working time within the horizon");
  }

  bool InWindow(absl::Time t) const {
    const absl::CivilDay today = LocalDay(t);
    for (absl::CivilDay day = today - 1; day <= today; ++day) {
      for (const Interval& w : WindowsOn(day)) {
        if (w.start <= t && t < w.end) return true;
      }
    }
    return false;
  }

 private:
  Schedule() = default;

  absl::TimeZone zone_;
  std::array<std::vector<v1::ResponseWindow>, 7> windows_;
  std::vector<Interval> away_;  // Sorted by start; may overlap.
};

}  // namespace

absl::StatusOr<absl::Time> ReplyDue(absl::Time arrived, const v1::CareAgreement& agreement) {
  ALLIANCE_ASSIGN_OR_RETURN(Schedule schedule, Schedule::Create(agreement));
  return schedule.Advance(arrived, absl::Hours(agreement.reply_within_working_hours()));
}

absl::StatusOr<bool> IsWithinWindows(absl::Time t, const v1::CareAgreement& agreement) {
  ALLIANCE_ASSIGN_OR_RETURN(Schedule schedule, Schedule::Create(agreement));
  return schedule.InWindow(t);
}

absl::StatusOr<absl::Time> NextWorkingTime(absl::Time t, const v1::CareAgreement& agreement) {
  ALLIANCE_ASSIGN_OR_RETURN(Schedule schedule, Schedule::Create(agreement));
  return schedule.Advance(t, absl::ZeroDuration());
}

std::optional<v1::OutOfOffice> ActiveOutOfOffice(absl::Time t, const v1::CareAgreement& agreement) {
  const v1::OutOfOffice* active = nullptr;
  for (const v1::OutOfOffice& p : agreement.out_of_office()) {
    if (absl::FromUnixSeconds(p.start_unix()) <= t && t < absl::FromUnixSeconds(p.end_unix()) &&
        (active == nullptr || p.start_unix() > active->start_unix())) {
      active = &p;
    }
  }
  if (active == nullptr) return std::nullopt;
  return *active;
}

}  // namespace alliance::care

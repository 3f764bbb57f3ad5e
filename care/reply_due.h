// Working time under a care agreement: when a reply is due, whether a moment lies inside the
// agreed response windows, and which out-of-office period is active (issue 5, "Reply due").
//
// Working time is the union of the weekly response windows, read as wall-clock times in the
// therapist's IANA time zone (absl::TimeZone over the system tz database), minus every
// out-of-office period. A reply is due once `reply_within_working_hours` of working time have
// passed after the message arrived. Everything is a pure function of its arguments; there is no
// clock inside, so callers pass the times.
//
//   ALLIANCE_ASSIGN_OR_RETURN(absl::Time due, ReplyDue(arrived_at, in_force->agreement));
//   ALLIANCE_ASSIGN_OR_RETURN(bool working, IsWithinWindows(now, in_force->agreement));
//
// Daylight saving: a window is wall-clock time. On a spring-forward day a 09:00–17:00 window
// around a 02:00 change is unaffected, while a window spanning the change is one hour shorter
// in real time; in a fall-back night it is one hour longer. A window edge that falls in a
// skipped hour maps to the moment of the change; one that falls in a repeated hour starts at
// the first occurrence and ends at the second, so the window covers every instant the
// therapist's clock shows inside it.
//
// Thread safety: all functions are pure and may be called concurrently.
#ifndef ALLIANCE_CARE_REPLY_DUE_H_
#define ALLIANCE_CARE_REPLY_DUE_H_

#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "alliance/v1/care.pb.h"

namespace alliance::care {

// How far ahead ReplyDue and NextWorkingTime search before giving up. Default: 3 years.
inline constexpr int kWorkingTimeHorizonDays = 3 * 366;

// When a reply to a message that arrived at `arrived` is due: the instant at which
// agreement.reply_within_working_hours() of working time (inside the windows, outside
// out-of-office periods) have elapsed since `arrived`. A message arriving outside working time
// starts counting at the next window.
// INVALID_ARGUMENT when ValidateAgreement(agreement) fails (agreement.h); OUT_OF_RANGE when
// the commitment cannot be met within kWorkingTimeHorizonDays (e.g. out-of-office periods
// cover the windows).
[[nodiscard]] absl::StatusOr<absl::Time> ReplyDue(absl::Time arrived,
                                                  const v1::CareAgreement& agreement);

// True when `t` lies inside one of the weekly response windows (start inclusive, end
// exclusive). Out-of-office periods are not considered here; see ActiveOutOfOffice.
// INVALID_ARGUMENT when ValidateAgreement(agreement) fails.
[[nodiscard]] absl::StatusOr<bool> IsWithinWindows(absl::Time t,
                                                   const v1::CareAgreement& agreement);

// The first instant at or after `t` that is working time (inside a window and in no
// out-of-office period); `t` itself when it already is. Use it to say when held notifications
// will be shown. Errors as ReplyDue.
[[nodiscard]] absl::StatusOr<absl::Time> NextWorkingTime(absl::Time t,
                                                         const v1::CareAgreement& agreement);

// The out-of-office period active at `t` (start_unix <= t < end_unix), or nullopt. When
// periods overlap, the one that started last wins (the earliest listed among equal starts).
// Needs no validation and never fails.
std::optional<v1::OutOfOffice> ActiveOutOfOffice(absl::Time t, const v1::CareAgreement& agreement);

}  // namespace alliance::care

#endif  // ALLIANCE_CARE_REPLY_DUE_H_

// Response windows as people type them: "mon 09:00-12:00" (issue 8, item 16).
//
// A window is a day and a wall-clock range in the therapist's time zone. The end must differ
// from the start: "mon 09:00-09:00" is refused rather than read as 24 hours, because a typo must
// never become a promise to answer around the clock. A whole day is written explicitly as
// "mon 00:00-24:00". A range that ends earlier than it starts runs past midnight
// ("fri 22:00-02:00" is four hours from Friday 22:00).
//
//   ALLIANCE_ASSIGN_OR_RETURN(v1::ResponseWindow w, ParseResponseWindow("thu 14:00-18:00"));
//   std::string shown = FormatResponseWindow(w);  // "thu 14:00-18:00"
//
// Thread safety: pure functions.
#ifndef ALLIANCE_CARE_WINDOW_TEXT_H_
#define ALLIANCE_CARE_WINDOW_TEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "alliance/v1/care.pb.h"

namespace alliance::care {

// Parses "<day> HH:MM-HH:MM" (day: mon..sun, or any word starting with those three letters,
// any case; HH:MM from 00:00 to 24:00). INVALID_ARGUMENT, with a one-line message, for any
// other shape, a time out of range, a start at 24:00, or an end equal to the start.
[[nodiscard]] absl::StatusOr<v1::ResponseWindow> ParseResponseWindow(absl::string_view text);

// "mon 09:00-12:00" ("???" for a day outside Monday..Sunday). A window ending exactly at
// midnight of its own day shows "24:00"; one running past midnight shows the wall-clock time it
// ends ("fri 22:00-02:00").
std::string FormatResponseWindow(const v1::ResponseWindow& window);

}  // namespace alliance::care

#endif  // ALLIANCE_CARE_WINDOW_TEXT_H_

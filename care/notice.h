// What the client is told when sending a message under a care agreement (issue 5, "What each
// side sees").
//
//  * Outside the agreed windows: "outside agreed hours — expect a reply by <local time>"
//    (for a message that needs a reply) and the emergency notice.
//  * During an out-of-office period: that period's notice, when a reply can be expected, and
//    the emergency notice.
//  * A message marked urgent, or one whose text matched a crisis phrase (crisis.h): always the
//    emergency notice, in or out of hours.
//  * Inside the windows otherwise: nothing to show (the due time is still computed).
//
//   ALLIANCE_ASSIGN_OR_RETURN(SendNotice notice,
//       NoticeForSend(sent_at, in_force->agreement, {.intent = intent, .urgent = urgent},
//                     absl::LocalTimeZone()));
//   for (const std::string& line : notice.lines) Print(line);
//
// Thread safety: pure functions; may be called concurrently.
#ifndef ALLIANCE_CARE_NOTICE_H_
#define ALLIANCE_CARE_NOTICE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "alliance/v1/care.pb.h"
#include "alliance/v1/content.pb.h"

namespace alliance::care {

// About the message being sent.
struct SendNoticeOptions {
  // What the message asks for. UNSPECIFIED counts as NEEDS_REPLY. Default: NEEDS_REPLY.
  v1::Intent intent = v1::INTENT_NEEDS_REPLY;
  // The sender marked it urgent. Default: false.
  bool urgent = false;
  // CheckForCrisis matched its text. Default: false.
  bool crisis_matched = false;
};

struct SendNotice {
  // The message was sent inside a response window (out-of-office not considered).
  bool within_windows = false;
  // The out-of-office period active when it was sent, if any.
  std::optional<v1::OutOfOffice> out_of_office;
  // When a reply is due; set only for a message that needs a reply.
  std::optional<absl::Time> reply_due;
  // Whether `lines` include the agreement's emergency notice.
  bool show_emergency_notice = false;
  // What to show, in order; empty when there is nothing to say.
  std::vector<std::string> lines;
};

// Formats `t` for people in `zone`, e.g. "Tue 14 Oct 2025 17:00 CEST".
std::string FormatLocalTime(absl::Time t, const absl::TimeZone& zone);

// Builds the notice for a message sent at `sent_at` under `agreement` (the one in force), with
// times shown in `display_zone` (the sender's own zone). INVALID_ARGUMENT when
// ValidateAgreement(agreement) fails. When no reply can be computed within the horizon
// (ReplyDue's OUT_OF_RANGE) the notice says so instead of giving a time.
[[nodiscard]] absl::StatusOr<SendNotice> NoticeForSend(absl::Time sent_at,
                                                       const v1::CareAgreement& agreement,
                                                       const SendNoticeOptions& options,
                                                       const absl::TimeZone& display_zone);

}  // namespace alliance::care

#endif  // ALLIANCE_CARE_NOTICE_H_

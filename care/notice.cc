// The client-side notice shown when sending under a care agreement.
#include "care/notice.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "care/reply_due.h"

namespace alliance::care {
namespace {

constexpr char kOutsideHours[] = "outside agreed hours";
constexpr char kAway[] = "the therapist is out of office";
constexpr char kNoReplyTime[] = "no reply time can be given";

bool NeedsReply(v1::Intent intent) {
  return intent == v1::INTENT_NEEDS_REPLY || intent == v1::INTENT_UNSPECIFIED;
}

}  // namespace

std::string FormatLocalTime(absl::Time t, const absl::TimeZone& zone) {
  return absl::FormatTime("%a %d %b %Y %H:%M %Z", t, zone);
}

absl::StatusOr<SendNotice> NoticeForSend(absl::Time sent_at, const v1::CareAgreement& agreement,
                                         const SendNoticeOptions& options,
                                         const absl::TimeZone& display_zone) {
  SendNotice notice;
  ALLIANCE_ASSIGN_OR_RETURN(notice.within_windows, IsWithinWindows(sent_at, agreement));
  notice.out_of_office = ActiveOutOfOffice(sent_at, agreement);
  const bool needs_reply = NeedsReply(options.intent);
  std::string expect;  // "expect a reply by …", when one is needed.
  if (needs_reply) {
    absl::StatusOr<absl::Time> due = ReplyDue(sent_at, agreement);
    if (due.ok()) {
      notice.reply_due = *due;
      expect = absl::StrCat("expect a reply by ", FormatLocalTime(*due, display_zone));
    } else if (absl::IsOutOfRange(due.status())) {
      expect = std::string(kNoReplyTime);
    } else {
      return due.status();
    }
  }

  if (notice.out_of_office.has_value()) {
    notice.lines.push_back(notice.out_of_office->notice().empty() ? std::string(kAway)
                                                                  : notice.out_of_office->notice());
    if (!expect.empty()) notice.lines.push_back(expect);
  } else if (!notice.within_windows) {
    notice.lines.push_back(expect.empty() ? std::string(kOutsideHours)
                                          : absl::StrCat(kOutsideHours, " — ", expect));
  }
  notice.show_emergency_notice = notice.out_of_office.has_value() || !notice.within_windows ||
                                 options.urgent || options.crisis_matched;
  if (notice.show_emergency_notice) notice.lines.push_back(agreement.emergency_notice());
  return notice;
}

}  // namespace alliance::care

// `POST /api/contacts/ID/send` (app/API.md): a message as JSON, or as multipart/form-data with
// files. The files are staged in the profile directory (send_form.h), encrypted and uploaded by
// the library, and removed once the send is over, whatever its outcome.
#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "app/api.h"
#include "app/send_form.h"
#include "base/status_macros.h"

namespace alliance::app {
namespace {

constexpr char kSend[] = "/api/contacts/([0-9a-f]{32})/send";

// The library names the file that failed ("big.pdf: the attachment is over the relay's limit
// of 50 MiB"); the page gets a sentence in the app's voice, with the name and the limit. Other
// errors go to Fail as they are.
absl::Status ForPeople(const absl::Status& s, bool with_files) {
  if (with_files && (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s))) {
    // A text waits in the outbox when the relay is away; files are uploaded first, so a message
    // with files is not queued: say so (409, not 503, whose sentence says "queued").
    return absl::FailedPreconditionError(
        "Can't reach the clinic's server right now, so the files were not sent; please try again "
        "when it's back");
  }
  if (!absl::IsResourceExhausted(s)) return s;
  const absl::string_view m = s.message();
  // "<name>: [context: ]the attachment is over ...": a safe file name has no ':'.
  constexpr absl::string_view kOverLimit = "the attachment is over the relay's limit of ";
  if (const size_t at = m.rfind(kOverLimit); at != absl::string_view::npos) {
    // "50 MiB" reads as "50 MB" to people (file managers show decimal units).
    std::string limit(m.substr(at + kOverLimit.size()));
    if (absl::EndsWith(limit, " MiB")) limit.replace(limit.size() - 3, 3, "MB");
    return absl::InvalidArgumentError(
        absl::StrCat("The file ", m.substr(0, std::min(m.find(':'), at)),
                     " is too large to send: the clinic's server takes files up to ", limit));
  }
  if (absl::StrContains(m, "fill its space")) {
    return absl::FailedPreconditionError(
        "The clinic's server has no room for more of your files until the earlier ones have been "
        "opened");
  }
  if (absl::StrContains(m, "cannot write")) {
    return absl::FailedPreconditionError(
        "There is not enough free space on this computer to send these files");
  }
  return s;  // The relay's rate limit: "Too many attempts just now".
}

absl::Status Send(const httplib::Request& req, const httplib::ContentReader& reader,
                  AppSession& session, client::Client& c, Json& out) {
  ALLIANCE_ASSIGN_OR_RETURN(SendForm form, ReadSendForm(req, reader, session.profile_dir()));
  const std::string id = ContactId(req);
  client::SendOptions o;
  ALLIANCE_ASSIGN_OR_RETURN(o.intent, ParseIntent(form.intent));
  o.urgent = form.urgent;
  o.crisis_acknowledged = form.crisis_acknowledged;
  o.attachments = form.files;
  absl::StatusOr<client::SendResult> sent = c.SendText(id, form.body, o);
  ALLIANCE_RETURN_IF_ERROR(ForPeople(sent.status(), !o.attachments.empty()));
  out["sent"] = sent->sent;
  out["queued"] = !sent->crisis_prompt && !sent->sent;
  out["crisis_prompt"] = sent->crisis_prompt;
  out["notice"] = sent->notice;
  out["emergency_notice"] = nullptr;
  if (sent->crisis_prompt && !sent->notice.empty()) {
    out["emergency_notice"] = sent->notice.front();
  }
  out["message"] = nullptr;
  if (!sent->message_id.empty()) {
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::MessageView> history, c.History(id));
    for (const client::MessageView& m : history) {
      if (m.id == sent->message_id) out["message"] = MessageJson(m);
    }
  }
  return absl::OkStatus();
}

}  // namespace

void AddSendRoutes(Routes& r) { r.PostStreamed(kSend, Send); }

}  // namespace alliance::app

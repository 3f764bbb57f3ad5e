// Routes for the care frame: the agreement (view, history, propose, accept), concerns, goals
// and the therapist's out-of-office periods (app/API.md).
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "app/api.h"
#include "base/status_macros.h"
#include "care/window_text.h"

namespace alliance::app {
namespace {

constexpr char kContact[] = "/api/contacts/([0-9a-f]{32})";
constexpr size_t kMaxWindows = 64;

Json WindowJson(const v1::ResponseWindow& w) {
  // "mon 09:00-17:00" as its three parts.
  std::vector<std::string> parts = absl::StrSplit(care::FormatResponseWindow(w), absl::ByAnyChar(" -"));
  if (parts.size() != 3) return Json{{"day", "?"}, {"start", ""}, {"end", ""}};
  return Json{{"day", parts[0]}, {"start", parts[1]}, {"end", parts[2]}};
}

Json AgreementJson(const v1::CareAgreement& a) {
  Json windows = Json::array();
  for (const v1::ResponseWindow& w : a.windows()) windows.push_back(WindowJson(w));
  return Json{{"version", a.version()},
              {"time_zone", a.time_zone()},
              {"windows", windows},
              {"reply_within_hours", a.reply_within_working_hours()},
              {"emergency_notice", a.emergency_notice()},
              {"retention_days", a.device_retention_days()},
              {"read_receipts", a.read_receipts()},
              {"proposed_at", a.proposed_at_unix() * 1000},
              {"proposed_text", TimeText(absl::FromUnixSeconds(a.proposed_at_unix()))}};
}

std::string Hours(const v1::CareAgreement& a) {
  std::vector<std::string> w;
  for (const v1::ResponseWindow& x : a.windows()) w.push_back(care::FormatResponseWindow(x));
  return absl::StrJoin(w, ", ");
}

// What `next` changes from `now`, one plain line per change.
std::vector<std::string> Changes(const v1::CareAgreement* now, const v1::CareAgreement& next) {
  std::vector<std::string> out;
  if (now == nullptr) {
    out.push_back("This would be your first agreement.");
    return out;
  }
  if (now->time_zone() != next.time_zone()) {
    out.push_back(absl::StrCat("Time zone: ", now->time_zone(), " → ", next.time_zone()));
  }
  if (Hours(*now) != Hours(next)) {
    out.push_back(absl::StrCat("Hours: ", Hours(*now), " → ", Hours(next)));
  }
  if (now->reply_within_working_hours() != next.reply_within_working_hours()) {
    out.push_back(absl::StrCat("Reply within: ", now->reply_within_working_hours(), " → ",
                               next.reply_within_working_hours(), " working hours"));
  }
  if (now->emergency_notice() != next.emergency_notice()) {
    out.push_back(absl::StrCat("Emergency notice: now \"", next.emergency_notice(), "\""));
  }
  if (now->device_retention_days() != next.device_retention_days()) {
    auto days = [](uint32_t d) {
      return d == 0 ? std::string("kept until deleted") : absl::StrCat(d, " days");
    };
    out.push_back(absl::StrCat("Messages kept on devices: ", days(now->device_retention_days()),
                               " → ", days(next.device_retention_days())));
  }
  if (now->read_receipts() != next.read_receipts()) {
    out.push_back(next.read_receipts() ? "Read receipts: on" : "Read receipts: off");
  }
  if (out.empty()) out.push_back("Nothing changes except the version number.");
  return out;
}

absl::StatusOr<v1::CareAgreement> DraftFrom(const Json& body) {
  v1::CareAgreement d;
  ALLIANCE_ASSIGN_OR_RETURN(std::string zone, Str(body, "time_zone", 64, "the time zone"));
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(zone, &tz)) return absl::InvalidArgumentError("unknown time zone");
  d.set_time_zone(zone);
  auto windows = body.find("windows");
  if (windows == body.end() || !windows->is_array() || windows->empty()) {
    return absl::InvalidArgumentError("add at least one time of the week when you reply");
  }
  if (windows->size() > kMaxWindows) return absl::InvalidArgumentError("too many time windows");
  for (const Json& w : *windows) {
    if (!w.is_object()) return absl::InvalidArgumentError("a time window could not be read");
    ALLIANCE_ASSIGN_OR_RETURN(std::string day, Str(w, "day", 10, "the day"));
    ALLIANCE_ASSIGN_OR_RETURN(std::string start, Str(w, "start", 5, "the start time"));
    ALLIANCE_ASSIGN_OR_RETURN(std::string end, Str(w, "end", 5, "the end time"));
    ALLIANCE_ASSIGN_OR_RETURN(*d.add_windows(),
                              care::ParseResponseWindow(absl::StrCat(day, " ", start, "-", end)));
  }
  ALLIANCE_ASSIGN_OR_RETURN(int64_t hours,
                            Int(body, "reply_within_hours", 1, 2000, "the reply time"));
  d.set_reply_within_working_hours(static_cast<uint32_t>(hours));
  ALLIANCE_ASSIGN_OR_RETURN(std::string emergency,
                            Str(body, "emergency_notice", 2000, "the emergency notice"));
  d.set_emergency_notice(emergency);
  int64_t retention = 0;
  if (body.contains("retention_days")) {
    ALLIANCE_ASSIGN_OR_RETURN(retention, Int(body, "retention_days", 0, 3650, "retention"));
  }
  d.set_device_retention_days(static_cast<uint32_t>(retention));
  d.set_read_receipts(Flag(body, "read_receipts"));
  return d;
}

absl::StatusOr<client::ConcernStep> ConcernStepOf(const std::string& s) {
  if (s == "acknowledge") return client::ConcernStep::kAcknowledge;
  if (s == "defer") return client::ConcernStep::kDefer;
  if (s == "address") return client::ConcernStep::kAddress;
  if (s == "close") return client::ConcernStep::kClose;
  return absl::InvalidArgumentError("unknown step for a concern");
}

absl::StatusOr<client::GoalStep> GoalStepOf(const std::string& s) {
  if (s == "edit") return client::GoalStep::kEdit;
  if (s == "progress") return client::GoalStep::kProgress;
  if (s == "complete") return client::GoalStep::kComplete;
  return absl::InvalidArgumentError("unknown step for a goal");
}

}  // namespace

void AddCareRoutes(Routes& r) {
  r.Get(absl::StrCat(kContact, "/agreement"),
        [](const httplib::Request& req, client::Client& c, Json& out) -> absl::Status {
          ALLIANCE_ASSIGN_OR_RETURN(client::AgreementView a, c.Agreement(ContactId(req)));
          out["in_force"] = a.in_force ? AgreementJson(*a.in_force) : Json(nullptr);
          out["pending"] = a.pending ? AgreementJson(*a.pending) : Json(nullptr);
          out["history"] = Json::array();
          for (const v1::CareAgreement& h : a.history) out["history"].push_back(AgreementJson(h));
          out["changes"] = a.pending ? Json(Changes(a.in_force ? &*a.in_force : nullptr, *a.pending))
                                     : Json::array();
          return absl::OkStatus();
        });

  r.Post(absl::StrCat(kContact, "/agreement"),
         [](const httplib::Request& req, client::Client& c, Json&) -> absl::Status {
           ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
           ALLIANCE_ASSIGN_OR_RETURN(v1::CareAgreement draft, DraftFrom(body));
           return c.ProposeAgreement(ContactId(req), std::move(draft));
         });

  r.Post(absl::StrCat(kContact, "/agreement/accept"),
         [](const httplib::Request& req, client::Client& c, Json&) -> absl::Status {
           return c.AcceptAgreement(ContactId(req));
         });

  r.Get(absl::StrCat(kContact, "/care"),
        [](const httplib::Request& req, client::Client& c, Json& out) -> absl::Status {
          ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::ConcernView> concerns,
                                    c.Concerns(ContactId(req)));
          ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::GoalView> goals, c.Goals(ContactId(req)));
          out["concerns"] = Json::array();
          for (const client::ConcernView& x : concerns) {
            out["concerns"].push_back(
                Json{{"id", x.id}, {"title", x.title}, {"state", x.state}, {"note", x.note}});
          }
          out["goals"] = Json::array();
          for (const client::GoalView& g : goals) {
            out["goals"].push_back(Json{{"id", g.id},
                                        {"title", g.title},
                                        {"description", g.description},
                                        {"completed", g.completed},
                                        {"percent", g.percent ? Json(*g.percent) : Json(nullptr)},
                                        {"notes", g.progress_notes}});
          }
          return absl::OkStatus();
        });

  r.Post(absl::StrCat(kContact, "/concerns"),
         [](const httplib::Request& req, client::Client& c, Json& out) -> absl::Status {
           ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
           ALLIANCE_ASSIGN_OR_RETURN(std::string title, Str(body, "title", 200, "the title"));
           ALLIANCE_ASSIGN_OR_RETURN(std::string note, Str(body, "note", 4000, "the note", false));
           ALLIANCE_ASSIGN_OR_RETURN(std::string id, c.OpenConcern(ContactId(req), title, note));
           out["id"] = id;
           return absl::OkStatus();
         });

  r.Post(absl::StrCat(kContact, "/concerns/([0-9a-f]{32})"),
         [](const httplib::Request& req, client::Client& c, Json&) -> absl::Status {
           ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
           ALLIANCE_ASSIGN_OR_RETURN(std::string step, Str(body, "step", 20, "the step"));
           ALLIANCE_ASSIGN_OR_RETURN(std::string note, Str(body, "note", 4000, "the note", false));
           ALLIANCE_ASSIGN_OR_RETURN(client::ConcernStep s, ConcernStepOf(step));
           return c.StepConcern(ContactId(req), req.matches[2], s, note);
         });

  r.Post(absl::StrCat(kContact, "/goals"),
         [](const httplib::Request& req, client::Client& c, Json& out) -> absl::Status {
           ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
           ALLIANCE_ASSIGN_OR_RETURN(std::string title, Str(body, "title", 200, "the title"));
           ALLIANCE_ASSIGN_OR_RETURN(std::string description,
                                     Str(body, "description", 4000, "the description", false));
           ALLIANCE_ASSIGN_OR_RETURN(std::string id, c.AddGoal(ContactId(req), title, description));
           out["id"] = id;
           return absl::OkStatus();
         });

  r.Post(absl::StrCat(kContact, "/goals/([0-9a-f]{32})"),
         [](const httplib::Request& req, client::Client& c, Json&) -> absl::Status {
           ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
           ALLIANCE_ASSIGN_OR_RETURN(std::string step, Str(body, "step", 20, "the step"));
           ALLIANCE_ASSIGN_OR_RETURN(std::string text, Str(body, "text", 4000, "the text", false));
           ALLIANCE_ASSIGN_OR_RETURN(client::GoalStep s, GoalStepOf(step));
           std::optional<uint32_t> percent;
           if (body.contains("percent") && !body["percent"].is_null()) {
             ALLIANCE_ASSIGN_OR_RETURN(int64_t p, Int(body, "percent", 0, 100, "progress"));
             percent = static_cast<uint32_t>(p);
           }
           return c.StepGoal(ContactId(req), req.matches[2], s, text, percent);
         });

  r.Get("/api/out-of-office", [](const httplib::Request&, client::Client& c, Json& out) -> absl::Status {
    out = Json::array();
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::ContactView> contacts, c.Contacts(false));
    for (const client::ContactView& contact : contacts) {
      if (contact.role != v1::ROLE_CLIENT) continue;
      absl::StatusOr<client::AgreementView> a = c.Agreement(contact.id);
      if (!a.ok()) continue;
      for (const v1::OutOfOffice& p : a->out_of_office) {
        out.push_back(Json{{"start", p.start_unix() * 1000},
                           {"end", p.end_unix() * 1000},
                           {"start_text", TimeText(absl::FromUnixSeconds(p.start_unix()))},
                           {"end_text", TimeText(absl::FromUnixSeconds(p.end_unix()))},
                           {"notice", p.notice()}});
      }
      break;  // The same periods go to every client.
    }
    return absl::OkStatus();
  });

  r.Post("/api/out-of-office", [](const httplib::Request& req, client::Client& c, Json&) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
    auto periods = body.find("periods");
    if (periods == body.end() || !periods->is_array()) {
      return absl::InvalidArgumentError("the periods could not be read");
    }
    std::vector<v1::OutOfOffice> out;
    for (const Json& p : *periods) {
      if (!p.is_object()) return absl::InvalidArgumentError("a period could not be read");
      ALLIANCE_ASSIGN_OR_RETURN(int64_t start, Int(p, "start", 0, int64_t{1} << 50, "the start"));
      ALLIANCE_ASSIGN_OR_RETURN(int64_t end, Int(p, "end", 0, int64_t{1} << 50, "the end"));
      ALLIANCE_ASSIGN_OR_RETURN(std::string notice, Str(p, "notice", 2000, "the notice", false));
      v1::OutOfOffice o;
      o.set_start_unix(start / 1000);
      o.set_end_unix(end / 1000);
      o.set_notice(notice);
      out.push_back(std::move(o));
    }
    return c.SetOutOfOffice(std::move(out));
  });
}

}  // namespace alliance::app

#include "client/cli/care_commands.h"

#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "care/window_text.h"

namespace alliance::cli {
namespace {

absl::StatusOr<absl::Time> ParseLocal(const std::string& text) {
  absl::Time t;
  std::string err;
  for (const char* fmt : {"%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}) {
    if (absl::ParseTime(fmt, text, absl::LocalTimeZone(), &t, &err)) return t;
  }
  return absl::InvalidArgumentError("bad date '" + text + "' (use YYYY-MM-DD [HH:MM])");
}

json AgreementJson(const v1::CareAgreement& a) {
  json windows = json::array();
  for (const v1::ResponseWindow& w : a.windows()) windows.push_back(care::FormatResponseWindow(w));
  json ooo = json::array();
  for (const v1::OutOfOffice& o : a.out_of_office()) {
    ooo.push_back({{"from", LocalTime(absl::FromUnixSeconds(o.start_unix()))},
                   {"to", LocalTime(absl::FromUnixSeconds(o.end_unix()))},
                   {"notice", o.notice()}});
  }
  return {{"version", a.version()},
          {"time_zone", a.time_zone()},
          {"windows", windows},
          {"reply_within_working_hours", a.reply_within_working_hours()},
          {"read_receipts", a.read_receipts()},
          {"emergency_notice", a.emergency_notice()},
          {"device_retention_days", a.device_retention_days()},
          {"out_of_office", ooo}};
}

void PrintAgreement(const char* label, const v1::CareAgreement& a) {
  std::printf("%s (version %llu), therapist's time zone %s\n", label,
              static_cast<unsigned long long>(a.version()), Printable(a.time_zone()).c_str());
  for (const v1::ResponseWindow& w : a.windows())
    std::printf("  window   %s\n", care::FormatResponseWindow(w).c_str());
  std::printf("  replies  within %u working hours\n", a.reply_within_working_hours());
  std::printf("  receipts %s\n", a.read_receipts() ? "read receipts shared" : "not shared");
  if (a.device_retention_days() > 0) {
    std::printf("  devices  keep messages %u days\n", a.device_retention_days());
  }
  std::printf("  emergency: %s\n", Printable(a.emergency_notice()).c_str());
}

json DueJson(const client::DueView& d) {
  return {{"contact", d.contact_id},
          {"contact_name", d.contact_name},
          {"message", d.message_id},
          {"body", d.body},
          {"arrived_at", absl::FormatTime(absl::RFC3339_sec, d.arrived_at, absl::UTCTimeZone())},
          {"due_at",
           d.due_at ? absl::FormatTime(absl::RFC3339_sec, *d.due_at, absl::UTCTimeZone()) : ""},
          {"overdue", d.overdue},
          {"urgent", d.urgent},
          {"waiting", d.waiting}};
}

}  // namespace

void AddCareCommands(CLI::App& app, Globals& g, CareFlags& f, int& rc) {
  auto run = [&rc](std::function<absl::Status()> fn) {
    return [&rc, fn] {
      absl::Status s = fn();
      if (!s.ok()) rc = Fail(s);
    };
  };

  // agreement
  auto* agreement = app.add_subcommand("agreement", "The care agreement with a client/therapist");
  agreement->require_subcommand(1);
  auto* propose = agreement->add_subcommand("propose", "Therapist: propose a (new) agreement");
  propose->add_option("client", f.contact)->required();
  propose->add_option("--time-zone", f.time_zone, "IANA zone, e.g. Europe/Berlin")->required();
  propose
      ->add_option("--window", f.windows,
                   "Weekly window, e.g. 'mon 09:00-12:00' (repeat); a whole day is "
                   "'mon 00:00-24:00', an end equal to the start is refused")
      ->required();
  propose->add_option("--reply-within-hours", f.reply_hours, "Working hours")
      ->capture_default_str();
  propose->add_option("--emergency", f.emergency, "Emergency notice text")->required();
  propose->add_option("--retention-days", f.retention_days, "Days devices keep messages (0: keep)");
  propose->add_flag("--read-receipts", f.read_receipts, "Share read receipts");
  propose->add_option("--crisis-phrase", f.crisis_phrases, "Extra on-device crisis phrase");
  propose->callback(run([&]() -> absl::Status {
    v1::CareAgreement draft;
    draft.set_time_zone(f.time_zone);
    for (const std::string& w : f.windows) {
      ALLIANCE_ASSIGN_OR_RETURN(*draft.add_windows(), care::ParseResponseWindow(w));
    }
    draft.set_reply_within_working_hours(f.reply_hours);
    draft.set_emergency_notice(f.emergency);
    draft.set_device_retention_days(f.retention_days);
    draft.set_read_receipts(f.read_receipts);
    for (const std::string& p : f.crisis_phrases) draft.add_crisis_phrases(p);
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->ProposeAgreement(f.contact, draft));
    if (!g.json_output) std::printf("Proposed; it is in force once the client accepts it.\n");
    return absl::OkStatus();
  }));
  auto* accept = agreement->add_subcommand("accept", "Client: countersign the pending proposal");
  accept->add_option("therapist", f.contact)->required();
  accept->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->Sync().status());
    ALLIANCE_RETURN_IF_ERROR(c->AcceptAgreement(f.contact));
    if (!g.json_output) std::printf("Accepted; the agreement is in force.\n");
    return absl::OkStatus();
  }));
  auto* show = agreement->add_subcommand("show", "Show the agreement in force and any proposal");
  show->add_option("contact", f.contact)->required();
  show->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(SyncTolerant(*c));
    ALLIANCE_ASSIGN_OR_RETURN(client::AgreementView v, c->Agreement(f.contact));
    if (g.json_output) {
      std::cout << json{{"in_force", v.in_force ? AgreementJson(*v.in_force) : json()},
                        {"pending", v.pending ? AgreementJson(*v.pending) : json()},
                        {"versions", v.versions}}
                       .dump()
                << "\n";
      return absl::OkStatus();
    }
    if (v.in_force) PrintAgreement("In force", *v.in_force);
    if (v.pending) PrintAgreement("Proposed, awaiting the client", *v.pending);
    if (!v.in_force && !v.pending) std::printf("No agreement yet.\n");
    for (const v1::OutOfOffice& o : v.out_of_office) {
      std::printf(
          "  out of office %s – %s: %s\n", LocalTime(absl::FromUnixSeconds(o.start_unix())).c_str(),
          LocalTime(absl::FromUnixSeconds(o.end_unix())).c_str(), Printable(o.notice()).c_str());
    }
    return absl::OkStatus();
  }));

  // ooo
  auto* ooo = app.add_subcommand("ooo", "Therapist: out-of-office periods");
  ooo->require_subcommand(1);
  auto* set = ooo->add_subcommand("set", "Announce an out-of-office period to every client");
  set->add_option("--from", f.from, "YYYY-MM-DD [HH:MM], local time")->required();
  set->add_option("--to", f.to, "YYYY-MM-DD [HH:MM], local time (exclusive)")->required();
  set->add_option("--notice", f.note, "What clients see meanwhile")->required();
  set->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(absl::Time from, ParseLocal(f.from));
    ALLIANCE_ASSIGN_OR_RETURN(absl::Time to, ParseLocal(f.to));
    v1::OutOfOffice p;
    p.set_start_unix(absl::ToUnixSeconds(from));
    p.set_end_unix(absl::ToUnixSeconds(to));
    p.set_notice(f.note);
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    return c->SetOutOfOffice({p});
  }));
  ooo->add_subcommand("clear", "Withdraw out-of-office periods")
      ->callback(run([&]() -> absl::Status {
        ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
        return c->SetOutOfOffice({});
      }));

  // digest
  auto* digest = app.add_subcommand("digest", "What a client saved for the next session");
  digest->add_option("client", f.contact)->required();
  digest->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(SyncTolerant(*c));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::DueView> items, c->Digest(f.contact));
    json arr = json::array();
    for (const client::DueView& d : items) {
      if (g.json_output) {
        arr.push_back(DueJson(d));
      } else {
        std::printf("%s  %s\n", LocalTime(d.arrived_at).c_str(), Printable(d.body).c_str());
      }
    }
    if (g.json_output) std::cout << arr.dump() << "\n";
    if (!g.json_output && items.empty()) std::printf("Nothing saved for the next session.\n");
    return absl::OkStatus();
  }));

  // concern
  auto* concern = app.add_subcommand("concern", "Concerns: open, acknowledge, defer, close, list");
  concern->require_subcommand(1);
  auto* open = concern->add_subcommand("open", "Raise a concern");
  open->add_option("contact", f.contact)->required();
  open->add_option("title", f.text)->required();
  open->add_option("--note", f.note);
  open->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(std::string id, c->OpenConcern(f.contact, f.text, f.note));
    if (g.json_output) {
      std::cout << json{{"id", id}}.dump() << "\n";
    } else {
      std::printf("Concern %s opened.\n", id.substr(0, 8).c_str());
    }
    return absl::OkStatus();
  }));
  const std::pair<const char*, client::ConcernStep> steps[] = {
      {"ack", client::ConcernStep::kAcknowledge},
      {"defer", client::ConcernStep::kDefer},
      {"address", client::ConcernStep::kAddress},
      {"close", client::ConcernStep::kClose}};
  for (const auto& [name, step] : steps) {
    auto* cmd = concern->add_subcommand(name, std::string("Mark a concern: ") + name);
    cmd->add_option("contact", f.contact)->required();
    cmd->add_option("id", f.id, "Concern id (first digits)")->required();
    cmd->add_option("--note", f.note);
    const client::ConcernStep s = step;
    cmd->callback(run([&g, &f, s]() -> absl::Status {
      ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
      ALLIANCE_RETURN_IF_ERROR(SyncTolerant(*c));
      return c->StepConcern(f.contact, f.id, s, f.note);
    }));
  }
  auto* clist = concern->add_subcommand("list", "List concerns with a contact");
  clist->add_option("contact", f.contact)->required();
  clist->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(SyncTolerant(*c));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::ConcernView> all, c->Concerns(f.contact));
    json arr = json::array();
    for (const client::ConcernView& x : all) {
      if (g.json_output) {
        arr.push_back({{"id", x.id}, {"title", x.title}, {"state", x.state}, {"note", x.note}});
      } else {
        std::printf("%s  %-12s %s\n", x.id.substr(0, 8).c_str(), x.state.c_str(),
                    Printable(x.title).c_str());
      }
    }
    if (g.json_output) std::cout << arr.dump() << "\n";
    return absl::OkStatus();
  }));

  // goals
  auto* goals = app.add_subcommand("goals", "Shared goals: add, edit, progress, complete, list");
  goals->require_subcommand(1);
  auto* add = goals->add_subcommand("add", "Add a goal");
  add->add_option("contact", f.contact)->required();
  add->add_option("title", f.text)->required();
  add->add_option("--description", f.note);
  add->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(std::string id, c->AddGoal(f.contact, f.text, f.note));
    if (g.json_output) {
      std::cout << json{{"id", id}}.dump() << "\n";
    } else {
      std::printf("Goal %s added.\n", id.substr(0, 8).c_str());
    }
    return absl::OkStatus();
  }));
  auto step_cmd = [&](const char* name, const char* help, client::GoalStep step) {
    auto* cmd = goals->add_subcommand(name, help);
    cmd->add_option("contact", f.contact)->required();
    cmd->add_option("id", f.id, "Goal id (first digits)")->required();
    cmd->add_option("text", f.text, step == client::GoalStep::kEdit ? "New title" : "Note");
    if (step == client::GoalStep::kProgress) cmd->add_option("--percent", f.percent);
    cmd->callback(run([&g, &f, step]() -> absl::Status {
      ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
      ALLIANCE_RETURN_IF_ERROR(SyncTolerant(*c));
      std::optional<uint32_t> percent;
      if (f.percent >= 0) percent = static_cast<uint32_t>(f.percent);
      return c->StepGoal(f.contact, f.id, step, f.text, percent);
    }));
  };
  step_cmd("edit", "Rename a goal", client::GoalStep::kEdit);
  step_cmd("progress", "Record progress", client::GoalStep::kProgress);
  step_cmd("complete", "Mark a goal complete", client::GoalStep::kComplete);
  auto* glist = goals->add_subcommand("list", "List the shared goals");
  glist->add_option("contact", f.contact)->required();
  glist->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(SyncTolerant(*c));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::GoalView> all, c->Goals(f.contact));
    json arr = json::array();
    for (const client::GoalView& x : all) {
      if (g.json_output) {
        arr.push_back({{"id", x.id},
                       {"title", x.title},
                       {"description", x.description},
                       {"completed", x.completed},
                       {"percent", x.percent ? json(*x.percent) : json()},
                       {"progress", x.progress_notes}});
      } else {
        std::printf("%s  %s%s%s\n", x.id.substr(0, 8).c_str(), Printable(x.title).c_str(),
                    x.completed ? "  [done]" : "",
                    x.percent ? absl::StrCat("  ", *x.percent, "%").c_str() : "");
      }
    }
    if (g.json_output) std::cout << arr.dump() << "\n";
    return absl::OkStatus();
  }));
}

// Due list output for `inbox --due`, shared with main.cc.
void PrintDue(const std::vector<client::DueView>& items, bool as_json) {
  if (as_json) {
    json arr = json::array();
    for (const client::DueView& d : items) arr.push_back(DueJson(d));
    std::cout << arr.dump() << "\n";
    return;
  }
  if (items.empty()) std::printf("Nothing awaits a reply.\n");
  for (const client::DueView& d : items) {
    std::printf(
        "%s%-24s due %s  %s%s\n", d.overdue ? "OVERDUE " : "",
        Printable(d.contact_name.empty() ? d.contact_id.substr(0, 8) : d.contact_name).c_str(),
        d.due_at ? LocalTime(*d.due_at).c_str() : "(no agreement)", Printable(d.body).c_str(),
        d.urgent ? " [urgent]" : "");
  }
}

}  // namespace alliance::cli

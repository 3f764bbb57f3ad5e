// Routes for clinic administration: invites (with a QR code), members, deactivation and the
// audit log with its hash chain checked on this device (app/API.md).
#include "absl/strings/str_cat.h"
#include "app/api.h"
#include "base/status_macros.h"

namespace alliance::app {
namespace {

absl::StatusOr<v1::Role> RoleOf(const std::string& s) {
  if (s == "client") return v1::ROLE_CLIENT;
  if (s == "therapist") return v1::ROLE_THERAPIST;
  if (s == "admin") return v1::ROLE_ADMIN;
  return absl::InvalidArgumentError("choose who the invite is for");
}

const char* StateName(v1::AccountState s) {
  return s == v1::ACCOUNT_STATE_ACTIVE ? "active" : "deactivated";
}

std::string EventName(v1::AuditEvent e) {
  std::string name = v1::AuditEvent_Name(e);
  constexpr absl::string_view kPrefix = "AUDIT_EVENT_";
  if (absl::string_view(name).substr(0, kPrefix.size()) == kPrefix) name = name.substr(kPrefix.size());
  for (char& ch : name) ch = ch == '_' ? ' ' : static_cast<char>(std::tolower(ch));
  return name;
}

}  // namespace

void AddAdminRoutes(Routes& r) {
  r.Post("/api/admin/invites", [](const httplib::Request& req, client::Client& c, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
    ALLIANCE_ASSIGN_OR_RETURN(std::string role_name, Str(body, "role", 20, "the role"));
    ALLIANCE_ASSIGN_OR_RETURN(v1::Role role, RoleOf(role_name));
    ALLIANCE_ASSIGN_OR_RETURN(client::InviteView invite, c.CreateInvite(role));
    out = Json{{"code", invite.code},
               {"role", client::RoleName(invite.role)},
               {"expires_text", TimeText(invite.expires_at)},
               {"qr", QrJson(invite.code)}};
    return absl::OkStatus();
  });

  r.Get("/api/admin/members", [](const httplib::Request&, client::Client& c, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<v1::Member> members, c.Members());
    out = Json::array();
    for (const v1::Member& m : members) {
      out.push_back(Json{{"id", client::ToHex(m.account_id())},
                         {"role", client::RoleName(m.role())},
                         {"state", StateName(m.state())},
                         {"created_text", TimeText(absl::FromUnixSeconds(
                                              static_cast<int64_t>(m.created_at())))}});
    }
    return absl::OkStatus();
  });

  r.Post("/api/admin/members/([0-9a-f]{32})/deactivate",
         [](const httplib::Request& req, client::Client& c, Json&) -> absl::Status {
           return c.Deactivate(ContactId(req));
         });

  r.Get("/api/admin/audit", [](const httplib::Request& req, client::Client& c, Json& out) -> absl::Status {
    const bool security = req.get_param_value("security") == "1";
    // The newest 1000 entries, read in pages from the start of the log.
    std::vector<v1::AuditEntry> all;
    uint64_t after = 0;
    for (int page = 0; page < 100; ++page) {
      ALLIANCE_ASSIGN_OR_RETURN(std::vector<v1::AuditEntry> got, c.Audit(after, 1000, security));
      if (got.empty()) break;
      after = got.back().sequence();
      all.insert(all.end(), got.begin(), got.end());
      if (all.size() > 5000) all.erase(all.begin(), all.end() - 1000);
      if (got.size() < 1000) break;
    }
    const client::AuditChainCheck check = client::CheckAuditChain(all);
    if (all.size() > 1000) all.erase(all.begin(), all.end() - 1000);
    out["chain"] = check.intact ? std::string("intact")
                                : absl::StrCat("broken at entry ", check.broken_at);
    out["checked"] = check.checked;
    out["entries"] = Json::array();
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      out["entries"].push_back(
          Json{{"sequence", it->sequence()},
               {"time_text", TimeText(absl::FromUnixSeconds(static_cast<int64_t>(it->time())))},
               {"event", EventName(it->event())},
               {"actor", client::ToHex(it->actor_account_id())},
               {"subject", client::ToHex(it->subject_account_id())},
               {"device_id", it->device_id()},
               {"role", it->role() == v1::ROLE_UNSPECIFIED ? "" : client::RoleName(it->role())}});
    }
    return absl::OkStatus();
  });
}

}  // namespace alliance::app

// `alliance admin invite | members | deactivate | devices | remove-device | audit`: clinic administration.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/cli/cli_common.h"

namespace alliance::cli {
namespace {

struct AdminFlags {
  std::string role_name = "therapist";
  std::string account_hex;
  uint64_t audit_after = 0;
  uint32_t audit_limit = 100;
  bool security_only = false;
  uint32_t device_id = 0;
};

}  // namespace

void AddAdminCommands(Commands& cli) {
  static AdminFlags f;
  Globals& g = cli.g;
  const Output& out = cli.out;

  auto* admin = cli.app.add_subcommand("admin", "Clinic administration");
  admin->require_subcommand(1);

  auto* invite = admin->add_subcommand(
      "invite", "Create an invite (admins: therapist/admin; therapists: client)");
  invite->add_option("--role", f.role_name, "admin | therapist | client")->capture_default_str();
  invite->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(v1::Role role, ParseRole(f.role_name));
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(client::InviteView inv, c->CreateInvite(role));
    out.Print(json{{"code", inv.code},
                   {"id", inv.id},
                   {"role", RoleName(inv.role)},
                   {"expires_at",
                    absl::FormatTime(absl::RFC3339_sec, inv.expires_at, absl::UTCTimeZone())}},
              absl::StrCat(RoleName(inv.role), " invite: ", inv.code, " (single use, expires ",
                           LocalTime(inv.expires_at), ")"));
    return absl::OkStatus();
  }));

  admin->add_subcommand("members", "List the clinic's accounts")
      ->callback(cli.Run([&g, &out]() -> absl::Status {
        ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
        ALLIANCE_ASSIGN_OR_RETURN(std::vector<v1::Member> members, c->Members());
        json arr = json::array();
        std::string text;
        for (const v1::Member& m : members) {
          const std::string id = client::ToHex(m.account_id());
          const char* state = m.state() == v1::ACCOUNT_STATE_ACTIVE ? "active" : "deactivated";
          arr.push_back({{"id", id}, {"role", RoleName(m.role())}, {"state", state}});
          char line[256];
          std::snprintf(line, sizeof line, "%s  %-10s %s\n", id.c_str(), RoleName(m.role()), state);
          text += line;
        }
        out.Print(arr, text);
        return absl::OkStatus();
      }));

  auto* deactivate = admin->add_subcommand("deactivate", "Deactivate an account (erases its keys)");
  deactivate->add_option("account", f.account_hex, "Account id (32 hex digits)")->required();
  deactivate->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->Deactivate(f.account_hex));
    out.Note(absl::StrCat("Deactivated ", f.account_hex,
                          ": its tokens, invites and mailbox no longer work."));
    return absl::OkStatus();
  }));

  auto* devices = admin->add_subcommand("devices", "List an account's devices");
  devices->add_option("account", f.account_hex, "Account id (32 hex digits)")->required();
  devices->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<v1::DeviceStatus> all, c->AccountDevices(f.account_hex));
    json arr = json::array();
    std::string text;
    for (const v1::DeviceStatus& d : all) {
      const absl::Time added = absl::FromUnixSeconds(static_cast<int64_t>(d.added_at()));
      arr.push_back({{"id", d.device_id()},
                     {"added_at", absl::FormatTime(absl::RFC3339_sec, added, absl::UTCTimeZone())},
                     {"has_device_key", !d.device_key().empty()}});
      absl::StrAppend(&text, d.device_id(), "  added ",
                      absl::FormatTime("%e %b %Y %H:%M", added, absl::LocalTimeZone()), "\n");
    }
    out.Print(arr, text);
    return absl::OkStatus();
  }));

  auto* remove = admin->add_subcommand(
      "remove-device", "Remove a device from an account (a lost phone); its access ends at once");
  remove->add_option("account", f.account_hex, "Account id (32 hex digits)")->required();
  remove->add_option("device", f.device_id, "Device id (see admin devices)")->required();
  remove->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->RemoveAccountDevice(f.account_hex, f.device_id));
    out.Note(absl::StrCat("Removed device ", f.device_id, " of ", f.account_hex,
                          ": its tokens and mailbox no longer work."));
    return absl::OkStatus();
  }));

  auto* audit = admin->add_subcommand("audit", "Read the security audit trail (never content)");
  audit->add_option("--after", f.audit_after, "Show entries after this sequence");
  audit->add_option("--limit", f.audit_limit, "At most this many entries")->capture_default_str();
  audit->add_flag("--security", f.security_only,
                  "Only security events (registrations, redeemed and revoked invites, "
                  "deactivations, deletions), however many routine entries there are");
  audit->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<v1::AuditEntry> entries,
                              c->Audit(f.audit_after, f.audit_limit, f.security_only));
    // The log is a hash chain: a relay that altered, dropped or reordered an entry in what it
    // returned is caught here (its whole chain on disk: `alliance-relay check`).
    const client::AuditChainCheck chain = client::CheckAuditChain(entries);
    if (!chain.intact) {
      return absl::DataLossError(absl::StrCat("the relay's audit log does not verify at entry ",
                                              chain.broken_at,
                                              "; ask the operator to run alliance-relay check"));
    }
    json arr = json::array();
    std::string text;
    for (const v1::AuditEntry& e : entries) {
      const std::string event = v1::AuditEvent_Name(e.event());
      const std::string when = LocalTime(absl::FromUnixSeconds(static_cast<int64_t>(e.time())));
      arr.push_back({{"sequence", e.sequence()},
                     {"time", e.time()},
                     {"event", event},
                     {"actor", client::ToHex(e.actor_account_id())},
                     {"subject", client::ToHex(e.subject_account_id())},
                     {"device_id", e.device_id()},
                     {"hash", client::ToHex(e.hash())}});
      char line[256];
      std::snprintf(line, sizeof line, "%6llu  %s  %-32s actor=%s subject=%s",
                    static_cast<unsigned long long>(e.sequence()), when.c_str(), event.c_str(),
                    client::ToHex(e.actor_account_id()).substr(0, 8).c_str(),
                    client::ToHex(e.subject_account_id()).substr(0, 8).c_str());
      text += line;
      if (e.device_id() != 0) absl::StrAppend(&text, " device=", e.device_id());
      text += "\n";
    }
    out.Print(arr, text);
    out.Note(absl::StrCat("Hash chain verified over ", chain.checked, " entries."));
    return absl::OkStatus();
  }));
}

}  // namespace alliance::cli

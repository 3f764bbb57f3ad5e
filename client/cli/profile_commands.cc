// `alliance init | register | whoami | receipts`: the profile and its account.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/cli/cli_common.h"
#include "client/cli/passphrase.h"

namespace alliance::cli {
namespace {

// Values bound to the options of these commands; alive as long as the App (static storage of
// one process run).
struct ProfileFlags {
  std::string cost_name = "moderate";
  std::string invite_text;
  std::string display_name;
  std::string receipts_mode;
};

}  // namespace

void AddProfileCommands(Commands& cli) {
  static ProfileFlags f;
  Globals& g = cli.g;
  const Output& out = cli.out;

  auto* init =
      cli.app.add_subcommand("init", "Create a profile (identity key) protected by a passphrase");
  init->add_option("--passphrase-cost", f.cost_name,
                   "Argon2id cost of unlocking: interactive (64 MiB), moderate (256 MiB), "
                   "sensitive (1 GiB)")
      ->check(CLI::IsMember({"interactive", "moderate", "sensitive"}))
      ->capture_default_str();
  init->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes pass, ReadPassphrase(g.passphrase_file, true));
    ClientOptions o;
    o.profile_dir = g.profile;
    o.relay.address = g.relay;
    o.store.hold_open = false;
    o.store.cost = f.cost_name == "interactive" ? crypto::PassphraseCost::Interactive()
                   : f.cost_name == "sensitive" ? crypto::PassphraseCost::Sensitive()
                                                : crypto::PassphraseCost::Moderate();
    ALLIANCE_RETURN_IF_ERROR(Client::Init(o, pass.span()).status());
    out.Print(json{{"profile", g.profile}},
              absl::StrCat("Created profile ", g.profile,
                           ". Next: alliance register <invite> --relay HOST:PORT"));
    return absl::OkStatus();
  }));

  auto* reg = cli.app.add_subcommand("register", "Join a clinic with an invite code");
  reg->add_option("invite", f.invite_text, "Invite code (32 hex digits)")->required();
  reg->add_option("--name", f.display_name, "Your name as your contacts see it (end to end only)");
  reg->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::string code, client::ParseInviteCode(f.invite_text));
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->Register(code, f.display_name));
    ALLIANCE_ASSIGN_OR_RETURN(client::AccountView a, c->Account());
    out.Print(json{{"account", a.id}, {"role", RoleName(a.role)}},
              absl::StrCat("Registered as ", RoleName(a.role), " ", a.id, " on ", a.relay_address));
    return absl::OkStatus();
  }));

  cli.app.add_subcommand("whoami", "Show this profile's account")
      ->callback(cli.Run([&g, &out]() -> absl::Status {
        ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
        ALLIANCE_ASSIGN_OR_RETURN(client::AccountView a, c->Account());
        out.Print(json{{"account", a.id},
                       {"role", RoleName(a.role)},
                       {"relay", a.relay_address},
                       {"display_name", a.display_name},
                       {"read_receipts", a.read_receipts}},
                  absl::StrCat(RoleName(a.role), " ", a.id, " on ", a.relay_address));
        return absl::OkStatus();
      }));

  auto* receipts = cli.app.add_subcommand("receipts", "Share read receipts (on|off)");
  receipts->add_option("mode", f.receipts_mode)->required()->check(CLI::IsMember({"on", "off"}));
  receipts->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->SetReadReceipts(f.receipts_mode == "on"));
    out.Note(f.receipts_mode == "on"
                 ? "Read receipts shared (they flow only when your contact shares them too)."
                 : "Read receipts not shared.");
    return absl::OkStatus();
  }));
}

}  // namespace alliance::cli

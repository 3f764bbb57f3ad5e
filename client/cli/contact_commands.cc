// `alliance contacts | safety-number | verify | accept-key`: who you can message, and the two
// trust decisions, which bind the contact's key (DESIGN §2, invariant 9).
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/cli/cli_common.h"

namespace alliance::cli {
namespace {

struct ContactFlags {
  std::string contact;
  std::string typed_number;
};

// The user types (or pastes) the whole number they compared, never a part: the number is both
// halves in sorted order, so the first half may be the user's own and say nothing about the
// contact's key.
constexpr char kConfirmHelp[] =
    "The whole 60-digit safety number, as your contact read it to you (in person, on a call "
    "you trust), or the QR payload; spaces are ignored. Never only a part: the first half may "
    "be your own";

absl::Status ShowSafetyNumber(Client& c, const std::string& contact, const Output& out) {
  ALLIANCE_ASSIGN_OR_RETURN(client::SafetyNumberView sn, c.SafetyNumber(contact));
  out.Print(
      json{{"safety_number", sn.digits}, {"qr_payload", sn.qr_payload}, {"verified", sn.verified}},
      absl::StrCat("Safety number: ", sn.formatted));
  return absl::OkStatus();
}

}  // namespace

void AddContactCommands(Commands& cli) {
  static ContactFlags f;
  Globals& g = cli.g;
  const Output& out = cli.out;

  cli.app.add_subcommand("contacts", "List the people you can message")
      ->callback(cli.Run([&g, &out]() -> absl::Status {
        ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
        ALLIANCE_ASSIGN_OR_RETURN(std::vector<ContactView> all, c->Contacts(true));
        json arr = json::array();
        std::string text = all.empty() ? "No contacts yet.\n" : "";
        for (const ContactView& x : all) {
          arr.push_back(ToJson(x));
          char line[512];
          std::snprintf(line, sizeof line, "%s  %-10s %-24s %s%s\n", x.id.substr(0, 8).c_str(),
                        RoleName(x.role),
                        x.display_name.empty() ? "-" : Printable(x.display_name).c_str(),
                        x.verified ? "verified" : "not verified",
                        x.identity_changed ? "  IDENTITY KEY CHANGED (see accept-key)" : "");
          text += line;
        }
        out.Print(arr, text);
        return absl::OkStatus();
      }));

  auto* sn_cmd = cli.app.add_subcommand("safety-number", "Show the safety number with a contact");
  sn_cmd->add_option("contact", f.contact)->required();
  sn_cmd->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    return ShowSafetyNumber(*c, f.contact, out);
  }));

  auto* verify = cli.app.add_subcommand(
      "verify", "Mark a contact verified after comparing the whole safety number out of band");
  verify->add_option("contact", f.contact)->required();
  verify->add_option("--confirm", f.typed_number, kConfirmHelp);
  verify->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(ShowSafetyNumber(*c, f.contact, out));
    if (f.typed_number.empty()) {
      return absl::FailedPreconditionError(
          "compare the whole 60-digit number with your contact (the first half may be your "
          "own), then run again with --confirm \"<the 60 digits they read to you>\"");
    }
    ALLIANCE_RETURN_IF_ERROR(c->Verify(f.contact, f.typed_number));
    out.Note("Marked verified for this identity key.");
    return absl::OkStatus();
  }));

  auto* accept =
      cli.app.add_subcommand("accept-key",
                             "Accept a contact's changed identity key after comparing the whole "
                             "new safety number out of band");
  accept->add_option("contact", f.contact)->required();
  accept->add_option("--confirm", f.typed_number, kConfirmHelp);
  accept->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(ShowSafetyNumber(*c, f.contact, out));
    if (f.typed_number.empty()) {
      return absl::FailedPreconditionError(
          "compare the whole new 60-digit number with your contact (the first half may be "
          "your own), then run again with --confirm \"<the 60 digits they read to you>\"");
    }
    ALLIANCE_RETURN_IF_ERROR(c->AcceptKey(f.contact, f.typed_number));
    out.Note("New identity key accepted (not verified).");
    return absl::OkStatus();
  }));
}

}  // namespace alliance::cli

// `alliance`: the command-line client. Every command prints one clear line on stderr and exits
// non-zero on error; commands that print data accept --json.
//
//   alliance init
//   alliance register <invite> --name "Sam"
//   alliance send therapist "Can we talk about Tuesday?"
//   alliance watch
#include <grpc/support/log.h>
#include <sodium.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/cli/care_commands.h"
#include "client/cli/cli_common.h"
#include "client/cli/passphrase.h"
#include "client/client.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace alliance::cli {

using client::Client;
using client::ClientOptions;
using client::ContactView;
using client::MessageView;
using nlohmann::json;

namespace {

// `watch` stops on SIGINT/SIGTERM. The handler only does async-signal-safe things (an atomic
// flag and a write to a pipe); a thread waiting on the pipe stops the stream.
std::atomic<bool> g_stop_requested{false};
int g_stop_pipe[2] = {-1, -1};

void RequestStop(int) {
  g_stop_requested.store(true);
  const char byte = 1;
  (void)!::write(g_stop_pipe[1], &byte, 1);
}

}  // namespace

int Run(int argc, char** argv) {
  CLI::App app{"alliance — end-to-end encrypted messaging between clients and therapists"};
  app.require_subcommand(1);
  Globals g;
  g.profile = DefaultProfile();
  app.add_option("--profile", g.profile, "Profile directory")->capture_default_str();
  app.add_option("--relay", g.relay, "Relay address host:port (default: the registered one)");
  app.add_option("--ca-file", g.ca_file, "PEM CA certificate of the relay (TLS)");
  app.add_option("--passphrase-file", g.passphrase_file,
                 "File holding the profile passphrase (or ALLIANCE_PASSPHRASE_FILE)");
  app.add_flag("--json", g.json_output, "Print data as JSON");
  app.add_flag("--insecure", g.insecure,
               "Allow plaintext to a relay that is not on this machine (never on a real network)");

  int rc = 0;
  auto run = [&](const std::function<absl::Status()>& fn) {
    return [&rc, fn] {
      absl::Status s = fn();
      if (!s.ok()) rc = Fail(s);
    };
  };

  // init
  std::string cost_name = "moderate";
  auto* init =
      app.add_subcommand("init", "Create a profile (identity key) protected by a passphrase");
  init->add_option("--passphrase-cost", cost_name,
                   "Argon2id cost of unlocking: interactive (64 MiB), moderate (256 MiB), "
                   "sensitive (1 GiB)")
      ->check(CLI::IsMember({"interactive", "moderate", "sensitive"}))
      ->capture_default_str();
  init->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes pass, ReadPassphrase(g.passphrase_file, true));
    ClientOptions o;
    o.profile_dir = g.profile;
    o.relay.address = g.relay;
    o.store.hold_open = false;
    o.store.cost = cost_name == "interactive" ? crypto::PassphraseCost::Interactive()
                   : cost_name == "sensitive" ? crypto::PassphraseCost::Sensitive()
                                              : crypto::PassphraseCost::Moderate();
    ALLIANCE_RETURN_IF_ERROR(Client::Init(o, pass.span()).status());
    if (g.json_output) {
      std::cout << json{{"profile", g.profile}}.dump() << "\n";
    } else {
      std::printf("Created profile %s. Next: alliance register <invite> --relay HOST:PORT\n",
                  g.profile.c_str());
    }
    return absl::OkStatus();
  }));

  // register
  std::string invite_text, display_name;
  auto* reg = app.add_subcommand("register", "Join a clinic with an invite code");
  reg->add_option("invite", invite_text, "Invite code (32 hex digits)")->required();
  reg->add_option("--name", display_name, "Your name as your contacts see it (end to end only)");
  reg->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::string code, client::ParseInviteCode(invite_text));
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->Register(code, display_name));
    ALLIANCE_ASSIGN_OR_RETURN(client::AccountView a, c->Account());
    if (g.json_output) {
      std::cout << json{{"account", a.id}, {"role", RoleName(a.role)}}.dump() << "\n";
    } else {
      std::printf("Registered as %s %s on %s\n", RoleName(a.role), a.id.c_str(),
                  a.relay_address.c_str());
    }
    return absl::OkStatus();
  }));

  // whoami
  app.add_subcommand("whoami", "Show this profile's account")->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(client::AccountView a, c->Account());
    if (g.json_output) {
      std::cout << json{{"account", a.id},
                        {"role", RoleName(a.role)},
                        {"relay", a.relay_address},
                        {"display_name", a.display_name},
                        {"read_receipts", a.read_receipts}}
                       .dump()
                << "\n";
    } else {
      std::printf("%s %s on %s\n", RoleName(a.role), a.id.c_str(), a.relay_address.c_str());
    }
    return absl::OkStatus();
  }));

  // contacts
  app.add_subcommand("contacts", "List the people you can message")
      ->callback(run([&]() -> absl::Status {
        ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
        ALLIANCE_ASSIGN_OR_RETURN(std::vector<ContactView> all, c->Contacts(true));
        if (g.json_output) {
          json arr = json::array();
          for (const ContactView& x : all) arr.push_back(ToJson(x));
          std::cout << arr.dump() << "\n";
          return absl::OkStatus();
        }
        if (all.empty()) std::printf("No contacts yet.\n");
        for (const ContactView& x : all) {
          std::printf("%s  %-10s %-24s %s%s\n", x.id.substr(0, 8).c_str(), RoleName(x.role),
                      x.display_name.empty() ? "-" : Printable(x.display_name).c_str(),
                      x.verified ? "verified" : "not verified",
                      x.identity_changed ? "  IDENTITY KEY CHANGED (see accept-key)" : "");
        }
        return absl::OkStatus();
      }));

  // safety-number / verify / accept-key
  std::string contact_ref;
  bool confirm = false;
  auto show_safety = [&](Client& c) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(client::SafetyNumberView sn, c.SafetyNumber(contact_ref));
    if (g.json_output) {
      std::cout << json{{"safety_number", sn.digits},
                        {"qr_payload", sn.qr_payload},
                        {"verified", sn.verified}}
                       .dump()
                << "\n";
    } else {
      std::printf("Safety number: %s\n", sn.formatted.c_str());
    }
    return absl::OkStatus();
  };
  auto* sn_cmd = app.add_subcommand("safety-number", "Show the safety number with a contact");
  sn_cmd->add_option("contact", contact_ref)->required();
  sn_cmd->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    return show_safety(*c);
  }));
  // Both trust decisions bind the contact's key: the user types (or pastes) the whole number
  // they compared, never a part — the number is both halves in sorted order, so the first half
  // may be the user's own and say nothing about the contact's key.
  constexpr char kConfirmHelp[] =
      "The whole 60-digit safety number, as your contact read it to you (in person, on a call "
      "you trust), or the QR payload; spaces are ignored. Never only a part: the first half may "
      "be your own";
  std::string typed_number;
  auto* verify = app.add_subcommand(
      "verify", "Mark a contact verified after comparing the whole safety number out of band");
  verify->add_option("contact", contact_ref)->required();
  verify->add_option("--confirm", typed_number, kConfirmHelp);
  verify->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(show_safety(*c));
    if (typed_number.empty()) {
      return absl::FailedPreconditionError(
          "compare the whole 60-digit number with your contact (the first half may be your "
          "own), then run again with --confirm \"<the 60 digits they read to you>\"");
    }
    ALLIANCE_RETURN_IF_ERROR(c->Verify(contact_ref, typed_number));
    if (!g.json_output) std::printf("Marked verified for this identity key.\n");
    return absl::OkStatus();
  }));
  auto* accept =
      app.add_subcommand("accept-key",
                         "Accept a contact's changed identity key after comparing the whole new "
                         "safety number out of band");
  accept->add_option("contact", contact_ref)->required();
  accept->add_option("--confirm", typed_number, kConfirmHelp);
  accept->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(show_safety(*c));
    if (typed_number.empty()) {
      return absl::FailedPreconditionError(
          "compare the whole new 60-digit number with your contact (the first half may be "
          "your own), then run again with --confirm \"<the 60 digits they read to you>\"");
    }
    ALLIANCE_RETURN_IF_ERROR(c->AcceptKey(contact_ref, typed_number));
    if (!g.json_output) std::printf("New identity key accepted (not verified).\n");
    return absl::OkStatus();
  }));

  // send
  std::string text, intent_name = "needs-reply";
  bool urgent = false;
  auto* send = app.add_subcommand("send", "Send a message (text argument or stdin)");
  send->add_option("contact", contact_ref)->required();
  send->add_option("text", text, "Message text; read from stdin when absent");
  send->add_option("--intent", intent_name, "needs-reply | next-session | fyi")
      ->check(CLI::IsMember({"needs-reply", "next-session", "fyi"}));
  send->add_flag("--urgent", urgent, "Mark urgent");
  send->add_flag("--confirm", confirm, "Send even if the on-device crisis check matches");
  send->callback(run([&]() -> absl::Status {
    if (text.empty()) {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      while (!text.empty() && text.back() == '\n') text.pop_back();
    }
    client::SendOptions so;
    so.urgent = urgent;
    so.intent = intent_name == "next-session" ? v1::INTENT_FOR_NEXT_SESSION
                : intent_name == "fyi"        ? v1::INTENT_JUST_LETTING_YOU_KNOW
                                              : v1::INTENT_NEEDS_REPLY;
    so.crisis_acknowledged = confirm;
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(client::SendResult r, c->SendText(contact_ref, text, so));
    if (r.crisis_prompt) {
      // The on-device check matched: show the emergency notice and ask; never block.
      for (const std::string& line : r.notice) {
        std::fprintf(stderr, "%s\n", Printable(line).c_str());
      }
      bool send_anyway = true;
      if (::isatty(STDIN_FILENO) && ::isatty(STDERR_FILENO)) {
        std::fprintf(stderr, "Send the message anyway? [y/N] ");
        std::string answer;
        std::getline(std::cin, answer);
        send_anyway = !answer.empty() && (answer[0] == 'y' || answer[0] == 'Y');
      }
      if (!send_anyway) return absl::CancelledError("not sent");
      so.crisis_acknowledged = true;
      ALLIANCE_ASSIGN_OR_RETURN(r, c->SendText(contact_ref, text, so));
    }
    if (!r.care_error.ok()) {
      // The agreement could not be evaluated: say so plainly, with the emergency notice.
      for (const std::string& line : r.notice) {
        std::fprintf(stderr, "alliance: %s\n", Printable(line).c_str());
      }
    }
    if (g.json_output) {
      json due = r.reply_due
                     ? json(absl::FormatTime(absl::RFC3339_sec, *r.reply_due, absl::UTCTimeZone()))
                     : json();
      std::cout << json{{"id", r.message_id},
                        {"to", ToJson(r.recipient)},
                        {"sent", r.sent},
                        {"notice", r.notice},
                        {"care_error", std::string(r.care_error.message())},
                        {"reply_due", due}}
                       .dump()
                << "\n";
    } else {
      // Who it went to, by role and id (fixed by the relationship) before the chosen name.
      std::printf("%s to %s\n", r.sent ? "Sent" : "Queued", Recipient(r.recipient).c_str());
      if (r.care_error.ok()) {
        for (const std::string& line : r.notice) std::printf("%s\n", Printable(line).c_str());
      }
    }
    if (!r.sent) {
      return absl::UnavailableError(
          absl::StrCat(r.relay_error.message(),
                       " (message queued; it is sent by the next send, sync or watch)"));
    }
    return absl::OkStatus();
  }));

  // sync / inbox / history
  app.add_subcommand("sync", "Fetch new messages")->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<MessageView> got, c->Sync());
    if (g.json_output) {
      json arr = json::array();
      for (const MessageView& m : got) arr.push_back(ToJson(m));
      std::cout << arr.dump() << "\n";
    } else {
      for (const MessageView& m : got) PrintMessage(m);
      if (got.empty()) std::printf("No new messages.\n");
    }
    return absl::OkStatus();
  }));
  bool due_only = false;
  auto* inbox = app.add_subcommand("inbox", "Fetch new messages and list conversations");
  inbox->add_flag("--due", due_only, "Therapist: threads awaiting a reply, by due time");
  inbox->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->Sync().status());
    if (due_only) {
      ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::DueView> due, c->DueList());
      PrintDue(due, g.json_output);
      return absl::OkStatus();
    }
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<ContactView> all, c->Contacts(false));
    if (g.json_output) {
      json arr = json::array();
      for (const ContactView& x : all) arr.push_back(ToJson(x));
      std::cout << arr.dump() << "\n";
      return absl::OkStatus();
    }
    for (const ContactView& x : all) {
      std::printf("%-40s %llu message(s), %llu unread%s\n", Name(x).c_str(),
                  static_cast<unsigned long long>(x.messages),
                  static_cast<unsigned long long>(x.unread),
                  x.identity_changed ? "  IDENTITY KEY CHANGED" : "");
    }
    return absl::OkStatus();
  }));
  auto* history = app.add_subcommand("history", "Show the conversation with a contact");
  history->add_option("contact", contact_ref)->required();
  history->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    absl::StatusOr<std::vector<MessageView>> synced = c->Sync();
    if (!synced.ok() && !absl::IsUnavailable(synced.status())) return synced.status();
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<MessageView> all, c->History(contact_ref, true));
    if (g.json_output) {
      json arr = json::array();
      for (const MessageView& m : all) arr.push_back(ToJson(m));
      std::cout << arr.dump() << "\n";
    } else {
      for (const MessageView& m : all) PrintMessage(m);
      if (all.empty()) std::printf("No messages yet.\n");
    }
    return absl::OkStatus();
  }));

  // watch
  app.add_subcommand("watch", "Stay connected and print messages as they arrive")
      ->callback(run([&]() -> absl::Status {
        ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
        if (::pipe(g_stop_pipe) != 0) return absl::InternalError("cannot create a pipe");
        std::signal(SIGINT, RequestStop);
        std::signal(SIGTERM, RequestStop);
        std::thread stopper([&c] {
          char byte;
          while (::read(g_stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
          }
          c->StopListening();
        });
        absl::Cleanup join_stopper = [&stopper] {
          RequestStop(0);  // Wakes the stopper if no signal came.
          stopper.join();
        };
        absl::Duration backoff = absl::Seconds(1);
        int held_count = 0;
        while (true) {
          absl::Status s = c->Listen([&](const MessageView& m) {
            // Outside the therapist's agreed hours, notifications wait instead of interrupting.
            absl::StatusOr<std::optional<absl::Time>> held = c->HeldUntil(m.contact_id);
            if (held.ok() && held->has_value()) {
              ++held_count;
              if (g.json_output) {
                std::cout << json{{"held", held_count},
                                  {"until", absl::FormatTime(absl::RFC3339_sec, **held,
                                                             absl::UTCTimeZone())}}
                                 .dump()
                          << std::endl;
              } else {
                std::printf(
                    "%d message(s) held until %s (outside your agreed hours); "
                    "`alliance inbox --due` shows them\n",
                    held_count, LocalTime(**held).c_str());
                std::fflush(stdout);
              }
              return;
            }
            if (g.json_output) {
              std::cout << ToJson(m).dump() << std::endl;
            } else {
              PrintMessage(m);
              std::fflush(stdout);
            }
          });
          if (s.ok() || g_stop_requested.load()) break;  // Stopped by a signal.
          if (!absl::IsUnavailable(s) && !absl::IsAborted(s)) return s;
          // Relay restarting, or a `sync` elsewhere took the stream: reconnect.
          std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
          backoff = std::min(backoff * 2, absl::Seconds(10));
        }
        return absl::OkStatus();
      }));

  // export
  std::string export_path;
  auto* exp = app.add_subcommand("export", "Write the conversation with a contact as JSON");
  exp->add_option("contact", contact_ref)->required();
  exp->add_option("path", export_path, "Output file (created with mode 0600)")->required();
  exp->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->Export(contact_ref, export_path));
    if (!g.json_output) std::printf("Exported to %s\n", export_path.c_str());
    return absl::OkStatus();
  }));

  // receipts
  std::string receipts_mode;
  auto* receipts = app.add_subcommand("receipts", "Share read receipts (on|off)");
  receipts->add_option("mode", receipts_mode)->required()->check(CLI::IsMember({"on", "off"}));
  receipts->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    return c->SetReadReceipts(receipts_mode == "on");
  }));

  // admin
  auto* admin = app.add_subcommand("admin", "Clinic administration");
  admin->require_subcommand(1);
  std::string role_name = "therapist";
  auto* invite = admin->add_subcommand(
      "invite", "Create an invite (admins: therapist/admin; therapists: client)");
  invite->add_option("--role", role_name, "admin | therapist | client")->capture_default_str();
  invite->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(v1::Role role, ParseRole(role_name));
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(client::InviteView inv, c->CreateInvite(role));
    if (g.json_output) {
      std::cout << json{{"code", inv.code},
                        {"id", inv.id},
                        {"role", RoleName(inv.role)},
                        {"expires_at",
                         absl::FormatTime(absl::RFC3339_sec, inv.expires_at, absl::UTCTimeZone())}}
                       .dump()
                << "\n";
    } else {
      std::printf("%s invite: %s (single use, expires %s)\n", RoleName(inv.role), inv.code.c_str(),
                  LocalTime(inv.expires_at).c_str());
    }
    return absl::OkStatus();
  }));
  admin->add_subcommand("members", "List the clinic's accounts")
      ->callback(run([&]() -> absl::Status {
        ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
        ALLIANCE_ASSIGN_OR_RETURN(std::vector<v1::Member> members, c->Members());
        json arr = json::array();
        for (const v1::Member& m : members) {
          const std::string id = client::ToHex(m.account_id());
          const char* state = m.state() == v1::ACCOUNT_STATE_ACTIVE ? "active" : "deactivated";
          if (g.json_output) {
            arr.push_back({{"id", id}, {"role", RoleName(m.role())}, {"state", state}});
          } else {
            std::printf("%s  %-10s %s\n", id.c_str(), RoleName(m.role()), state);
          }
        }
        if (g.json_output) std::cout << arr.dump() << "\n";
        return absl::OkStatus();
      }));
  std::string account_hex;
  auto* deactivate = admin->add_subcommand("deactivate", "Deactivate an account (erases its keys)");
  deactivate->add_option("account", account_hex, "Account id (32 hex digits)")->required();
  deactivate->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->Deactivate(account_hex));
    if (!g.json_output) std::printf("Deactivated %s\n", account_hex.c_str());
    return absl::OkStatus();
  }));
  uint64_t audit_after = 0;
  uint32_t audit_limit = 100;
  auto* audit = admin->add_subcommand("audit", "Read the security audit trail (never content)");
  audit->add_option("--after", audit_after, "Show entries after this sequence");
  audit->add_option("--limit", audit_limit, "At most this many entries")->capture_default_str();
  audit->callback(run([&]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<v1::AuditEntry> entries,
                              c->Audit(audit_after, audit_limit));
    json arr = json::array();
    for (const v1::AuditEntry& e : entries) {
      const std::string event = v1::AuditEvent_Name(e.event());
      const std::string when = LocalTime(absl::FromUnixSeconds(static_cast<int64_t>(e.time())));
      if (g.json_output) {
        arr.push_back({{"sequence", e.sequence()},
                       {"time", e.time()},
                       {"event", event},
                       {"actor", client::ToHex(e.actor_account_id())},
                       {"subject", client::ToHex(e.subject_account_id())},
                       {"hash", client::ToHex(e.hash())}});
      } else {
        std::printf("%6llu  %s  %-32s actor=%s subject=%s\n",
                    static_cast<unsigned long long>(e.sequence()), when.c_str(), event.c_str(),
                    client::ToHex(e.actor_account_id()).substr(0, 8).c_str(),
                    client::ToHex(e.subject_account_id()).substr(0, 8).c_str());
      }
    }
    if (g.json_output) std::cout << arr.dump() << "\n";
    return absl::OkStatus();
  }));

  CareFlags care_flags;
  AddCareCommands(app, g, care_flags, rc);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports usage errors by exception; turn them into our one-line format.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "alliance: %s (see alliance --help)\n", e.what());
    return 2;
  }
  return rc;
}

}  // namespace alliance::cli

namespace {
// gRPC's own diagnostics would add lines to our one-line errors; the status carries the cause.
void DiscardGrpcLog(gpr_log_func_args*) {}
}  // namespace

int main(int argc, char** argv) {
  gpr_set_log_function(DiscardGrpcLog);
  if (sodium_init() < 0) {
    std::fprintf(stderr, "alliance: libsodium failed to initialise\n");
    return 1;
  }
  return alliance::cli::Run(argc, argv);
}

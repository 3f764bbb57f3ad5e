// Shared pieces of the `alliance` CLI: global flags, opening the profile, printing.
#ifndef ALLIANCE_CLIENT_CLI_CLI_COMMON_H_
#define ALLIANCE_CLIENT_CLI_CLI_COMMON_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "nlohmann/json.hpp"

namespace alliance::cli {

using client::Client;
using client::ClientOptions;
using client::ContactView;
using client::MessageView;
using nlohmann::json;

struct Globals {
  std::string profile;
  std::string relay;
  std::string ca_file;
  std::string passphrase_file;
  bool json_output = false;
  bool insecure = false;
};

// Text from a peer or the relay made safe for a terminal: control characters (C0, DEL, C1)
// become '?' (newlines and tabs a space), so a message cannot rewrite or hide other output.
std::string Printable(std::string_view s);
// $XDG_DATA_HOME/alliance, else ~/.local/share/alliance.
std::string DefaultProfile();
using client::RoleName;
[[nodiscard]] absl::StatusOr<v1::Role> ParseRole(const std::string& s);
const char* IntentName(v1::Intent i);
// "2026-11-25 14:05" in the local time zone.
std::string LocalTime(absl::Time t);
std::string Name(const ContactView& c);
// "therapist 1a2b3c4d "Rivera"": role and id prefix first, then the name the contact chose
// (made printable, quoted, shown but never interpreted).
std::string Recipient(const ContactView& c);
json ToJson(const MessageView& m);
// The attachments of a message (names, types, sizes; never keys).
json AttachmentsJson(const MessageView& m);
json ToJson(const ContactView& c);
// "! 1 message from Dr. Rivera sent before Tue 10:02 has not arrived ..." ("" when none).
std::string MissingLine(const ContactView& c);
void PrintMessage(const MessageView& m);
// Prints "alliance: <message>" on stderr; returns the exit code 1.
int Fail(const absl::Status& s);
// Opens the profile with the passphrase from --passphrase-file, the environment or the terminal.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Client>> OpenClient(const Globals& g);

// The one "fetch first, but an unreachable relay is no error" policy of commands that show
// local state (history, agreement, concerns, goals, digest): they then show what this device
// holds. Other errors are returned.
[[nodiscard]] absl::Status SyncTolerant(Client& c);

// The output layer: every command prints through it, as text or (with --json) as one JSON
// document per result on stdout. Errors go through Fail, never through Output.
class Output {
 public:
  explicit Output(const Globals& g) : g_(g) {}
  bool json_mode() const { return g_.json_output; }
  // `data` as JSON with --json; otherwise `text` (a trailing newline is added if missing).
  void Print(const json& data, std::string_view text) const;
  // Text for people only (confirmations); nothing with --json.
  void Note(std::string_view text) const;

 private:
  const Globals& g_;
};

// What a command file gets: the app to add to, the global options, the output layer and a
// wrapper that records a command's error as the exit code.
struct Commands {
  CLI::App& app;
  Globals& g;
  int& rc;
  Output out;

  // A CLI11 callback running `fn`; a non-OK status becomes one line on stderr and exit 1.
  std::function<void()> Run(std::function<absl::Status()> fn) {
    return [this, fn = std::move(fn)] {
      absl::Status s = fn();
      if (!s.ok()) rc = Fail(s);
    };
  }
};

// The command groups, one file each.
void AddProfileCommands(Commands& cli);    // init, register, whoami, receipts
void AddContactCommands(Commands& cli);    // contacts, safety-number, verify, accept-key
void AddMessagingCommands(Commands& cli);  // send, sync, inbox, history, watch, export
void AddAdminCommands(Commands& cli);      // admin invite|members|deactivate|audit
void AddDeviceCommands(Commands& cli);     // devices [link|approve|remove]
void AddAppCommand(Commands& cli);         // app (the web UI, app/)

}  // namespace alliance::cli

#endif  // ALLIANCE_CLIENT_CLI_CLI_COMMON_H_

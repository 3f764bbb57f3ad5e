// `alliance agreement|ooo|concern|goals|digest` — the care commands of the CLI.
#ifndef ALLIANCE_CLIENT_CLI_CARE_COMMANDS_H_
#define ALLIANCE_CLIENT_CLI_CARE_COMMANDS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/cli/cli_common.h"

namespace alliance::cli {

// Values bound to the care commands' options; must outlive the CLI::App.
struct CareFlags {
  std::string contact;
  std::string id;
  std::string text;
  std::string note;
  std::string time_zone;
  std::vector<std::string> windows;
  uint32_t reply_hours = 16;
  std::string emergency;
  uint32_t retention_days = 0;
  bool read_receipts = false;
  std::vector<std::string> crisis_phrases;
  std::string from, to;
  int percent = -1;
};

// Prints the therapist's due list (inbox --due).
void PrintDue(const std::vector<client::DueView>& items, bool as_json);

// Adds the care subcommands to `app`; errors are reported through `rc`.
void AddCareCommands(CLI::App& app, Globals& g, CareFlags& f, int& rc);

}  // namespace alliance::cli

#endif  // ALLIANCE_CLIENT_CLI_CARE_COMMANDS_H_

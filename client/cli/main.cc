// `alliance`: the command-line client. main() parses and dispatches; each group of commands
// lives in its own file (profile, contact, messaging, care, admin) and prints through one
// output layer (text, or --json). Every error is one clear line on stderr and a non-zero exit.
//
//   alliance init
//   alliance register <invite> --relay relay.example.org:7443 --ca-file ca.pem --name "Sam"
//   alliance send therapist "Can we talk about Tuesday?"
//   alliance watch
//   alliance app
#include <grpc/support/log.h>
#include <sodium.h>

#include <cstdio>

#include "CLI/CLI.hpp"
#include "client/cli/care_commands.h"
#include "client/cli/cli_common.h"

namespace alliance::cli {

int Run(int argc, char** argv) {
  CLI::App app{"alliance — end-to-end encrypted messaging between clients and therapists"};
  app.require_subcommand(1);
  Globals g;
  g.profile = DefaultProfile();
  // Global options work before or after the subcommand, where people put them
  // (`alliance register <invite> --relay HOST:PORT`): subcommands pass options they do not
  // know up to here.
  app.add_option("--profile", g.profile, "Profile directory")->capture_default_str();
  app.add_option("--relay", g.relay, "Relay address host:port (default: the registered one)");
  app.add_option("--ca-file", g.ca_file, "PEM CA certificate of the relay (TLS)");
  app.add_option("--passphrase-file", g.passphrase_file,
                 "File holding the profile passphrase (or ALLIANCE_PASSPHRASE_FILE)");
  app.add_flag("--json", g.json_output, "Print data as JSON");
  app.add_flag("--insecure", g.insecure,
               "Allow plaintext to a relay that is not on this machine (never on a real network)");

  int rc = 0;
  Commands cli{app, g, rc, Output(g)};
  AddProfileCommands(cli);
  AddContactCommands(cli);
  AddMessagingCommands(cli);
  AddAdminCommands(cli);
  AddDeviceCommands(cli);
  AddAppCommand(cli);
  static CareFlags care_flags;
  AddCareCommands(app, g, care_flags, rc);
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->fallthrough();
    for (CLI::App* nested : sub->get_subcommands({})) nested->fallthrough();
  }

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

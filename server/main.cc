// alliance-relay: the clinic's relay.
//
//   alliance-relay init  --data DIR         create the database, print the bootstrap admin invite
//   alliance-relay serve --data DIR [--listen HOST:PORT] [--tls-cert F --tls-key F]
//                        [--metrics-listen HOST:PORT] [--config FILE] [--insecure]
//                        [--log-file F] [--log-level L]
//   alliance-relay check --data DIR         verify schema version and audit hash chain
//
// SIGTERM/SIGINT: stop accepting, end streams, drain writes, flush and close, exit 0.
#include <signal.h>
#include <sodium.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "base/bytes.h"
#include "server/infra/clock.h"
#include "server/infra/config.h"
#include "server/infra/logging.h"
#include "server/relay_server.h"

namespace alliance::server {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "alliance-relay: %s\n", std::string(status.message()).c_str());
  return 1;
}

int RunInit(const std::string& data_dir) {
  SystemClock clock;
  absl::StatusOr<std::string> code = RelayServer::Initialize(data_dir, &clock);
  if (!code.ok()) return Fail(code.status());
  std::printf(
      "Relay database created in %s.\n"
      "One-time bootstrap invite for the first clinic admin (valid 7 days, shown once):\n"
      "%s\n",
      data_dir.c_str(), base::ToHex(*code).c_str());
  return 0;
}

int RunCheck(const std::string& data_dir) {
  absl::StatusOr<std::string> summary = RelayServer::Check(data_dir);
  if (!summary.ok()) return Fail(summary.status());
  std::printf("%s\n", summary->c_str());
  return 0;
}

// Blocks SIGTERM and SIGINT in every thread (call before any thread starts) and returns the set
// to wait on.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int RunServe(const RelayOptions& options) {
  sigset_t signals = BlockShutdownSignals();
  absl::StatusOr<std::unique_ptr<Logger>> logger =
      Logger::Create(options.log_file, options.log_level);
  if (!logger.ok()) return Fail(logger.status());
  SystemClock clock;
  absl::StatusOr<std::unique_ptr<RelayServer>> relay =
      RelayServer::Start(options, &clock, logger->get());
  if (!relay.ok()) {
    (*logger)->Error("start_failed", {{"detail", std::string(relay.status().message())}});
    return Fail(relay.status());
  }
  std::printf("listening on port %d, metrics on port %d\n", (*relay)->port(),
              (*relay)->metrics_port());
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  (*logger)->Info("signal", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*relay)->Shutdown();
  return 0;
}

}  // namespace
}  // namespace alliance::server

int main(int argc, char** argv) {
  using alliance::server::RelayOptions;
  if (sodium_init() < 0) {
    std::fprintf(stderr, "alliance-relay: libsodium failed to initialize\n");
    return 1;
  }
  CLI::App app{"alliance-relay: store-and-forward relay for Alliance"};
  app.require_subcommand(1);

  std::string init_data;
  CLI::App* init = app.add_subcommand("init", "Create the database and a bootstrap admin invite");
  init->add_option("--data", init_data, "Database directory")->required();

  std::string check_data;
  CLI::App* check = app.add_subcommand("check", "Verify schema version and audit hash chain");
  check->add_option("--data", check_data, "Database directory")->required();

  RelayOptions flags;
  std::string config_file;
  CLI::App* serve = app.add_subcommand("serve", "Serve the relay");
  serve->add_option("--config", config_file, "TOML configuration file");
  serve->add_option("--data", flags.data_dir, "Database directory (config: data)");
  serve->add_option("--listen", flags.listen, "gRPC address host:port (config: listen)");
  serve->add_option("--tls-cert", flags.tls_cert_file, "PEM certificate chain (config: tls_cert)");
  serve->add_option("--tls-key", flags.tls_key_file, "PEM private key (config: tls_key)");
  serve->add_option("--metrics-listen", flags.metrics_listen,
                    "Prometheus /metrics address, empty disables (config: metrics_listen)");
  serve->add_flag("--insecure", flags.insecure,
                  "Allow plaintext on a non-loopback address (config: insecure)");
  serve->add_option("--log-file", flags.log_file, "JSON-lines log file (config: log_file)");
  serve->add_option("--log-level", flags.log_level, "Log level (config: log_level)");

  CLI11_PARSE(app, argc, argv);

  if (init->parsed()) return alliance::server::RunInit(init_data);
  if (check->parsed()) return alliance::server::RunCheck(check_data);

  // Defaults < config file < flags given on the command line.
  RelayOptions options;
  if (!config_file.empty()) {
    absl::Status s = alliance::server::LoadConfigFile(config_file, &options);
    if (!s.ok()) return alliance::server::Fail(s);
  }
  auto given = [serve](const char* name) { return serve->count(name) > 0; };
  if (given("--data")) options.data_dir = flags.data_dir;
  if (given("--listen")) options.listen = flags.listen;
  if (given("--tls-cert")) options.tls_cert_file = flags.tls_cert_file;
  if (given("--tls-key")) options.tls_key_file = flags.tls_key_file;
  if (given("--metrics-listen")) options.metrics_listen = flags.metrics_listen;
  if (given("--insecure")) options.insecure = true;
  if (given("--log-file")) options.log_file = flags.log_file;
  if (given("--log-level")) options.log_level = flags.log_level;
  return alliance::server::RunServe(options);
}

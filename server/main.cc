// alliance-relay: the clinic's relay.
//
//   alliance-relay init  --data DIR         create the database, print the bootstrap admin invite
//   (init, serve, check and migrate also take --storage postgres --database-url URL instead of
//   --data; the URL may also come from ALLIANCE_DATABASE_URL)
//   alliance-relay serve --data DIR [--listen HOST:PORT] [--tls-cert F --tls-key F]
//                        [--metrics-listen HOST:PORT] [--config FILE] [--insecure]
//                        [--log-file F] [--log-level L]
//   alliance-relay check --data DIR         verify schema version and audit hash chain
//   alliance-relay status --address HOST:PORT [--ca-file F]   SERVING (exit 0) or not (exit 1)
//   alliance-relay tls init --host NAME --out DIR    private CA + server certificate
//   alliance-relay tls renew --host NAME --dir DIR   new server certificate from that CA
//   alliance-relay backup --to DIR [--data D]     consistent copy from the running relay, verified
//   alliance-relay restore --from DIR --data NEWDIR   into a new directory, then check
//   alliance-relay migrate --data DIR [--backup-to B]  upgrade a stopped relay's database
//   alliance-relay --version
//
// SIGTERM/SIGINT: stop accepting, end streams, drain writes, flush and close, exit 0.
// SIGHUP: re-read the TLS certificate and key; new connections get them, open streams stay.
#include <grpc/support/log.h>
#include <signal.h>
#include <sodium.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "base/bytes.h"
#include "server/admin/health_probe.h"
#include "server/admin/migrate.h"
#include "server/admin/restore.h"
#include "server/admin/tls_init.h"
#include "server/infra/admin_socket.h"
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

// --storage, --data and --database-url on a command that opens the database.
void AddStorageFlags(CLI::App* command, RelayOptions* options) {
  command->add_option("--storage", options->storage, "rocksdb (default) or postgres (config: storage)")
      ->check(CLI::IsMember({"rocksdb", "postgres"}));
  command->add_option("--data", options->data_dir,
                      "Database directory (rocksdb; config: data)");
  command->add_option("--database-url", options->database_url,
                      "PostgreSQL URI, e.g. postgresql://alliance@db/alliance (config: "
                      "database_url)")
      ->envname("ALLIANCE_DATABASE_URL");
}

int RunInit(const RelayOptions& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return Fail(s);
  SystemClock clock;
  absl::StatusOr<std::string> code = RelayServer::Initialize(options, &clock);
  if (!code.ok()) return Fail(code.status());
  std::printf(
      "Relay database created %s.\n"
      "One-time bootstrap invite for the first clinic admin (valid 7 days, shown once):\n"
      "%s\n",
      options.storage == "postgres" ? "in PostgreSQL" : ("in " + options.data_dir).c_str(),
      base::ToHex(*code).c_str());
  return 0;
}

int RunCheck(const RelayOptions& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return Fail(s);
  absl::StatusOr<std::string> summary = RelayServer::Check(options);
  if (!summary.ok()) return Fail(summary.status());
  std::printf("%s\n", summary->c_str());
  return 0;
}

void DiscardGrpcLog(gpr_log_func_args* /*args*/) {}

int RunStatus(const ProbeOptions& options) {
  // gRPC's own lines ("Handshake failed ...") would repeat the one line printed below.
  gpr_set_log_function(DiscardGrpcLog);
  absl::StatusOr<ServingState> state = ProbeHealth(options);
  if (!state.ok()) return Fail(state.status());
  std::printf("%s\n", std::string(ServingStateName(*state)).c_str());
  return *state == ServingState::kServing ? 0 : 1;
}

int RunTlsInit(const TlsInitOptions& options) {
  absl::Status s = CreateClinicCa(options);
  if (!s.ok()) return Fail(s);
  const std::string dir = options.out_dir;
  std::printf(
      "Private CA and server certificate for %s written to %s:\n"
      "  %s/ca.pem    the CA certificate: give it to every client (not secret)\n"
      "  %s/ca.key    the CA key (0600): keep it offline; it signs renewals\n"
      "  %s/cert.pem  %s/key.pem (0600): for the relay\n"
      "Serve with:\n"
      "  alliance-relay serve --data DIR --listen 0.0.0.0:7443 --tls-cert %s/cert.pem "
      "--tls-key %s/key.pem\n"
      "Clients register with:\n"
      "  alliance register <invite> --relay %s:7443 --ca-file ca.pem --name \"<name>\"\n",
      options.host.c_str(), dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str(),
      dir.c_str(), dir.c_str(), options.host.c_str());
  return 0;
}

int RunTlsRenew(const TlsInitOptions& options) {
  absl::Status s = RenewServerCertificate(options);
  if (!s.ok()) return Fail(s);
  std::printf(
      "New server certificate for %s in %s/cert.pem and key.pem. Send the relay SIGHUP\n"
      "(systemctl reload alliance-relay) to serve it; open connections are kept.\n",
      options.host.c_str(), options.out_dir.c_str());
  return 0;
}

int RunBackup(const std::string& data_dir, const std::string& to) {
  const std::string target = std::filesystem::absolute(to).string();
  const std::string socket = (std::filesystem::path(data_dir) / kAdminSocketName).string();
  absl::StatusOr<std::string> written =
      AdminRequest(socket, "backup", target, absl::Hours(2));  // large databases copy slowly
  if (!written.ok()) return Fail(written.status());
  absl::StatusOr<std::string> verified = RelayServer::Check(target, /*read_only=*/true);
  if (!verified.ok()) {
    return Fail(absl::DataLossError(absl::StrCat("backup in ", target, " failed verification: ",
                                                 verified.status().message())));
  }
  std::printf("%s\nverified: %s\n", written->c_str(), verified->c_str());
  return 0;
}

int RunMigrate(const RelayOptions& options, const std::string& backup_to) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return Fail(s);
  absl::StatusOr<std::string> summary = MigrateStorage(options, backup_to);
  if (!summary.ok()) return Fail(summary.status());
  std::printf("%s\n", summary->c_str());
  return 0;
}

int RunRestore(const std::string& from, const std::string& to) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> summary = RestoreBackup(from, to);
  if (!summary.ok()) return Fail(summary.status());
  std::printf("restored %s into %s in %.3f s\n%s\n", from.c_str(), to.c_str(),
              absl::ToDoubleSeconds(absl::Now() - start), summary->c_str());
  return 0;
}

// Blocks SIGTERM, SIGINT and SIGHUP in every thread (call before any thread starts) and returns
// the set to wait on.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
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
  while (sigwait(&signals, &received) == 0 && received == SIGHUP) {
    (void)(*relay)->ReloadTls();  // Logged either way; a refused pair leaves the old one.
  }
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
  app.set_version_flag("--version", std::string("alliance-relay ") + ALLIANCE_VERSION);

  RelayOptions init_options;
  CLI::App* init = app.add_subcommand("init", "Create the database and a bootstrap admin invite");
  alliance::server::AddStorageFlags(init, &init_options);

  RelayOptions check_options;
  CLI::App* check = app.add_subcommand("check", "Verify schema version and audit hash chain");
  alliance::server::AddStorageFlags(check, &check_options);

  alliance::server::ProbeOptions probe;
  double probe_timeout_seconds = 3;
  CLI::App* status = app.add_subcommand("status", "Ask a running relay whether it serves");
  status->add_option("--address", probe.address, "Relay address host:port")->required();
  status->add_option("--ca-file", probe.ca_file, "PEM CA certificate (TLS relays)");
  status->add_option("--timeout", probe_timeout_seconds, "Seconds to wait (default 3)");

  alliance::server::TlsInitOptions tls_options;
  CLI::App* tls = app.add_subcommand("tls", "Certificates for a clinic without its own CA");
  tls->require_subcommand(1);
  CLI::App* tls_init = tls->add_subcommand("init", "Create a private CA and a server certificate");
  tls_init->add_option("--host", tls_options.host, "DNS name clients use for the relay")
      ->required();
  tls_init->add_option("--out", tls_options.out_dir, "Directory for the files")->required();
  CLI::App* tls_renew = tls->add_subcommand("renew", "Issue a new server certificate");
  tls_renew->add_option("--host", tls_options.host, "DNS name clients use for the relay")
      ->required();
  tls_renew->add_option("--dir", tls_options.out_dir, "Directory made by `tls init`")->required();

  std::string backup_data = "/var/lib/alliance-relay";
  std::string backup_to;
  CLI::App* backup = app.add_subcommand("backup", "Consistent copy from the running relay");
  backup->add_option("--to", backup_to, "New (or empty) directory for the copy")->required();
  backup->add_option("--data", backup_data, "The running relay's data directory")
      ->capture_default_str();

  std::string restore_from;
  std::string restore_data;
  CLI::App* restore = app.add_subcommand("restore", "Restore a backup into a new directory");
  restore->add_option("--from", restore_from, "Directory written by `backup`")->required();
  restore->add_option("--data", restore_data, "New (or empty) data directory")->required();

  RelayOptions migrate_options;
  std::string migrate_backup;
  CLI::App* migrate =
      app.add_subcommand("migrate", "Upgrade a stopped relay's database (backs it up first)");
  alliance::server::AddStorageFlags(migrate, &migrate_options);
  migrate->add_option("--backup-to", migrate_backup,
                      "Where the backup goes (default: DATA.before-migrate-vN)");

  RelayOptions flags;
  std::string config_file;
  CLI::App* serve = app.add_subcommand("serve", "Serve the relay");
  serve->add_option("--config", config_file, "TOML configuration file");
  alliance::server::AddStorageFlags(serve, &flags);
  serve->add_option("--listen", flags.listen, "gRPC address host:port (config: listen)");
  serve->add_option("--tls-cert", flags.tls_cert_file, "PEM certificate chain (config: tls_cert)");
  serve->add_option("--tls-key", flags.tls_key_file, "PEM private key (config: tls_key)");
  serve->add_option("--metrics-listen", flags.metrics_listen,
                    "Prometheus /metrics address, empty disables (config: metrics_listen)");
  serve->add_flag("--insecure", flags.insecure,
                  "Allow plaintext on a non-loopback address (config: insecure)");
  serve->add_option("--trusted-proxy", flags.trusted_proxies,
                    "IP address of a reverse proxy whose x-forwarded-for is believed for "
                    "per-address limits; repeatable (config: trusted_proxies)");
  serve->add_option("--log-file", flags.log_file, "JSON-lines log file (config: log_file)");
  serve->add_option("--log-level", flags.log_level, "Log level (config: log_level)");

  CLI11_PARSE(app, argc, argv);

  if (init->parsed()) return alliance::server::RunInit(init_options);
  if (check->parsed()) return alliance::server::RunCheck(check_options);
  if (status->parsed()) {
    probe.timeout = absl::Seconds(probe_timeout_seconds);
    return alliance::server::RunStatus(probe);
  }
  if (backup->parsed()) return alliance::server::RunBackup(backup_data, backup_to);
  if (restore->parsed()) return alliance::server::RunRestore(restore_from, restore_data);
  if (migrate->parsed()) return alliance::server::RunMigrate(migrate_options, migrate_backup);
  if (tls_init->parsed()) return alliance::server::RunTlsInit(tls_options);
  if (tls_renew->parsed()) return alliance::server::RunTlsRenew(tls_options);

  // Defaults < config file < flags given on the command line.
  RelayOptions options;
  if (!config_file.empty()) {
    absl::Status s = alliance::server::LoadConfigFile(config_file, &options);
    if (!s.ok()) return alliance::server::Fail(s);
  }
  auto given = [serve](const char* name) { return serve->count(name) > 0; };
  if (given("--data")) options.data_dir = flags.data_dir;
  if (given("--storage")) options.storage = flags.storage;
  if (given("--database-url") || !flags.database_url.empty()) {
    options.database_url = flags.database_url;
  }
  if (given("--listen")) options.listen = flags.listen;
  if (given("--tls-cert")) options.tls_cert_file = flags.tls_cert_file;
  if (given("--tls-key")) options.tls_key_file = flags.tls_key_file;
  if (given("--metrics-listen")) options.metrics_listen = flags.metrics_listen;
  if (given("--insecure")) options.insecure = true;
  if (given("--trusted-proxy")) options.trusted_proxies = flags.trusted_proxies;
  if (given("--log-file")) options.log_file = flags.log_file;
  if (given("--log-level")) options.log_level = flags.log_level;
  return alliance::server::RunServe(options);
}

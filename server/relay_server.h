// RelayServer: the assembled relay — RocksDB, services, gRPC server (callback API, health and
// reflection on), /metrics endpoint and the background sweep. main() and the in-process tests
// both use it.
//
//   SystemClock clock;
//   ALLIANCE_ASSIGN_OR_RETURN(std::string invite, RelayServer::Initialize(dir, &clock));
//   RelayOptions options;  options.data_dir = dir;  options.listen = "127.0.0.1:0";
//   ALLIANCE_ASSIGN_OR_RETURN(auto relay, RelayServer::Start(options, &clock, logger.get()));
//   ... relay->port() ...
//   relay->Shutdown();     // also done by the destructor
//
// Thread-safe. The clock and logger must outlive the server.
#ifndef ALLIANCE_SERVER_RELAY_SERVER_H_
#define ALLIANCE_SERVER_RELAY_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "server/auth/authenticator.h"
#include "server/infra/admin_socket.h"
#include "server/infra/clock.h"
#include "server/infra/commit_pool.h"
#include "server/infra/config.h"
#include "server/infra/db.h"
#include "server/infra/logging.h"
#include "server/infra/metrics.h"
#include "server/infra/metrics_http.h"
#include "server/infra/rate_limiter.h"
#include "server/infra/tls_reloader.h"
#include "server/services/service_util.h"
#include "server/store/audit_log.h"
#include "server/store/blob_store.h"
#include "server/store/directory.h"
#include "server/store/mailbox.h"
#include "server/store/prekey_store.h"

namespace alliance::server {

class AccountsService;
class BlobsService;
class ClinicService;
class KeysService;
class DevicesService;
class RelayService;

class RelayServer {
 public:
  // Creates the database in `data_dir` and a bootstrap ROLE_ADMIN invite; returns its code
  // (16 bytes; show it once). Errors: ALREADY_EXISTS (database present), INTERNAL.
  [[nodiscard]] static absl::StatusOr<std::string> Initialize(const std::string& data_dir,
                                                              const Clock* clock);
  // As above, on the storage `options` name (RocksDB in data_dir, or PostgreSQL).
  [[nodiscard]] static absl::StatusOr<std::string> Initialize(const RelayOptions& options,
                                                              const Clock* clock);

  // Offline consistency check: schema version and the audit hash chain. Returns a one-line
  // summary. Errors: NOT_FOUND, FAILED_PRECONDITION (schema), DATA_LOSS (chain), INTERNAL.
  // With `read_only` nothing in data_dir is written (verifying a backup).
  [[nodiscard]] static absl::StatusOr<std::string> Check(const std::string& data_dir,
                                                         bool read_only = false);
  [[nodiscard]] static absl::StatusOr<std::string> Check(const RelayOptions& options,
                                                         bool read_only = false);

  // Opens the database and starts serving. Errors: INVALID_ARGUMENT (options),
  // FAILED_PRECONDITION (non-loopback plaintext without `insecure`), NOT_FOUND (no database),
  // UNAVAILABLE (cannot bind), INTERNAL.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RelayServer>> Start(
      const RelayOptions& options, const Clock* clock, Logger* logger);

  ~RelayServer();
  RelayServer(const RelayServer&) = delete;
  RelayServer& operator=(const RelayServer&) = delete;

  // Bound gRPC and metrics ports (metrics: 0 when disabled).
  int port() const { return port_; }
  int metrics_port() const { return http_ != nullptr ? http_->port() : 0; }
  const std::string& relay_id() const { return db_->relay_id(); }
  const Metrics& metrics() const { return *metrics_; }

  // Re-reads the TLS certificate and key files (SIGHUP) and serves them to new connections
  // within TlsReloader::kRefreshSeconds; open streams keep their connection. Logs the outcome.
  // Returns the certificate now staged. On error the previous one stays in service. Errors:
  // FAILED_PRECONDITION (no TLS, or the new certificate is expired or not yet valid),
  // NOT_FOUND / INVALID_ARGUMENT (unreadable or mismatched files), INTERNAL.
  [[nodiscard]] absl::StatusOr<CertificateInfo> ReloadTls();

  // Writes a consistent copy of the database to `to` (a RocksDB checkpoint: every write that
  // returned before the call is in it; table files are hard-linked when `to` is on the same
  // filesystem, copied otherwise). `to` must be absolute and must not exist, or be an empty
  // directory. Returns a one-line summary. Also reachable through `<data>/admin.sock`.
  // Errors: INVALID_ARGUMENT (relative path), ALREADY_EXISTS (not empty), INTERNAL.
  [[nodiscard]] absl::StatusOr<std::string> Backup(const std::string& to);

  // Runs the expiry sweep now (retention of envelopes and attachments, sessions, nonces,
  // invites). Returns envelopes removed.
  // Skipped (0) while another relay process on the same database sweeps, or (shared
  // databases) when one swept within `unless_swept_within`.
  [[nodiscard]] absl::StatusOr<uint64_t> SweepNow(
      absl::Duration unless_swept_within = absl::ZeroDuration());
  // The attachment store (tests look at quotas and records).
  BlobStore* blobs() const { return blobs_.get(); }

  // Stops accepting, ends streams (UNAVAILABLE), waits for calls in flight (at most 5 s),
  // drains synced writes, flushes and closes the database. Idempotent.
  void Shutdown();

 private:
  RelayServer() = default;
  [[nodiscard]] absl::Status Build(const RelayOptions& options, const Clock* clock, Logger* logger);
  void SweepLoop(absl::Duration interval);
  // Registers the gauges computed at scrape time: oldest undelivered age, data bytes, free
  // space, backup age (loads the last backup time from the data directory).
  [[nodiscard]] absl::Status AddOperatorGauges();
  // data_dir, or (PostgreSQL without one) a private temporary directory for staged files.
  [[nodiscard]] absl::StatusOr<std::string> RuntimeDir();

  RelayOptions options_;
  Logger* logger_ = nullptr;
  const Clock* clock_ = nullptr;
  std::unique_ptr<TlsReloader> tls_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<RelayDb> db_;
  std::string runtime_dir_;  // created by RuntimeDir() when there is no data_dir
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<CommitPool> pool_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<Directory> directory_;
  std::unique_ptr<PreKeyStore> prekeys_;
  std::unique_ptr<Mailbox> mailbox_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<RateLimiter> send_rate_;
  std::unique_ptr<RateLimiter> fetch_rate_;
  std::unique_ptr<RateLimiter> publish_rate_;
  ServiceDeps deps_;
  std::unique_ptr<AccountsService> accounts_service_;
  std::unique_ptr<KeysService> keys_service_;
  std::unique_ptr<DevicesService> devices_service_;
  std::unique_ptr<RelayService> relay_service_;
  std::unique_ptr<ClinicService> clinic_service_;
  std::unique_ptr<BlobsService> blobs_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsHttpServer> http_;
  std::unique_ptr<AdminSocket> admin_;
  int port_ = 0;
  // Unix seconds of the last successful Backup(), -1 when none (kept in <data>/last-backup).
  std::atomic<int64_t> last_backup_unix_seconds_{-1};
  std::thread sweeper_;
  base::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_RELAY_SERVER_H_

#include "server/relay_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <sodium.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "rocksdb/utilities/checkpoint.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"
#include "server/infra/data_dir_stats.h"
#include "server/infra/pg_db.h"
#include "server/infra/storage.h"
#include "server/services/accounts_service.h"
#include "server/services/blobs_service.h"
#include "server/services/clinic_service.h"
#include "server/services/devices_service.h"
#include "server/services/keys_service.h"
#include "server/services/relay_service.h"
#include "server/store/mailbox_stats.h"

namespace alliance::server {
namespace {

absl::Status InitSodium() {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialize");
  return absl::OkStatus();
}

absl::Status CheckPlaintextAllowed(const RelayOptions& o) {
  if (!o.insecure && !IsLoopbackListenAddress(o.listen)) {
    return absl::FailedPreconditionError(
        "refusing to serve plaintext on a non-loopback address; give --tls-cert/--tls-key "
        "or --insecure");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RelayServer::Initialize(const std::string& data_dir,
                                                    const Clock* clock) {
  RelayOptions options;
  options.data_dir = data_dir;
  return Initialize(options, clock);
}

absl::StatusOr<std::string> RelayServer::Initialize(const RelayOptions& options,
                                                    const Clock* clock) {
  ALLIANCE_RETURN_IF_ERROR(InitSodium());
  ALLIANCE_ASSIGN_OR_RETURN(auto db, OpenStorage(options, StorageMode::kCreate));
  ALLIANCE_ASSIGN_OR_RETURN(auto audit, AuditLog::Open(db.get(), clock));
  {
    KvBatch batch;
    AuditLog::Event e;
    e.event = v1::AUDIT_EVENT_RELAY_INITIALIZED;
    ALLIANCE_RETURN_IF_ERROR(audit->Commit(&batch, e));
  }
  Directory directory(db.get(), audit.get(), clock, Limits());
  ALLIANCE_ASSIGN_OR_RETURN(auto invite, directory.CreateInvite(nullptr, v1::ROLE_ADMIN));
  ALLIANCE_RETURN_IF_ERROR(db->Close());
  return invite.invite_code();
}

absl::StatusOr<std::string> RelayServer::Check(const std::string& data_dir, bool read_only) {
  RelayOptions options;
  options.data_dir = data_dir;
  return Check(options, read_only);
}

absl::StatusOr<std::string> RelayServer::Check(const RelayOptions& options, bool read_only) {
  ALLIANCE_ASSIGN_OR_RETURN(
      auto db, OpenStorage(options, read_only ? StorageMode::kCheckReadOnly : StorageMode::kCheck));
  ALLIANCE_ASSIGN_OR_RETURN(uint64_t entries, AuditLog::Verify(db.get()));
  const uint64_t accounts = db->EstimateKeys(Cf::kAccounts);
  ALLIANCE_RETURN_IF_ERROR(db->Close());
  return absl::StrCat("ok: schema version ", kSchemaVersion,
                      db->rocks() == nullptr ? " on PostgreSQL" : "", ", relay id ",
                      base::ToHex(db->relay_id()), ", audit chain of ", entries,
                      " entries verified, about ", accounts, " accounts");
}

absl::StatusOr<std::unique_ptr<RelayServer>> RelayServer::Start(const RelayOptions& options,
                                                                const Clock* clock,
                                                                Logger* logger) {
  ALLIANCE_RETURN_IF_ERROR(InitSodium());
  ALLIANCE_RETURN_IF_ERROR(ValidateOptions(options));
  auto server = std::unique_ptr<RelayServer>(new RelayServer());
  absl::Status s = server->Build(options, clock, logger);
  if (!s.ok()) {
    server->Shutdown();
    return s;
  }
  return server;
}

absl::Status RelayServer::Build(const RelayOptions& options, const Clock* clock, Logger* logger) {
  options_ = options;
  logger_ = logger;
  clock_ = clock;
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (options.tls_cert_file.empty()) {
    ALLIANCE_RETURN_IF_ERROR(CheckPlaintextAllowed(options));
    credentials = grpc::InsecureServerCredentials();
  } else {
    ALLIANCE_ASSIGN_OR_RETURN(const std::string runtime, RuntimeDir());
    ALLIANCE_ASSIGN_OR_RETURN(
        tls_, TlsReloader::Create(options.tls_cert_file, options.tls_key_file,
                                  (std::filesystem::path(runtime) / "tls").string()));
    credentials = tls_->credentials();
    CertificateInfo served = tls_->current();
    if (clock->Now() >= served.not_after) {
      logger->Warn("tls_certificate_expired",
                   {{"serial", served.serial_hex},
                    {"not_after", absl::FormatTime(served.not_after, absl::UTCTimeZone())}});
    }
  }
  metrics_ = std::make_unique<Metrics>();
  ALLIANCE_ASSIGN_OR_RETURN(db_, OpenStorage(options, StorageMode::kServe));
  ALLIANCE_ASSIGN_OR_RETURN(audit_, AuditLog::Open(db_.get(), clock));
  pool_ = std::make_unique<CommitPool>(db_.get(), options.commit_threads);
  const Limits& limits = options_.limits;
  auth_ = std::make_unique<Authenticator>(db_.get(), audit_.get(), clock, limits, metrics_.get());
  directory_ = std::make_unique<Directory>(db_.get(), audit_.get(), clock, limits);
  prekeys_ = std::make_unique<PreKeyStore>(db_.get(), audit_.get(), limits, metrics_.get());
  mailbox_ = std::make_unique<Mailbox>(db_.get(), pool_.get(), clock, limits, metrics_.get());
  blobs_ = std::make_unique<BlobStore>(db_.get(), clock, limits);
  if (db_->shared()) {
    // Other relay processes serve the same database: logins are answered wherever the
    // challenge came from, and streams here wake for what is sent through any of them.
    ALLIANCE_RETURN_IF_ERROR(auth_->ShareChallengeKey());
    Mailbox* mailbox = mailbox_.get();
    ALLIANCE_RETURN_IF_ERROR(db_->Listen([mailbox](std::string_view key) { mailbox->Wake(key); }));
  }
  send_rate_ = std::make_unique<RateLimiter>(clock, limits.send_rate_per_second, limits.send_burst,
                                             limits.max_rate_limit_keys);
  fetch_rate_ =
      std::make_unique<RateLimiter>(clock, limits.prekey_fetches_per_hour / 3600.0,
                                    limits.prekey_fetch_burst, limits.max_rate_limit_keys);
  publish_rate_ =
      std::make_unique<RateLimiter>(clock, limits.prekey_publishes_per_hour / 3600.0,
                                    limits.prekey_publish_burst, limits.max_rate_limit_keys);
  deps_ = ServiceDeps{.limits = &options_.limits,
                      .clock = clock,
                      .audit = audit_.get(),
                      .auth = auth_.get(),
                      .directory = directory_.get(),
                      .prekeys = prekeys_.get(),
                      .mailbox = mailbox_.get(),
                      .blobs = blobs_.get(),
                      .send_rate = send_rate_.get(),
                      .fetch_rate = fetch_rate_.get(),
                      .publish_rate = publish_rate_.get(),
                      .metrics = metrics_.get(),
                      .logger = logger,
                      .trusted_proxies = &options_.trusted_proxies};
  RelayDb* db = db_.get();
  metrics_->AddGaugeCallback("alliance_mailbox_envelopes_estimate",
                             "Stored envelopes and mailbox counters (the database's estimate).",
                             [db] { return static_cast<double>(db->EstimateKeys(Cf::kMailbox)); });
  ALLIANCE_RETURN_IF_ERROR(AddOperatorGauges());
  accounts_service_ = std::make_unique<AccountsService>(&deps_);
  keys_service_ = std::make_unique<KeysService>(&deps_);
  devices_service_ = std::make_unique<DevicesService>(&deps_);
  relay_service_ = std::make_unique<RelayService>(&deps_);
  clinic_service_ = std::make_unique<ClinicService>(&deps_);
  blobs_service_ = std::make_unique<BlobsService>(&deps_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &port_);
  // Envelopes, and attachment upload pieces (at most 256 KiB each), plus framing.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::max<uint32_t>(limits.max_envelope_bytes, 256 * 1024)) + 16 * 1024);
  builder.RegisterService(accounts_service_.get());
  builder.RegisterService(keys_service_.get());
  builder.RegisterService(devices_service_.get());
  builder.RegisterService(relay_service_.get());
  builder.RegisterService(clinic_service_.get());
  builder.RegisterService(blobs_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  if (!options.metrics_listen.empty()) {
    ALLIANCE_ASSIGN_OR_RETURN(http_,
                              MetricsHttpServer::Start(options.metrics_listen, metrics_.get()));
  }
  if (!options.data_dir.empty()) {
    ALLIANCE_ASSIGN_OR_RETURN(
        admin_, AdminSocket::Start(
                    (std::filesystem::path(options.data_dir) / kAdminSocketName).string(),
                    [this](absl::string_view command, absl::string_view arg)
                        -> absl::StatusOr<std::string> {
                      if (command == "backup") return Backup(std::string(arg));
                      return absl::InvalidArgumentError(
                          absl::StrCat("unknown admin command \"", command, "\""));
                    }));
  }
  sweeper_ = std::thread([this, interval = options.sweep_interval] { SweepLoop(interval); });
  logger_->Info("relay_started", {{"port", port_},
                                  {"metrics_port", metrics_port()},
                                  {"tls", !options.tls_cert_file.empty()},
                                  {"storage", std::string(db_->backend())},
                                  {"relay_id", base::ToHex(db_->relay_id())}});
  return absl::OkStatus();
}

absl::StatusOr<std::string> RelayServer::RuntimeDir() {
  if (!options_.data_dir.empty()) return options_.data_dir;
  if (runtime_dir_.empty()) {
    // PostgreSQL keeps everything that lasts; the node only stages its TLS files, in a
    // private directory of its own removed at shutdown.
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "alliance-relay-run-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError("cannot create a private runtime directory");
    }
    runtime_dir_ = tmpl;
  }
  return runtime_dir_;
}

absl::Status RelayServer::AddOperatorGauges() {
  RelayDb* db = db_.get();
  const Clock* clock = clock_;
  metrics_->AddGaugeCallback(
      "alliance_oldest_undelivered_age_seconds",
      "Age of the oldest envelope waiting in any mailbox; 0 when all are empty.", [db, clock] {
        absl::StatusOr<std::optional<absl::Time>> oldest = OldestPendingEnvelopeTime(db);
        if (!oldest.ok()) return std::nan("");
        if (!oldest->has_value()) return 0.0;
        return std::max(0.0, absl::ToDoubleSeconds(clock->Now() - **oldest));
      });
  // PostgreSQL without a data directory: the database's own monitoring covers its size, free
  // space and backups.
  if (options_.data_dir.empty()) return absl::OkStatus();
  absl::StatusOr<std::optional<absl::Time>> last_backup = ReadBackupTime(options_.data_dir);
  if (!last_backup.ok()) {
    // A damaged stamp must not keep the relay down; the gauge then reads "never".
    logger_->Warn("backup_time_unreadable", {{"detail", std::string(last_backup.status().message())}});
  } else if (last_backup->has_value()) {
    last_backup_unix_seconds_.store(absl::ToUnixSeconds(**last_backup));
  }
  const std::string data_dir = options_.data_dir;
  metrics_->AddGaugeCallback("alliance_data_bytes",
                             "Bytes of the files in the data directory (database, logs).",
                             [data_dir] { return static_cast<double>(DirectoryBytes(data_dir)); });
  metrics_->AddGaugeCallback(
      "alliance_data_filesystem_available_bytes",
      "Bytes still available on the data directory's filesystem.", [data_dir] {
        absl::StatusOr<uint64_t> available = AvailableBytes(data_dir);
        return available.ok() ? static_cast<double>(*available) : std::nan("");
      });
  metrics_->AddGaugeCallback(
      "alliance_backup_age_seconds",
      "Seconds since the last successful `alliance-relay backup`; -1 when none was taken.",
      [this, clock] {
        const int64_t last = last_backup_unix_seconds_.load();
        if (last < 0) return -1.0;
        return std::max(0.0, absl::ToDoubleSeconds(clock->Now() - absl::FromUnixSeconds(last)));
      });
  return absl::OkStatus();
}

RelayServer::~RelayServer() { Shutdown(); }

absl::StatusOr<CertificateInfo> RelayServer::ReloadTls() {
  if (tls_ == nullptr) {
    return absl::FailedPreconditionError("the relay serves without TLS; nothing to reload");
  }
  absl::StatusOr<CertificateInfo> info = tls_->Reload(clock_->Now());
  if (!info.ok()) {
    logger_->Error("tls_reload_refused", {{"detail", std::string(info.status().message())},
                                          {"serving_serial", tls_->current().serial_hex}});
    logger_->Flush();  // An operator who just sent SIGHUP looks at the log now.
    return info.status();
  }
  logger_->Info("tls_reloaded",
                {{"serial", info->serial_hex},
                 {"sha256", info->sha256_fingerprint},
                 {"not_after", absl::FormatTime(info->not_after, absl::UTCTimeZone())}});
  logger_->Flush();
  return info;
}

absl::StatusOr<std::string> RelayServer::Backup(const std::string& to) {
  namespace fs = std::filesystem;
  const fs::path target(to);
  if (to.empty() || !target.is_absolute()) {
    return absl::InvalidArgumentError(absl::StrCat("backup target must be absolute: \"", to, "\""));
  }
  std::error_code ec;
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec) || !fs::is_empty(target, ec)) {
      return absl::AlreadyExistsError(absl::StrCat(to, " exists and is not empty"));
    }
    fs::remove(target, ec);  // Checkpoint creates the directory itself.
  }
  if (db_->rocks() == nullptr) {
    return absl::FailedPreconditionError(
        "this relay stores in PostgreSQL: back up with the database's own tools "
        "(pg_basebackup, or pg_dump); see deploy/README.md");
  }
  const absl::Time start = absl::Now();
  rocksdb::Checkpoint* raw = nullptr;
  ALLIANCE_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_->rocks()->db(), &raw)));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  uint64_t sequence = 0;
  // log_size_for_flush 0: flush memtables first, so the copy needs no WAL replay to open.
  absl::Status s = FromRocks(checkpoint->CreateCheckpoint(to, /*log_size_for_flush=*/0, &sequence));
  if (!s.ok()) {
    logger_->Error("backup_failed", {{"to", to}, {"detail", std::string(s.message())}});
    return s;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  logger_->Info("backup_written", {{"to", to}, {"sequence", sequence}, {"seconds", seconds}});
  const absl::Time now = clock_->Now();
  last_backup_unix_seconds_.store(absl::ToUnixSeconds(now));
  absl::Status recorded = RecordBackupTime(options_.data_dir, now);
  if (!recorded.ok()) {  // The backup itself is good; only the gauge forgets it on restart.
    logger_->Error("backup_time_not_recorded", {{"detail", std::string(recorded.message())}});
  }
  return absl::StrCat("checkpoint at sequence ", sequence, " written to ", to, " in ",
                      absl::StrFormat("%.3f", seconds), " s");
}

absl::StatusOr<uint64_t> RelayServer::SweepNow(absl::Duration unless_swept_within) {
  // One relay process sweeps at a time (several may serve one PostgreSQL database): two
  // sweeps of one mailbox would each count its expired envelopes off the depth.
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<RelayDb::Exclusive> sweeping,
                            db_->TryExclusive("sweep"));
  if (sweeping == nullptr) return 0;
  // And once per period across them: the time of the last sweep is kept in the database.
  constexpr const char* kLastSweepKey = "last_sweep";
  const uint64_t now_ms = static_cast<uint64_t>(absl::ToUnixMillis(clock_->Now()));
  if (db_->shared() && unless_swept_within > absl::ZeroDuration()) {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> last, db_->Get(Cf::kMeta, kLastSweepKey));
    if (last.has_value() && last->size() == 8 &&
        now_ms < base::ReadU64BE(last->data()) +
                     static_cast<uint64_t>(absl::ToInt64Milliseconds(unless_swept_within))) {
      return 0;
    }
  }
  if (db_->shared()) {
    KvBatch batch;
    std::string at;
    base::AppendU64BE(&at, now_ms);
    batch.Put(Cf::kMeta, kLastSweepKey, at);
    ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/false));
  }
  ALLIANCE_ASSIGN_OR_RETURN(uint64_t expired, mailbox_->SweepExpired());
  ALLIANCE_ASSIGN_OR_RETURN(uint64_t expired_blobs, blobs_->SweepExpired());
  metrics_->blobs_deleted.Increment(expired_blobs);
  if (expired_blobs > 0) logger_->Info("attachment_sweep", {{"expired", expired_blobs}});
  ALLIANCE_RETURN_IF_ERROR(auth_->SweepExpired());
  ALLIANCE_RETURN_IF_ERROR(directory_->SweepExpired());
  if (expired > 0) logger_->Info("retention_sweep", {{"expired", expired}});
  return expired;
}

void RelayServer::SweepLoop(absl::Duration interval) {
  base::MutexLock lock(&mu_);
  while (!stopping_) {
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(base::Condition(&stop), interval)) break;
    mu_.Unlock();
    // Half the interval: relay processes that share a database sweep it once per interval
    // between them, whichever wakes first.
    absl::StatusOr<uint64_t> swept = SweepNow(interval / 2);
    if (!swept.ok()) logger_->Error("sweep_failed", {{"detail", swept.status().ToString()}});
    mu_.Lock();
  }
}

void RelayServer::Shutdown() {
  {
    base::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  if (server_ != nullptr) {
    if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(false);
  }
  if (mailbox_ != nullptr) mailbox_->CloseAll(absl::UnavailableError("relay shutting down"));
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
  }
  if (sweeper_.joinable()) sweeper_.join();
  admin_.reset();  // Waits for a backup in progress.
  if (pool_ != nullptr) pool_->Shutdown();
  if (http_ != nullptr) http_->Stop();
  if (db_ != nullptr) {
    absl::Status closed = db_->Close();
    if (logger_ != nullptr) {
      if (closed.ok()) {
        logger_->Info("relay_stopped");
      } else {
        logger_->Error("close_failed", {{"detail", closed.ToString()}});
      }
    }
  }
  if (logger_ != nullptr) logger_->Flush();
  if (!runtime_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(runtime_dir_, ec);
  }
}

}  // namespace alliance::server

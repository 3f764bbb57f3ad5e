// Relay configuration: every limit and setting, with its default, plus the TOML loader.
//
//   RelayOptions options;                         // defaults
//   ALLIANCE_RETURN_IF_ERROR(LoadConfigFile("/etc/alliance/relay.toml", &options));
//   options.listen = "0.0.0.0:7443";              // command-line flags override the file
//
// TOML keys (all optional; see deploy/relay.toml):
//   storage, data, database_url, database_connections, listen, tls_cert, tls_key, metrics_listen, insecure, log_file, log_level,
//   sweep_interval_seconds, commit_threads, and in table [limits]: max_envelope_bytes,
//   max_mailbox_envelopes, retention_days, send_rate_per_second, send_burst,
//   max_one_time_prekeys_per_request, max_one_time_prekeys_per_device, token_ttl_hours,
//   challenge_ttl_seconds, invite_ttl_days, login_failures_burst, login_failures_per_minute,
//   max_pending_challenges, max_mailbox_envelopes_per_sender, challenges_per_minute,
//   challenge_burst, prekey_fetches_per_hour, prekey_fetch_burst, prekey_publishes_per_hour,
//   prekey_publish_burst, invites_per_hour, invite_burst, max_outstanding_invites,
//   max_devices_per_account, max_attachment_bytes, max_attachment_bytes_per_account,
//   max_rate_limit_keys.
//
// Budgets are charged to the caller, never to an account a request names (DESIGN §2, 10):
// login failures and challenges to the caller's network address, sends, invites and key
// publication to the authenticated account, prekey fetches to the (requester, target) pair,
// mailbox space to the (sender, recipient) pair, attachment storage to the uploading account.
#ifndef ALLIANCE_SERVER_INFRA_CONFIG_H_
#define ALLIANCE_SERVER_INFRA_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace alliance::server {

// Limits enforced on clients. Tests shrink them; operators rarely need to.
struct Limits {
  // Largest envelope payload accepted by Send. Default: 64 KiB.
  uint32_t max_envelope_bytes = 64 * 1024;
  // Pending envelopes per mailbox before Send returns RESOURCE_EXHAUSTED. Default: 10 000.
  uint64_t max_mailbox_envelopes = 10'000;
  // Pending envelopes one sender may hold in one mailbox, so that one contact cannot fill a
  // therapist's mailbox for everyone else. Default: 1 000.
  uint64_t max_mailbox_envelopes_per_sender = 1'000;
  // Undelivered envelopes older than this are removed by the sweep. Default: 30 days.
  absl::Duration retention = absl::Hours(24 * 30);
  // Sustained sends per second per account (token bucket). Default: 10.
  double send_rate_per_second = 10;
  // Send bucket capacity (burst). Default: 200.
  double send_burst = 200;
  // One-time prekeys per PublishPreKeys request. Default: 100.
  uint32_t max_one_time_prekeys_per_request = 100;
  // One-time prekeys stored per device. Default: 200.
  uint32_t max_one_time_prekeys_per_device = 200;
  // Session token lifetime. Default: 24 h.
  absl::Duration token_ttl = absl::Hours(24);
  // Login challenge lifetime. Default: 60 s.
  absl::Duration challenge_ttl = absl::Seconds(60);
  // Invite lifetime. Default: 7 days.
  absl::Duration invite_ttl = absl::Hours(24 * 7);
  // Failed logins per caller address in a burst, then refilled at the rate below. Beyond it a
  // failed login answers RESOURCE_EXHAUSTED and is not audited; a correct signature always
  // logs in. Default: 20 and 10 per minute.
  double login_failures_burst = 20;
  double login_failures_per_minute = 10;
  // Answered (successfully signed) challenges remembered until they expire, so that each
  // works once. Challenges themselves are stateless. Default: 100 000.
  uint64_t max_pending_challenges = 100'000;
  // Challenges per caller address: burst, then per minute. Default: 60 and 60.
  double challenge_burst = 60;
  double challenges_per_minute = 60;
  // Prekey bundle fetches per (requester, target account): burst, then per hour, so that no
  // contact can drain another's one-time prekeys. Default: 10 and 10.
  double prekey_fetch_burst = 10;
  double prekey_fetches_per_hour = 10;
  // PublishPreKeys calls per account: burst, then per hour. Default: 20 and 60.
  double prekey_publish_burst = 20;
  double prekey_publishes_per_hour = 60;
  // CreateInvite calls per account: burst, then per hour. Default: 20 and 60.
  double invite_burst = 20;
  double invites_per_hour = 60;
  // Unused, unexpired, unrevoked invites one account may have outstanding. Default: 100.
  uint64_t max_outstanding_invites = 100;
  // Devices one account may have (linking a device beyond it is refused); at most
  // wire::kMaxDevicesPerAccount (16). Default: 5.
  uint32_t max_devices_per_account = 5;
  // Largest attachment (file bytes before encryption) an upload may declare. Default: 50 MiB.
  uint64_t max_attachment_bytes = 50ull << 20;
  // Attachment bytes one account may have stored at the relay at once (declared uploads count
  // from the moment they are declared, until the blob is deleted). Default: 1 GiB.
  uint64_t max_attachment_bytes_per_account = 1ull << 30;
  // Keys (callers) each rate limiter tracks; beyond it new callers share one overflow bucket
  // until idle ones are pruned, so memory stays bounded under a flood. Default: 100 000.
  uint64_t max_rate_limit_keys = 100'000;
};

struct RelayOptions {
  // Where the relay stores: "rocksdb" (embedded, in data_dir; the default) or "postgres"
  // (database_url; server/infra/pg_db.h).
  std::string storage = "rocksdb";
  // Database directory (created by `alliance-relay init`). Required with rocksdb. With
  // postgres optional: when set it holds the admin socket and the staged TLS files.
  std::string data_dir;
  // PostgreSQL connection URI (postgresql://user@host/db; a password is better kept in
  // ~/.pgpass or PGPASSWORD than here). Required with postgres.
  std::string database_url;
  // Most PostgreSQL connections the relay opens. Default: 16.
  int database_connections = 16;
  // gRPC listen address, host:port. Port 0 picks a free port. Default: 127.0.0.1:7443.
  std::string listen = "127.0.0.1:7443";
  // PEM certificate chain and private key. Both or neither. Default: none (plaintext).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Address of the Prometheus /metrics endpoint; empty disables it. Default: 127.0.0.1:0.
  std::string metrics_listen = "127.0.0.1:0";
  // Allow plaintext on a non-loopback address. Default: false.
  bool insecure = false;
  // IP addresses of reverse proxies in front of the relay (a gRPC-aware load balancer). A call
  // from one of them is charged, for per-address budgets (challenges, failed logins, link
  // codes), to the address that proxy appended last to x-forwarded-for. Default: none.
  std::vector<std::string> trusted_proxies;
  // JSON-lines log file; empty means stderr. Default: stderr.
  std::string log_file;
  // trace, debug, info, warn, error, critical, off. Default: info.
  std::string log_level = "info";
  // Period of the background retention/expiry sweep. Default: 10 minutes.
  absl::Duration sweep_interval = absl::Minutes(10);
  // Threads that perform synced writes (RocksDB group-commits their batches). Default: 32.
  int commit_threads = 32;
  Limits limits;
};

// Reads a TOML file into `options`, overwriting only the keys present.
// Errors: NOT_FOUND (file missing), INVALID_ARGUMENT (syntax error, unknown key, wrong type or
// out-of-range value).
[[nodiscard]] absl::Status LoadConfigFile(const std::string& path, RelayOptions* options);

// Checks cross-field constraints (TLS files in pairs, positive limits, data dir set).
// Errors: INVALID_ARGUMENT.
[[nodiscard]] absl::Status ValidateOptions(const RelayOptions& options);

// True when every address `listen` (host:port) resolves to is loopback (127.0.0.0/8, ::1).
bool IsLoopbackListenAddress(const std::string& listen);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_CONFIG_H_

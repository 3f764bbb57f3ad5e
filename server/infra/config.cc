#include "server/infra/config.h"

#include <arpa/inet.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <set>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/loopback.h"
#include "toml++/toml.h"
#include "wire/protocol.h"

namespace alliance::server {
namespace {

const std::set<std::string_view>& TopLevelKeys() {
  static const auto* keys =
      new std::set<std::string_view>{"data",           "listen",         "tls_cert",
                                     "tls_key",        "metrics_listen", "insecure",
                                     "log_file",       "log_level",      "sweep_interval_seconds",
                                     "commit_threads", "limits",         "storage",
                                     "database_url",   "database_connections", "trusted_proxies"};
  return *keys;
}

const std::set<std::string_view>& LimitKeys() {
  static const auto* keys = new std::set<std::string_view>{"max_envelope_bytes",
                                                           "max_mailbox_envelopes",
                                                           "retention_days",
                                                           "send_rate_per_second",
                                                           "send_burst",
                                                           "max_one_time_prekeys_per_request",
                                                           "max_one_time_prekeys_per_device",
                                                           "token_ttl_hours",
                                                           "challenge_ttl_seconds",
                                                           "invite_ttl_days",
                                                           "login_failures_burst",
                                                           "login_failures_per_minute",
                                                           "max_pending_challenges",
                                                           "max_mailbox_envelopes_per_sender",
                                                           "challenge_burst",
                                                           "challenges_per_minute",
                                                           "prekey_fetch_burst",
                                                           "prekey_fetches_per_hour",
                                                           "prekey_publish_burst",
                                                           "prekey_publishes_per_hour",
                                                           "invite_burst",
                                                           "invites_per_hour",
                                                           "max_outstanding_invites",
                                                           "max_devices_per_account",
                                                           "max_attachment_bytes",
                                                           "max_attachment_bytes_per_account",
                                                           "max_rate_limit_keys"};
  return *keys;
}

absl::Status CheckKeys(const toml::table& table, const std::set<std::string_view>& allowed,
                       std::string_view where) {
  for (const auto& [key, value] : table) {
    if (allowed.count(key.str()) == 0) {
      return absl::InvalidArgumentError(std::string("unknown config key ") + std::string(where) +
                                        std::string(key.str()));
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ReadString(const toml::table& t, std::string_view key, T* out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return absl::OkStatus();
  auto v = n->value<std::string>();
  if (!v)
    return absl::InvalidArgumentError(std::string("config key ") + std::string(key) +
                                      ": want a string");
  *out = *v;
  return absl::OkStatus();
}

absl::Status ReadStrings(const toml::table& t, std::string_view key,
                         std::vector<std::string>* out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return absl::OkStatus();
  const toml::array* a = n->as_array();
  std::vector<std::string> values;
  for (size_t i = 0; a != nullptr && i < a->size(); ++i) {
    auto v = a->get(i)->value<std::string>();
    if (!v) break;
    values.push_back(*v);
  }
  if (a == nullptr || values.size() != a->size()) {
    return absl::InvalidArgumentError(std::string("config key ") + std::string(key) +
                                      ": want an array of strings");
  }
  *out = std::move(values);
  return absl::OkStatus();
}

absl::Status ReadBool(const toml::table& t, std::string_view key, bool* out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return absl::OkStatus();
  auto v = n->value<bool>();
  if (!v)
    return absl::InvalidArgumentError(std::string("config key ") + std::string(key) +
                                      ": want a boolean");
  *out = *v;
  return absl::OkStatus();
}

// Reads a positive number (integer or float) into `out`.
absl::Status ReadNumber(const toml::table& t, std::string_view key, double* out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return absl::OkStatus();
  auto v = n->value<double>();
  if (!v || !(*v > 0)) {
    return absl::InvalidArgumentError(std::string("config key ") + std::string(key) +
                                      ": want a number > 0");
  }
  *out = *v;
  return absl::OkStatus();
}

template <typename Int>
absl::Status ReadInt(const toml::table& t, std::string_view key, Int* out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return absl::OkStatus();
  // Only a TOML integer counts: toml++'s value<int64_t>() would convert a float, and a float
  // beyond int64's range converts with undefined behaviour (found by the relay_config fuzzer).
  const toml::value<int64_t>* v = n->as_integer();
  if (v == nullptr || v->get() <= 0 ||
      static_cast<uint64_t>(v->get()) > static_cast<uint64_t>(std::numeric_limits<Int>::max())) {
    return absl::InvalidArgumentError(std::string("config key ") + std::string(key) +
                                      ": want an integer > 0");
  }
  *out = static_cast<Int>(v->get());
  return absl::OkStatus();
}

absl::Status ReadDuration(const toml::table& t, std::string_view key, absl::Duration unit,
                          absl::Duration* out) {
  double v = 0;
  if (t.get(key) == nullptr) return absl::OkStatus();
  absl::Status s = ReadNumber(t, key, &v);
  if (!s.ok()) return s;
  *out = unit * v;
  return absl::OkStatus();
}

absl::Status ApplyLimits(const toml::table& t, Limits* l) {
  absl::Status s = CheckKeys(t, LimitKeys(), "limits.");
  if (s.ok()) s = ReadInt(t, "max_envelope_bytes", &l->max_envelope_bytes);
  if (s.ok()) s = ReadInt(t, "max_mailbox_envelopes", &l->max_mailbox_envelopes);
  if (s.ok()) s = ReadDuration(t, "retention_days", absl::Hours(24), &l->retention);
  if (s.ok()) s = ReadNumber(t, "send_rate_per_second", &l->send_rate_per_second);
  if (s.ok()) s = ReadNumber(t, "send_burst", &l->send_burst);
  if (s.ok()) {
    s = ReadInt(t, "max_one_time_prekeys_per_request", &l->max_one_time_prekeys_per_request);
  }
  if (s.ok()) {
    s = ReadInt(t, "max_one_time_prekeys_per_device", &l->max_one_time_prekeys_per_device);
  }
  if (s.ok()) s = ReadDuration(t, "token_ttl_hours", absl::Hours(1), &l->token_ttl);
  if (s.ok()) s = ReadDuration(t, "challenge_ttl_seconds", absl::Seconds(1), &l->challenge_ttl);
  if (s.ok()) s = ReadDuration(t, "invite_ttl_days", absl::Hours(24), &l->invite_ttl);
  if (s.ok()) s = ReadNumber(t, "login_failures_burst", &l->login_failures_burst);
  if (s.ok()) s = ReadNumber(t, "login_failures_per_minute", &l->login_failures_per_minute);
  if (s.ok()) s = ReadInt(t, "max_pending_challenges", &l->max_pending_challenges);
  if (s.ok()) {
    s = ReadInt(t, "max_mailbox_envelopes_per_sender", &l->max_mailbox_envelopes_per_sender);
  }
  if (s.ok()) s = ReadNumber(t, "challenge_burst", &l->challenge_burst);
  if (s.ok()) s = ReadNumber(t, "challenges_per_minute", &l->challenges_per_minute);
  if (s.ok()) s = ReadNumber(t, "prekey_fetch_burst", &l->prekey_fetch_burst);
  if (s.ok()) s = ReadNumber(t, "prekey_fetches_per_hour", &l->prekey_fetches_per_hour);
  if (s.ok()) s = ReadNumber(t, "prekey_publish_burst", &l->prekey_publish_burst);
  if (s.ok()) s = ReadNumber(t, "prekey_publishes_per_hour", &l->prekey_publishes_per_hour);
  if (s.ok()) s = ReadNumber(t, "invite_burst", &l->invite_burst);
  if (s.ok()) s = ReadNumber(t, "invites_per_hour", &l->invites_per_hour);
  if (s.ok()) s = ReadInt(t, "max_outstanding_invites", &l->max_outstanding_invites);
  if (s.ok()) s = ReadInt(t, "max_devices_per_account", &l->max_devices_per_account);
  if (s.ok()) s = ReadInt(t, "max_attachment_bytes", &l->max_attachment_bytes);
  if (s.ok()) {
    s = ReadInt(t, "max_attachment_bytes_per_account", &l->max_attachment_bytes_per_account);
  }
  if (s.ok()) s = ReadInt(t, "max_rate_limit_keys", &l->max_rate_limit_keys);
  return s;
}

absl::Status Apply(const toml::table& t, RelayOptions* o) {
  absl::Status s = CheckKeys(t, TopLevelKeys(), "");
  if (s.ok()) s = ReadString(t, "data", &o->data_dir);
  if (s.ok()) s = ReadString(t, "storage", &o->storage);
  if (s.ok()) s = ReadString(t, "database_url", &o->database_url);
  if (s.ok()) s = ReadInt(t, "database_connections", &o->database_connections);
  if (s.ok()) s = ReadString(t, "listen", &o->listen);
  if (s.ok()) s = ReadString(t, "tls_cert", &o->tls_cert_file);
  if (s.ok()) s = ReadString(t, "tls_key", &o->tls_key_file);
  if (s.ok()) s = ReadString(t, "metrics_listen", &o->metrics_listen);
  if (s.ok()) s = ReadBool(t, "insecure", &o->insecure);
  if (s.ok()) s = ReadStrings(t, "trusted_proxies", &o->trusted_proxies);
  if (s.ok()) s = ReadString(t, "log_file", &o->log_file);
  if (s.ok()) s = ReadString(t, "log_level", &o->log_level);
  if (s.ok()) s = ReadDuration(t, "sweep_interval_seconds", absl::Seconds(1), &o->sweep_interval);
  if (s.ok()) s = ReadInt(t, "commit_threads", &o->commit_threads);
  if (!s.ok()) return s;
  if (const toml::node* limits = t.get("limits")) {
    const toml::table* lt = limits->as_table();
    if (lt == nullptr) return absl::InvalidArgumentError("config key limits: want a table");
    return ApplyLimits(*lt, &o->limits);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadConfigFile(const std::string& path, RelayOptions* options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("config file not found: ", path));
  }
  // toml++ reports syntax errors by exception; this is startup, not the data path.
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", e.what()));
  }
  return Apply(table, options);
}

absl::Status ValidateOptions(const RelayOptions& o) {
  if (o.storage == "postgres") {
    if (o.database_url.empty()) {
      return absl::InvalidArgumentError("--storage postgres needs --database-url");
    }
    if (o.database_connections < 1) {
      return absl::InvalidArgumentError("database_connections must be at least 1");
    }
  } else if (o.storage == "rocksdb") {
    if (o.data_dir.empty()) return absl::InvalidArgumentError("no data directory (--data)");
  } else {
    return absl::InvalidArgumentError("--storage must be rocksdb or postgres");
  }
  for (const std::string& proxy : o.trusted_proxies) {
    in_addr v4;
    in6_addr v6;
    if (inet_pton(AF_INET, proxy.c_str(), &v4) != 1 && inet_pton(AF_INET6, proxy.c_str(), &v6) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("trusted proxy ", proxy, " is not an IPv4 or IPv6 address"));
    }
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (o.commit_threads < 1 || o.commit_threads > 1024) {
    return absl::InvalidArgumentError("commit_threads out of range");
  }
  const Limits& l = o.limits;
  if (l.max_envelope_bytes == 0 || l.max_envelope_bytes > 16 * 1024 * 1024) {
    return absl::InvalidArgumentError("max_envelope_bytes out of range");
  }
  if (l.max_devices_per_account == 0 || l.max_devices_per_account > 16) {
    return absl::InvalidArgumentError("max_devices_per_account must be 1 to 16");
  }
  if (l.max_attachment_bytes == 0 || l.max_attachment_bytes > wire::kMaxAttachmentSize ||
      l.max_attachment_bytes_per_account < l.max_attachment_bytes) {
    return absl::InvalidArgumentError(
        "max_attachment_bytes must be 1 to 4 GiB and at most max_attachment_bytes_per_account");
  }
  if (l.max_mailbox_envelopes == 0 || l.send_burst < 1 || l.send_rate_per_second <= 0 ||
      l.login_failures_burst < 1 || l.login_failures_per_minute <= 0 ||
      l.max_one_time_prekeys_per_request == 0 || l.max_one_time_prekeys_per_device == 0 ||
      l.max_pending_challenges == 0 || l.max_mailbox_envelopes_per_sender == 0 ||
      l.challenge_burst < 1 || l.challenges_per_minute <= 0 || l.prekey_fetch_burst < 1 ||
      l.prekey_fetches_per_hour <= 0 || l.prekey_publish_burst < 1 ||
      l.prekey_publishes_per_hour <= 0 || l.invite_burst < 1 || l.invites_per_hour <= 0 ||
      l.max_outstanding_invites == 0 || l.max_rate_limit_keys == 0) {
    return absl::InvalidArgumentError("limits must be positive");
  }
  if (l.retention <= absl::ZeroDuration() || l.token_ttl <= absl::ZeroDuration() ||
      l.challenge_ttl <= absl::ZeroDuration() || l.invite_ttl <= absl::ZeroDuration() ||
      o.sweep_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("durations must be positive");
  }
  return absl::OkStatus();
}

bool IsLoopbackListenAddress(const std::string& listen) {
  // By the addresses the name resolves to, never by its spelling ("127.example.org").
  return base::IsLoopbackAddress(listen);
}

}  // namespace alliance::server

#include "server/auth/authenticator.h"

#include <sodium.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"
#include "server/relay_records.pb.h"
#include "server/store/devices.h"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::server {
namespace {

constexpr char kLoginFailed[] = "login failed";
// A nonce is 16 random bytes followed by the first 16 bytes of its MAC.
constexpr size_t kChallengeRandomSize = 16;
constexpr std::string_view kBearer = "Bearer ";

std::string SessionKey(std::string_view token_hash) { return base::Concat({"t", token_hash}); }
// 'l' || account || device u32 -> the day (Unix seconds at 00:00 UTC) the device last logged in.
std::string LastSeenKey(std::string_view account, uint32_t device) {
  std::string key = base::Concat({"l", account});
  base::AppendU32BE(&key, device);
  return key;
}
std::string SessionIndexKey(std::string_view account, std::string_view token_hash) {
  return base::Concat({"a", account, token_hash});
}
// A nonce a login used, kept until it expires (shared databases only).
std::string UsedNonceKey(std::string_view nonce) { return base::Concat({"n", Blake2b256(nonce)}); }
constexpr const char* kChallengeKeyName = "challenge_key";

}  // namespace

Authenticator::Authenticator(RelayDb* db, AuditLog* audit, const Clock* clock, const Limits& limits,
                             Metrics* metrics)
    : db_(db),
      audit_(audit),
      clock_(clock),
      limits_(limits),
      metrics_(metrics),
      challenge_key_(std::make_unique<MacKey>()),
      caller_failures_(clock, limits.login_failures_per_minute / 60.0, limits.login_failures_burst,
                       limits.max_rate_limit_keys),
      // Bounds the audit entries that failed logins can cause relay-wide.
      global_failures_(clock, 100.0 / 60.0, 100),
      challenges_(clock, limits.challenges_per_minute / 60.0, limits.challenge_burst,
                  limits.max_rate_limit_keys) {}

absl::Status Authenticator::ShareChallengeKey() {
  for (int attempt = 0; attempt < 4; ++attempt) {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                              db_->Get(Cf::kMeta, kChallengeKeyName));
    if (stored.has_value()) {
      challenge_key_ = std::make_unique<MacKey>(*stored);
      sodium_memzero(stored->data(), stored->size());
      return absl::OkStatus();
    }
    // The first process to start creates it; one that loses the race reads the winner's.
    std::string key = RandomBytes(32);
    KvBatch batch;
    batch.Expect(Cf::kMeta, kChallengeKeyName, std::nullopt);
    batch.Put(Cf::kMeta, kChallengeKeyName, key);
    sodium_memzero(key.data(), key.size());
    absl::Status written = db_->Write(&batch, /*sync=*/true);
    if (!written.ok() && !IsWriteConflict(written)) return written;
  }
  return absl::UnavailableError("cannot agree on the challenge key; retry");
}

std::string Authenticator::ChallengeMac(std::string_view r, uint64_t expires_at) const {
  std::string data = base::Concat({wire::kChallengeDomain, db_->relay_id(), r});
  base::AppendU64BE(&data, expires_at);
  return challenge_key_->Mac(data).substr(0, kNonceSize - kChallengeRandomSize);
}

absl::StatusOr<v1::ChallengeResponse> Authenticator::Challenge(std::string_view caller_address) {
  if (!challenges_.TryAcquire(caller_address)) {
    return absl::ResourceExhaustedError("too many challenges from this address; retry later");
  }
  uint64_t now = clock_->NowUnixSeconds();
  uint64_t expires_at = now + static_cast<uint64_t>(absl::ToInt64Seconds(limits_.challenge_ttl));
  std::string r = RandomBytes(kChallengeRandomSize);
  v1::ChallengeResponse response;
  response.set_relay_id(db_->relay_id());
  response.set_nonce(r + ChallengeMac(r, expires_at));
  response.set_expires_at(expires_at);
  return response;
}

absl::Status Authenticator::RecordFailure(std::string_view caller_address,
                                          const std::string& claimed_account) {
  metrics_->auth_failures.Increment();
  metrics_->login_failures.Increment();
  if (!caller_failures_.TryAcquire(caller_address)) {
    return absl::ResourceExhaustedError("too many failed logins from this address; retry later");
  }
  if (global_failures_.TryAcquire("")) {
    KvBatch batch;
    AuditLog::Event e;
    e.event = v1::AUDIT_EVENT_LOGIN_FAILED;
    e.subject = claimed_account;
    ALLIANCE_RETURN_IF_ERROR(audit_->Commit(&batch, e));
  }
  return absl::UnauthenticatedError(kLoginFailed);
}

absl::StatusOr<v1::LoginResponse> Authenticator::Login(const v1::LoginRequest& request,
                                                       std::string_view caller_address) {
  const std::string& account = request.address().account_id();
  if (account.size() != kAccountIdSize || request.address().device_id() == 0 ||
      request.nonce().size() != kNonceSize || request.signature().size() != kEd25519SignatureSize) {
    return absl::InvalidArgumentError("malformed login");
  }
  // The challenge: ours (MAC), unexpired, and not already used by a successful login. Checked
  // before any database read; the budget spent on failures is the caller's own.
  const uint64_t now = clock_->NowUnixSeconds();
  const uint64_t ttl = static_cast<uint64_t>(absl::ToInt64Seconds(limits_.challenge_ttl));
  std::string_view r = std::string_view(request.nonce()).substr(0, kChallengeRandomSize);
  std::string_view mac = std::string_view(request.nonce()).substr(kChallengeRandomSize);
  if (request.expires_at() < now || request.expires_at() > now + ttl ||
      !ConstantTimeEquals(mac, ChallengeMac(r, request.expires_at()))) {
    return RecordFailure(caller_address, account);
  }
  {
    base::MutexLock lock(&mu_);
    if (answered_.contains(request.nonce())) return RecordFailure(caller_address, account);
  }

  ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kAccounts, account));
  AccountRecord record;
  if (!raw || !record.ParseFromString(*raw) || record.state() != v1::ACCOUNT_STATE_ACTIVE ||
      !HasDevice(record, request.address().device_id())) {
    return RecordFailure(caller_address, account);
  }
  // A device with its own key logs in with that key only (a removed device, which may still
  // hold the identity key, cannot log in as another device); one without, with the identity key.
  const std::string device_key = DeviceKeyOf(record, request.address().device_id());
  const bool by_device = !device_key.empty();
  std::string message =
      by_device ? wire::DeviceLoginMessage(db_->relay_id(), account, request.address().device_id(),
                                           request.nonce(), request.expires_at())
                : wire::LoginMessage(db_->relay_id(), request.nonce(), request.expires_at());
  if (!VerifyEd25519(by_device ? device_key : record.identity_key(), message,
                     request.signature())) {
    return RecordFailure(caller_address, account);
  }
  {
    base::MutexLock lock(&mu_);
    if (answered_.size() >= limits_.max_pending_challenges) {
      absl::erase_if(answered_, [now](const auto& kv) { return kv.second < now; });
      if (answered_.size() >= limits_.max_pending_challenges) {
        return absl::ResourceExhaustedError("too many logins at once; retry later");
      }
    }
    // Single use: of two concurrent logins with one signed nonce, only the first gets here.
    if (!answered_.emplace(request.nonce(), request.expires_at()).second) {
      return RecordFailure(caller_address, account);
    }
  }

  std::string token = RandomBytes(kTokenSize);
  std::string token_hash = Blake2b256(token);
  SessionRecord session;
  session.set_account_id(account);
  session.set_device_id(request.address().device_id());
  session.set_role(record.role());
  session.set_expires_at(now + static_cast<uint64_t>(absl::ToInt64Seconds(limits_.token_ttl)));
  session.set_login_key(device_key);
  KvBatch batch;
  batch.Put(Cf::kSessions, SessionKey(token_hash), session.SerializeAsString());
  batch.Put(Cf::kSessions, SessionIndexKey(account, token_hash), "");
  // Only the day, shown to the account's own devices ("last seen 6 Dec").
  std::string day;
  base::AppendU64BE(&day, now - now % 86400);
  batch.Put(Cf::kSessions, LastSeenKey(account, request.address().device_id()), day);
  if (db_->shared()) {
    // Single use across relay processes: the nonce is recorded with the session, and a second
    // login with it, through any process, finds it there.
    std::string expiry;
    base::AppendU64BE(&expiry, request.expires_at());
    batch.Expect(Cf::kSessions, UsedNonceKey(request.nonce()), std::nullopt);
    batch.Put(Cf::kSessions, UsedNonceKey(request.nonce()), expiry);
  }
  AuditLog::Event e;
  e.event = v1::AUDIT_EVENT_LOGIN_OK;
  e.actor = account;
  absl::Status committed = audit_->Commit(&batch, e);
  if (IsWriteConflict(committed)) return RecordFailure(caller_address, account);
  ALLIANCE_RETURN_IF_ERROR(committed);
  metrics_->logins.Increment();

  v1::LoginResponse response;
  response.set_token(std::move(token));
  response.set_expires_at(session.expires_at());
  response.set_role(record.role());
  return response;
}

absl::StatusOr<Caller> Authenticator::Authenticate(std::string_view authorization) {
  auto fail = [this]() {
    metrics_->auth_failures.Increment();
    return absl::UnauthenticatedError("missing or invalid token");
  };
  if (!authorization.starts_with(kBearer)) return fail();
  std::string_view hex = authorization.substr(kBearer.size());
  if (hex.size() != 2 * kTokenSize) return fail();
  std::optional<std::string> token = base::FromHex(hex);
  if (!token) return fail();
  Caller caller;
  caller.token_hash = Blake2b256(*token);
  ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kSessions, SessionKey(caller.token_hash)));
  SessionRecord session;
  if (!raw || !session.ParseFromString(*raw)) return fail();
  if (clock_->NowUnixSeconds() >= session.expires_at()) return fail();
  // The account as it is now, not as it was at login: a login that raced a deactivation may
  // have stored its session after the erasure, and roles may have changed since.
  ALLIANCE_ASSIGN_OR_RETURN(auto account_raw, db_->Get(Cf::kAccounts, session.account_id()));
  AccountRecord account;
  if (!account_raw || !account.ParseFromString(*account_raw) ||
      account.state() != v1::ACCOUNT_STATE_ACTIVE || !HasDevice(account, session.device_id()) ||
      session.login_key() != DeviceKeyOf(account, session.device_id())) {
    return fail();
  }
  caller.account_id = session.account_id();
  caller.device_id = session.device_id();
  caller.role = account.role();
  caller.identity_key = account.identity_key();
  caller.device_key = DeviceKeyOf(account, session.device_id());
  return caller;
}

absl::Status Authenticator::Logout(const Caller& caller) {
  KvBatch batch;
  batch.Delete(Cf::kSessions, SessionKey(caller.token_hash));
  batch.Delete(Cf::kSessions, SessionIndexKey(caller.account_id, caller.token_hash));
  return db_->Write(&batch, /*sync=*/true);
}

absl::StatusOr<uint64_t> Authenticator::LastSeen(std::string_view account_id, uint32_t device_id) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> raw,
                            db_->Get(Cf::kSessions, LastSeenKey(account_id, device_id)));
  if (!raw.has_value() || raw->size() != 8) return 0;
  uint64_t day = 0;
  for (unsigned char c : *raw) day = (day << 8) | c;
  return day;
}

absl::Status Authenticator::AddEraseSessions(std::string_view account_id,
                                             KvBatch* batch) {
  const std::string last_seen = base::Concat({"l", account_id});
  std::string last_seen_end = last_seen;
  base::AppendU32BE(&last_seen_end, 0xffffffffu);
  last_seen_end.push_back('\xff');
  batch->DeleteRange(Cf::kSessions, last_seen, last_seen_end);
  std::string prefix = base::Concat({"a", account_id});
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kSessions);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string_view hash(it->key().data() + prefix.size(), it->key().size() - prefix.size());
    batch->Delete(Cf::kSessions, SessionKey(hash));
    batch->Delete(Cf::kSessions, it->key());
  }
  return it->status();
}

absl::Status Authenticator::SweepExpired() {
  uint64_t now = clock_->NowUnixSeconds();
  {
    base::MutexLock lock(&mu_);
    absl::erase_if(answered_, [now](const auto& kv) { return kv.second < now; });
  }
  caller_failures_.Prune();
  global_failures_.Prune();
  challenges_.Prune();
  KvBatch batch;
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kSessions);
  for (it->Seek("t"); it->Valid() && it->key().starts_with("t"); it->Next()) {
    SessionRecord session;
    if (!session.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) ||
        now >= session.expires_at()) {
      std::string_view hash(it->key().data() + 1, it->key().size() - 1);
      batch.Delete(Cf::kSessions, it->key());
      batch.Delete(Cf::kSessions, SessionIndexKey(session.account_id(), hash));
    }
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  // Link slots (devices_service.cc) that expired unused.
  std::unique_ptr<KvIterator> slots = db_->NewIterator(Cf::kSessions);
  for (slots->Seek("k"); slots->Valid() && slots->key().starts_with("k"); slots->Next()) {
    LinkSlotRecord slot;
    if (!slot.ParseFromArray(slots->value().data(), static_cast<int>(slots->value().size())) ||
        now >= slot.expires_at()) {
      batch.Delete(Cf::kSessions, slots->key());
    }
  }
  ALLIANCE_RETURN_IF_ERROR(slots->status());
  // Nonces of logins (shared databases), once their challenge has long expired.
  const uint64_t ttl = static_cast<uint64_t>(absl::ToInt64Seconds(limits_.challenge_ttl));
  std::unique_ptr<KvIterator> nonces = db_->NewIterator(Cf::kSessions);
  for (nonces->Seek("n"); nonces->Valid() && nonces->key().starts_with("n"); nonces->Next()) {
    // Kept a challenge lifetime past its expiry: a node whose clock runs behind this one's
    // still refuses the nonce as used, not accepts it as fresh.
    if (nonces->value().size() != 8 || base::ReadU64BE(nonces->value().data()) + ttl < now) {
      batch.Delete(Cf::kSessions, nonces->key());
    }
  }
  ALLIANCE_RETURN_IF_ERROR(nonces->status());
  if (batch.Count() == 0) return absl::OkStatus();
  return db_->Write(&batch, /*sync=*/false);
}

}  // namespace alliance::server

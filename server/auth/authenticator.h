// Authenticator: login by identity-key signature and session tokens (DESIGN §5).
//
//   Challenge -> (relay id, 32-byte nonce, expiry), stateless:
//                nonce = r (16 random bytes) || HMAC-SHA256(K, "alliance/v1/challenge" ||
//                relay id || r || expiry u64 BE)[0..16], K a random key held in memory
//   Login     -> check the MAC and expiry, verify
//                Ed25519(IK, "alliance/v1/login" || relay id || nonce || expiry u64 BE)
//             -> 32 random token bytes; only BLAKE2b-256(token) is stored, valid token_ttl
//   Authenticate("Bearer <hex>") -> Caller, for every other RPC
//
// Nobody spends another's budget (DESIGN §2, 10): handing out a challenge stores nothing (it
// is rate limited per caller address); a nonce is remembered only once a login with it has
// succeeded, so that it works once; failed logins are charged to the caller's address, never to
// the account they name, and a correct signature always logs in. Audit entries for failures
// are also bounded relay-wide.
//
// Revocation is immediate (DESIGN §2, 11): every Authenticate re-reads the account, so a
// deactivated or deleted account's tokens stop working whatever login was in flight, and a
// role change applies to the next call.
//
// Thread-safe. Every pointer passed to the constructor must outlive the object.
#ifndef ALLIANCE_SERVER_AUTH_AUTHENTICATOR_H_
#define ALLIANCE_SERVER_AUTH_AUTHENTICATOR_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "alliance/v1/accounts_service.pb.h"
#include "server/infra/kv.h"
#include "server/infra/clock.h"
#include "server/infra/config.h"
#include "server/infra/crypto_util.h"
#include "server/infra/db.h"
#include "server/infra/metrics.h"
#include "server/infra/rate_limiter.h"
#include "server/store/audit_log.h"

namespace alliance::server {

// The authenticated principal of an RPC.
struct Caller {
  std::string account_id;  // 16 bytes
  uint32_t device_id = 0;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string token_hash;    // BLAKE2b-256 of the session token
  std::string identity_key;  // Ed25519 (32), as the account holds it at this call
  std::string device_key;    // the device's own Ed25519 key (32), empty while it has none

  // The caller's own mailbox address.
  v1::Address address() const {
    v1::Address a;
    a.set_account_id(account_id);
    a.set_device_id(device_id);
    return a;
  }
};

class Authenticator {
 public:
  Authenticator(RelayDb* db, AuditLog* audit, const Clock* clock, const Limits& limits,
                Metrics* metrics);

  // A fresh challenge for the caller at `caller_address` (see CallerAddress in
  // services/service_util.h). Errors: RESOURCE_EXHAUSTED (this address asked too often).
  [[nodiscard]] absl::StatusOr<v1::ChallengeResponse> Challenge(std::string_view caller_address);

  // Verifies a signed challenge and opens a session. A nonce works for one successful login.
  // Errors: INVALID_ARGUMENT (sizes), UNAUTHENTICATED (any verification failure, one message
  // for all), RESOURCE_EXHAUSTED (this address has failed too often: the failure is no longer
  // audited; or the relay remembers too many answered challenges), INTERNAL.
  [[nodiscard]] absl::StatusOr<v1::LoginResponse> Login(const v1::LoginRequest& request,
                                                        std::string_view caller_address);

  // Resolves an "authorization" metadata value ("Bearer <64 hex>") against the session and
  // the account as it is now. Errors: UNAUTHENTICATED (missing, malformed, unknown, expired or
  // revoked token, or an account that is no longer active).
  [[nodiscard]] absl::StatusOr<Caller> Authenticate(std::string_view authorization);

  // Revokes the caller's session. Idempotent.
  [[nodiscard]] absl::Status Logout(const Caller& caller);

  // Adds to `batch` the deletion of every session of `account_id`.
  // The day (Unix seconds at 00:00 UTC) the device last logged in; 0 if never.
  [[nodiscard]] absl::StatusOr<uint64_t> LastSeen(std::string_view account_id, uint32_t device_id);
  // Also erases the account's last-seen days.
  [[nodiscard]] absl::Status AddEraseSessions(std::string_view account_id,
                                              KvBatch* batch);

  // For relay processes sharing one database (RelayDb::shared()): challenges are MAC'd under a
  // key kept in the database, so a challenge from one process is answered at any other, and a
  // successful login's nonce is recorded there, so it is single-use across processes. Call once,
  // before serving.
  [[nodiscard]] absl::Status ShareChallengeKey();

  // Drops expired answered nonces, expired sessions and idle rate-limit buckets.
  [[nodiscard]] absl::Status SweepExpired();

  // Rate-limit buckets held for failed logins and challenges (for tests of the memory bound).
  size_t TrackedCallers() { return caller_failures_.size() + challenges_.size(); }

 private:
  absl::Status RecordFailure(std::string_view caller_address, const std::string& claimed_account);
  std::string ChallengeMac(std::string_view r, uint64_t expires_at) const;

  RelayDb* const db_;
  AuditLog* const audit_;
  const Clock* const clock_;
  const Limits limits_;
  Metrics* const metrics_;
  // Random per process, or shared through the database (ShareChallengeKey).
  std::unique_ptr<const MacKey> challenge_key_;
  RateLimiter caller_failures_;
  RateLimiter global_failures_;
  RateLimiter challenges_;
  base::Mutex mu_;
  // Nonces of successful logins -> their expiry (single use).
  absl::flat_hash_map<std::string, uint64_t> answered_ ABSL_GUARDED_BY(mu_);
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_AUTH_AUTHENTICATOR_H_

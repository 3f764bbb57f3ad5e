// Authenticator: login by identity-key signature and session tokens (DESIGN §5).
//
//   Challenge -> (relay id, 32-byte nonce, expiry)        nonce kept in memory, single use
//   Login     -> verify Ed25519(IK, "alliance/v1/login" || relay id || nonce || expiry u64 BE)
//             -> 32 random token bytes; only BLAKE2b-256(token) is stored, valid token_ttl
//   Authenticate("Bearer <hex>") -> Caller, for every other RPC
//
// Failed logins are rate limited per claimed account (and globally) and audited while under
// the limit. Thread-safe. Every pointer passed to the constructor must outlive the object.
#ifndef ALLIANCE_SERVER_AUTH_H_
#define ALLIANCE_SERVER_AUTH_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "alliance/v1/accounts_service.pb.h"
#include "rocksdb/write_batch.h"
#include "server/audit_log.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/db.h"
#include "server/metrics.h"
#include "server/rate_limiter.h"

namespace alliance::server {

// The authenticated principal of an RPC.
struct Caller {
  std::string account_id;  // 16 bytes
  uint32_t device_id = 0;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string token_hash;  // BLAKE2b-256 of the session token

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

  // A fresh nonce. Errors: RESOURCE_EXHAUSTED (too many outstanding challenges).
  [[nodiscard]] absl::StatusOr<v1::ChallengeResponse> Challenge();

  // Verifies a signed challenge and opens a session. The nonce is consumed whatever the
  // outcome. Errors: INVALID_ARGUMENT (sizes), UNAUTHENTICATED (any verification failure, one
  // message for all), RESOURCE_EXHAUSTED (failed-login limit reached), INTERNAL.
  [[nodiscard]] absl::StatusOr<v1::LoginResponse> Login(const v1::LoginRequest& request);

  // Resolves an "authorization" metadata value ("Bearer <64 hex>").
  // Errors: UNAUTHENTICATED (missing, malformed, unknown, expired or revoked).
  [[nodiscard]] absl::StatusOr<Caller> Authenticate(std::string_view authorization);

  // Revokes the caller's session. Idempotent.
  [[nodiscard]] absl::Status Logout(const Caller& caller);

  // Adds to `batch` the deletion of every session of `account_id`.
  [[nodiscard]] absl::Status AddEraseSessions(std::string_view account_id,
                                              rocksdb::WriteBatch* batch);

  // Drops expired nonces, expired sessions and idle rate-limit buckets.
  [[nodiscard]] absl::Status SweepExpired();

 private:
  absl::Status RecordFailure(const std::string& claimed_account);

  RelayDb* const db_;
  AuditLog* const audit_;
  const Clock* const clock_;
  const Limits limits_;
  Metrics* const metrics_;
  RateLimiter account_failures_;
  RateLimiter global_failures_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, uint64_t> nonces_ ABSL_GUARDED_BY(mu_);  // nonce -> expiry
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_AUTH_H_

// RateLimiter: token buckets keyed by a string (an account id), driven by an injected clock.
//
//   RateLimiter sends(&clock, /*rate_per_second=*/10, /*burst=*/200);
//   if (!sends.TryAcquire(account_id)) return absl::ResourceExhaustedError("send rate");
//
// A new key starts with a full bucket. Memory is bounded: at most `max_keys` buckets are kept;
// when the table is full, idle buckets are pruned (at most once a second) and, if that frees
// nothing, an arbitrary bucket is forgotten, so a flood of made-up keys neither grows memory
// nor takes the budget of a caller who arrives during it. Thread-safe.
#ifndef ALLIANCE_SERVER_INFRA_RATE_LIMITER_H_
#define ALLIANCE_SERVER_INFRA_RATE_LIMITER_H_

#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "server/infra/clock.h"

namespace alliance::server {

class RateLimiter {
 public:
  // `clock` must outlive the limiter. REQUIRES: rate_per_second > 0, burst >= 1, max_keys >= 1.
  RateLimiter(const Clock* clock, double rate_per_second, double burst, size_t max_keys = 100'000);

  // Takes one token from `key`'s bucket; false (and nothing taken) when it is empty.
  bool TryAcquire(std::string_view key);
  // True when `key`'s bucket holds at least one token; takes nothing.
  bool HasToken(std::string_view key);
  // Forgets buckets that have refilled completely (they equal a fresh bucket).
  void Prune();
  // Buckets currently held (at most max_keys).
  size_t size();

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  Bucket& Refill(std::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PruneLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const double rate_per_second_;
  const double burst_;
  const size_t max_keys_;
  base::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  absl::Time last_prune_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_RATE_LIMITER_H_

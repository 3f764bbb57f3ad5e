// RateLimiter: token buckets keyed by a string (an account id), driven by an injected clock.
//
//   RateLimiter sends(&clock, /*rate_per_second=*/10, /*burst=*/200);
//   if (!sends.TryAcquire(account_id)) return absl::ResourceExhaustedError("send rate");
//
// A new key starts with a full bucket. Thread-safe.
#ifndef ALLIANCE_SERVER_RATE_LIMITER_H_
#define ALLIANCE_SERVER_RATE_LIMITER_H_

#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/clock.h"

namespace alliance::server {

class RateLimiter {
 public:
  // `clock` must outlive the limiter. REQUIRES: rate_per_second > 0, burst >= 1.
  RateLimiter(const Clock* clock, double rate_per_second, double burst);

  // Takes one token from `key`'s bucket; false (and nothing taken) when it is empty.
  bool TryAcquire(std::string_view key);
  // True when `key`'s bucket holds at least one token; takes nothing.
  bool HasToken(std::string_view key);
  // Forgets buckets that have refilled completely (they equal a fresh bucket).
  void Prune();

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  Bucket& Refill(std::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const double rate_per_second_;
  const double burst_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_RATE_LIMITER_H_

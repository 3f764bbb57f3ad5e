#include "server/rate_limiter.h"

#include <algorithm>

namespace alliance::server {

RateLimiter::RateLimiter(const Clock* clock, double rate_per_second, double burst)
    : clock_(clock), rate_per_second_(rate_per_second), burst_(burst) {}

RateLimiter::Bucket& RateLimiter::Refill(std::string_view key) {
  absl::Time now = clock_->Now();
  auto [it, inserted] = buckets_.try_emplace(std::string(key), Bucket{burst_, now});
  Bucket& b = it->second;
  if (!inserted && now > b.updated) {
    double elapsed = absl::ToDoubleSeconds(now - b.updated);
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_per_second_);
    b.updated = now;
  }
  return b;
}

bool RateLimiter::TryAcquire(std::string_view key) {
  absl::MutexLock lock(&mu_);
  Bucket& b = Refill(key);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

bool RateLimiter::HasToken(std::string_view key) {
  absl::MutexLock lock(&mu_);
  return Refill(key).tokens >= 1;
}

void RateLimiter::Prune() {
  absl::MutexLock lock(&mu_);
  absl::Time now = clock_->Now();
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    double refilled =
        it->second.tokens + absl::ToDoubleSeconds(now - it->second.updated) * rate_per_second_;
    if (refilled >= burst_) {
      buckets_.erase(it++);
    } else {
      ++it;
    }
  }
}

}  // namespace alliance::server

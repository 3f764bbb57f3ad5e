#include "server/infra/rate_limiter.h"

#include <algorithm>

namespace alliance::server {

RateLimiter::RateLimiter(const Clock* clock, double rate_per_second, double burst, size_t max_keys)
    : clock_(clock), rate_per_second_(rate_per_second), burst_(burst), max_keys_(max_keys) {}

RateLimiter::Bucket& RateLimiter::Refill(std::string_view key) {
  absl::Time now = clock_->Now();
  auto it = buckets_.find(absl::string_view(key.data(), key.size()));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_ && now - last_prune_ >= absl::Seconds(1)) {
      PruneLocked(now);
    }
    if (buckets_.size() >= max_keys_) {
      // Still full of active buckets: forget an arbitrary one. A caller with that many
      // addresses already holds that many budgets; a newcomer keeps a fresh one of its own.
      buckets_.erase(buckets_.begin());
    }
    return buckets_.try_emplace(std::string(key), Bucket{burst_, now}).first->second;
  }
  Bucket& b = it->second;
  if (now > b.updated) {
    double elapsed = absl::ToDoubleSeconds(now - b.updated);
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_per_second_);
    b.updated = now;
  }
  return b;
}

bool RateLimiter::TryAcquire(std::string_view key) {
  base::MutexLock lock(&mu_);
  Bucket& b = Refill(key);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

bool RateLimiter::HasToken(std::string_view key) {
  base::MutexLock lock(&mu_);
  auto it = buckets_.find(absl::string_view(key.data(), key.size()));
  if (it == buckets_.end() && buckets_.size() < max_keys_) return true;  // a fresh bucket
  return Refill(key).tokens >= 1;
}

void RateLimiter::PruneLocked(absl::Time now) {
  last_prune_ = now;
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

void RateLimiter::Prune() {
  base::MutexLock lock(&mu_);
  PruneLocked(clock_->Now());
}

size_t RateLimiter::size() {
  base::MutexLock lock(&mu_);
  return buckets_.size();
}

}  // namespace alliance::server

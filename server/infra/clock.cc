#include "server/infra/clock.h"

#include "absl/time/clock.h"

namespace alliance::server {

absl::Time SystemClock::Now() const { return absl::Now(); }

absl::Time ManualClock::Now() const {
  base::MutexLock lock(&mu_);
  return now_;
}

void ManualClock::Advance(absl::Duration d) {
  base::MutexLock lock(&mu_);
  now_ += d;
}

}  // namespace alliance::server

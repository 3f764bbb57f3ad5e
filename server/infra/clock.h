// The relay's notion of time, injected everywhere a result depends on it (token and invite
// expiry, retention, rate limits), so tests can move time by hand.
//
//   SystemClock clock;                       // production
//   ManualClock fake(absl::FromUnixSeconds(1'700'000'000));
//   fake.Advance(absl::Hours(25));           // the 24 h token has now expired
//
// Both implementations are thread-safe.
#ifndef ALLIANCE_SERVER_INFRA_CLOCK_H_
#define ALLIANCE_SERVER_INFRA_CLOCK_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "base/mutex.h"
#include "absl/time/time.h"

namespace alliance::server {

class Clock {
 public:
  virtual ~Clock() = default;
  // Current time. Thread-safe.
  virtual absl::Time Now() const = 0;

  uint64_t NowUnixSeconds() const { return static_cast<uint64_t>(absl::ToUnixSeconds(Now())); }
  uint64_t NowUnixMillis() const { return static_cast<uint64_t>(absl::ToUnixMillis(Now())); }
};

// Wall-clock time (absl::Now()).
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override;
};

// A clock that only moves when told to. For tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override;
  // Moves the clock forward by `d` (which may be negative).
  void Advance(absl::Duration d);

 private:
  mutable base::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_CLOCK_H_

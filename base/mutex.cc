#include "base/mutex.h"

#include <algorithm>
#include <chrono>

namespace alliance::base {

void Mutex::WakeAwaiters() {
  if (awaiters_ > 0) changed_.notify_all();
}

void Mutex::Unlock() {
  WakeAwaiters();
  mu_.unlock();
}

// Releasing the mutex to wait is a release like Unlock: the caller may have changed guarded
// state since it took the mutex, so the other awaiters re-read their conditions. After a
// wake-up the waiter has only read its condition, so waiting again wakes nobody (two awaiters
// with false conditions must not wake each other in turn for ever).
void Mutex::Await(const Condition& cond) {
  if (cond.Eval()) return;
  std::unique_lock<std::mutex> held(mu_, std::adopt_lock);
  ++awaiters_;
  WakeAwaiters();
  do {
    changed_.wait(held);
  } while (!cond.Eval());
  --awaiters_;
  held.release();
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  if (cond.Eval()) return true;
  if (timeout == absl::InfiniteDuration()) {
    Await(cond);
    return true;
  }
  // Bounded, so that adding it to now() cannot overflow.
  timeout = std::clamp(timeout, absl::ZeroDuration(), absl::Hours(24 * 365));
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  std::unique_lock<std::mutex> held(mu_, std::adopt_lock);
  ++awaiters_;
  WakeAwaiters();
  bool met = false;
  do {
    const bool timed_out = changed_.wait_until(held, deadline) == std::cv_status::timeout;
    met = cond.Eval();
    if (timed_out) break;
  } while (!met);
  --awaiters_;
  held.release();
  return met;
}

void CondVar::Wait(Mutex* mu) {
  std::unique_lock<std::mutex> held(mu->mu_, std::adopt_lock);
  mu->WakeAwaiters();
  cv_.wait(held);
  held.release();
}

}  // namespace alliance::base

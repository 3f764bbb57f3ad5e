// The one lock type of the project: a mutex whose waits ThreadSanitizer can see.
//
// Debian ships abseil built without ThreadSanitizer, so TSan cannot see the happens-before
// edges of an uninstrumented base::Mutex and reports every access it guards as a race. This
// Mutex sits on std::mutex and std::condition_variable, which TSan intercepts (pthread), keeps
// the part of base::Mutex's interface the project uses, and carries the same clang
// thread-safety annotations, so ABSL_GUARDED_BY and -Wthread-safety work as before:
//
//   base::Mutex mu_;
//   bool stopping_ ABSL_GUARDED_BY(mu_) = false;
//   ...
//   base::MutexLock lock(&mu_);
//   if (mu_.AwaitWithTimeout(base::Condition(&stopping_), absl::Seconds(1))) return;
//
// Await re-evaluates its condition whenever the mutex is released while a waiter exists, as
// base::Mutex does, so a condition never needs an explicit signal.
#ifndef ALLIANCE_BASE_MUTEX_H_
#define ALLIANCE_BASE_MUTEX_H_

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace alliance::base {

// A condition for Mutex::Await, evaluated with the mutex held: the bool a pointer points to, or
// a callable's result (a lambda annotated ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_)). The callable must
// outlive the wait.
class Condition {
 public:
  explicit Condition(const bool* flag) : arg_(flag), eval_(&ReadFlag) {}
  template <typename Callable>
  explicit Condition(const Callable* callable) : arg_(callable), eval_(&Call<Callable>) {}
  bool Eval() const { return eval_(arg_); }

 private:
  static bool ReadFlag(const void* flag) { return *static_cast<const bool*>(flag); }
  // The analysis cannot see that Await holds the mutex the callable requires.
  template <typename Callable>
  static bool Call(const void* callable) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return (*static_cast<const Callable*>(callable))();
  }

  const void* arg_;
  bool (*eval_)(const void*);
};

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION();

  // For the thread-safety analysis in code it cannot follow (lambdas called under the lock).
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

  // With the mutex held: waits until `cond` is true (releasing the mutex meanwhile).
  void Await(const Condition& cond) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);
  // As Await, for at most `timeout`; returns whether `cond` is true.
  bool AwaitWithTimeout(const Condition& cond, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);

 private:
  friend class CondVar;
  // Wakes the threads in Await so they re-read their conditions. Mutex held.
  void WakeAwaiters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);

  std::mutex mu_;
  std::condition_variable changed_;  // signalled on release while awaiters_ > 0
  int awaiters_ = 0;                 // guarded by mu_
};

// Holds a Mutex for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable used with Mutex (for a wake-one hand-off, which Await does not give).
class CondVar {
 public:
  // With `mu` held: releases it, waits for Signal or SignalAll (or a spurious wake-up), takes
  // it again.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace alliance::base

#endif  // ALLIANCE_BASE_MUTEX_H_

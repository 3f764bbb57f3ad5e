#include "base/mutex.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace alliance::base {
namespace {

TEST(MutexTest, MutexLockMakesIncrementsFromManyThreadsExact) {
  Mutex mu;
  int counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        MutexLock lock(&mu);
        ++counter;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  MutexLock lock(&mu);
  EXPECT_EQ(counter, 80000);
}

TEST(MutexTest, AwaitReturnsOnceAnotherThreadSetsTheFlagUnderTheLock) {
  Mutex mu;
  bool ready = false;
  int seen = 0;
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    MutexLock lock(&mu);
    seen = 42;
    ready = true;
  });
  {
    MutexLock lock(&mu);
    mu.Await(Condition(&ready));
    EXPECT_EQ(seen, 42);
  }
  setter.join();
}

TEST(MutexTest, AwaitWithTimeoutIsFalseWhenTheFlagNeverComes) {
  Mutex mu;
  bool never = false;
  MutexLock lock(&mu);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(mu.AwaitWithTimeout(Condition(&never), absl::Milliseconds(30)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
}

TEST(MutexTest, AwaitWithTimeoutIsTrueAtOnceWhenTheFlagIsAlreadySet) {
  Mutex mu;
  bool set = true;
  MutexLock lock(&mu);
  EXPECT_TRUE(mu.AwaitWithTimeout(Condition(&set), absl::Hours(1)));
  EXPECT_TRUE(mu.AwaitWithTimeout(Condition(&set), absl::ZeroDuration()));
}

TEST(MutexTest, AwaitWithInfiniteTimeoutWaitsForTheFlag) {
  Mutex mu;
  bool ready = false;
  std::thread setter([&] {
    MutexLock lock(&mu);
    ready = true;
  });
  {
    MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(Condition(&ready), absl::InfiniteDuration()));
  }
  setter.join();
}

// Two threads wait on different flags at once; each is released by its own flag only, and a
// flag set by a thread that then awaits (rather than unlocks) still wakes the other.
TEST(MutexTest, AwaitersOnDifferentFlagsEachWakeOnTheirOwn) {
  Mutex mu;
  bool first = false;
  bool second = false;
  std::atomic<int> done{0};
  std::thread a([&] {
    MutexLock lock(&mu);
    mu.Await(Condition(&first));
    done.fetch_add(1);
    second = true;  // released by Unlock at the end of this scope
  });
  std::thread b([&] {
    MutexLock lock(&mu);
    mu.Await(Condition(&second));
    done.fetch_add(10);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(done.load(), 0);
  bool never = false;
  {
    MutexLock lock(&mu);
    first = true;
    // Releases the mutex by waiting, not by Unlock: `a` must still be woken.
    EXPECT_FALSE(mu.AwaitWithTimeout(Condition(&never), absl::Milliseconds(200)));
  }
  a.join();
  b.join();
  EXPECT_EQ(done.load(), 11);
}

TEST(MutexTest, CondVarSignalHandsWorkToOneWaiter) {
  Mutex mu;
  CondVar ready;
  int queued = 0;
  int taken = 0;
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&] {
      MutexLock lock(&mu);
      while (queued == 0) ready.Wait(&mu);
      --queued;
      ++taken;
    });
  }
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    MutexLock lock(&mu);
    ++queued;
    ready.Signal();
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(taken, 3);
  EXPECT_EQ(queued, 0);
}

}  // namespace
}  // namespace alliance::base

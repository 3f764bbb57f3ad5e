// Result checks for crypto_bench: a benchmark that times a failing decrypt is worse than none,
// so every case checks its results and stops the whole binary on the first wrong one.
//
//   BenchCheck(plaintext_len == kMessageSize, "steady_1KiB/olm", "decrypted length differs");
//
// Aborting (rather than state.SkipWithError) makes the CTest smoke test fail too.
#ifndef ALLIANCE_TESTS_BENCH_BENCH_CHECK_H_
#define ALLIANCE_TESTS_BENCH_BENCH_CHECK_H_

#include <cstdio>
#include <cstdlib>

namespace alliance::bench {

// Prints "crypto_bench: <bench_case>: <what>" to stderr and aborts. Never returns.
[[noreturn]] inline void BenchFail(const char* bench_case, const char* what) {
  std::fprintf(stderr, "crypto_bench: %s: %s\n", bench_case, what);
  std::fflush(stderr);
  std::abort();
}

// Calls BenchFail(bench_case, what) unless `ok`.
inline void BenchCheck(bool ok, const char* bench_case, const char* what) {
  if (!ok) BenchFail(bench_case, what);
}

}  // namespace alliance::bench

#endif  // ALLIANCE_TESTS_BENCH_BENCH_CHECK_H_

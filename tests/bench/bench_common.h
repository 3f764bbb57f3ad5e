// Shared pieces of crypto_bench: the message every case sends, the two parties, and result checks.
//
// A benchmark that times a failing decrypt is worse than none, so every case checks its results
// and stops the whole binary on the first wrong one (abort rather than state.SkipWithError, so
// the CTest smoke run fails too):
//
//   const std::vector<uint8_t> message = MakeMessage();
//   ...
//   CheckPlaintext(decrypted, message, "steady_1KiB/olm");
#ifndef ALLIANCE_TESTS_BENCH_BENCH_COMMON_H_
#define ALLIANCE_TESTS_BENCH_BENCH_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

namespace alliance::bench {

using Bytes = std::span<const uint8_t>;

// Size of the message in the steady_1KiB and alternating_1KiB cases (and the first message of
// session_setup).
inline constexpr size_t kMessageSize = 1024;

// Alice initiates (fetches Bob's bundle, sends first); Bob responds.
enum class Party { kAlice, kBob };

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

// The kMessageSize-byte plaintext every case sends; always the same bytes.
inline std::vector<uint8_t> MakeMessage() {
  std::vector<uint8_t> message(kMessageSize);
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<uint8_t>(i * 131 + 7);
  return message;
}

// Dies unless `got` equals `sent` byte for byte.
inline void CheckPlaintext(Bytes got, Bytes sent, const char* bench_case) {
  BenchCheck(got.size() == sent.size() && std::memcmp(got.data(), sent.data(), sent.size()) == 0,
             bench_case, "decrypted plaintext differs from the plaintext sent");
}

}  // namespace alliance::bench

#endif  // ALLIANCE_TESTS_BENCH_BENCH_COMMON_H_

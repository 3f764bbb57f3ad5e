// The three comparison cases of crypto_bench, written once for every implementation so that
// alliance, olm and signal are timed by the same loops.
//
// An implementation is a class `Peer` driving two parties, Alice (initiator) and Bob:
//
//   explicit Peer(const char* bench_case);  // long-term identity keys etc.: outside timing
//   size_t Establish(Bytes message);        // full session setup, `message` as the first message
//   size_t Send(Party from, Bytes message); // encrypt, transport as bytes, decrypt, check
//
// Establish and Send return the decrypted length and die on any failure or mismatch
// (bench_common.h). Register at static-initialization time:
//
//   [[maybe_unused]] const bool kRegistered = (RegisterPeerCases<OlmPeer>("olm"), true);
//
// which adds, with time per iteration in µs and one item per iteration:
//   session_setup/<impl>     per iteration: Establish(1 KiB) — all of it is timed.
//   steady_1KiB/<impl>       per iteration: Send(kAlice, 1 KiB), so always the same sending
//                            chain. Untimed warm-up: Establish, then Send(kBob), so both sides
//                            are past the pre-key stage.
//   alternating_1KiB/<impl>  per iteration: Send from alternating parties, starting with Alice
//                            after the same warm-up, so every message is one DH ratchet step.
#ifndef ALLIANCE_TESTS_BENCH_PEER_CASES_H_
#define ALLIANCE_TESTS_BENCH_PEER_CASES_H_

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tests/bench/bench_common.h"

namespace alliance::bench {

template <typename Peer>
void PeerSessionSetup(benchmark::State& state, const char* bench_case) {
  Peer peer(bench_case);
  const std::vector<uint8_t> message = MakeMessage();
  for (auto _ : state) benchmark::DoNotOptimize(peer.Establish(message));
  state.SetItemsProcessed(state.iterations());
}

template <typename Peer>
void PeerSteady(benchmark::State& state, const char* bench_case) {
  Peer peer(bench_case);
  const std::vector<uint8_t> message = MakeMessage();
  peer.Establish(message);
  peer.Send(Party::kBob, message);
  for (auto _ : state) benchmark::DoNotOptimize(peer.Send(Party::kAlice, message));
  state.SetItemsProcessed(state.iterations());
}

template <typename Peer>
void PeerAlternating(benchmark::State& state, const char* bench_case) {
  Peer peer(bench_case);
  const std::vector<uint8_t> message = MakeMessage();
  peer.Establish(message);
  peer.Send(Party::kBob, message);
  Party from = Party::kAlice;  // Bob sent last.
  for (auto _ : state) {
    benchmark::DoNotOptimize(peer.Send(from, message));
    from = from == Party::kAlice ? Party::kBob : Party::kAlice;
  }
  state.SetItemsProcessed(state.iterations());
}

// Registers session_setup/<impl>, steady_1KiB/<impl> and alternating_1KiB/<impl>.
template <typename Peer>
void RegisterPeerCases(const std::string& impl) {
  using CaseFunction = void (*)(benchmark::State&, const char*);
  const std::pair<const char*, CaseFunction> cases[] = {
      {"session_setup/", &PeerSessionSetup<Peer>},
      {"steady_1KiB/", &PeerSteady<Peer>},
      {"alternating_1KiB/", &PeerAlternating<Peer>},
  };
  for (const auto& entry : cases) {
    const std::string name = entry.first + impl;
    const CaseFunction function = entry.second;
    // The lambda (and the name it holds) lives as long as the registered benchmark.
    benchmark::RegisterBenchmark(name.c_str(), [name, function](benchmark::State& state) {
      function(state, name.c_str());
    })->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace alliance::bench

#endif  // ALLIANCE_TESTS_BENCH_PEER_CASES_H_

// crypto_bench, the alliance cases, timed exactly like the peers in crypto_bench_peers.cc:
//
//   session_setup/alliance     Inside timing: Bob makes a fresh one-time prekey and publishes a
//                              bundle; Alice verifies it (Ed25519 signature, freshness), runs
//                              X3DH (4 DHs) and encrypts a 1 KiB first message; Bob runs his side
//                              of X3DH and decrypts it; the result is checked. Identity keys and
//                              the signed prekey are made once, outside timing.
//   steady_1KiB/alliance       Inside timing: one 1 KiB message encrypted by Alice, decrypted by
//                              Bob and checked; always the same direction (same sending chain).
//                              Outside, once: session set up and Bob has replied once.
//   alternating_1KiB/alliance  As steady, reversing direction each iteration (a DH step each).
//
// Wire bytes are what crosses between the parties (no extra serialization: a ratchet message is
// already its own wire form). Randomness: libsodium's randombytes_buf via SystemRandom.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/session.h"

namespace alliance::crypto {
namespace {

constexpr size_t kMessageSize = 1024;
constexpr int64_t kNow = 1'790'000'000;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "crypto_bench: alliance: %s\n", what);
    std::abort();
  }
}

std::vector<uint8_t> Message() {
  std::vector<uint8_t> m(kMessageSize);
  randombytes_buf(m.data(), m.size());
  return m;
}

struct Bob {
  SystemRandom rng;
  IdentityKeyPair identity = *IdentityKeyPair::Generate(rng);
  SignedPreKeyPair spk = SignedPreKeyPair::Create(identity, 1, kNow - 60, rng);
};

struct Pair {
  SystemRandom rng;
  IdentityKeyPair alice_id = *IdentityKeyPair::Generate(rng);
  Bob bob_keys;
  std::optional<Session> alice, bob;

  Pair() {
    OneTimePreKeyPair opk = OneTimePreKeyPair::Create(1, rng);
    v1::PreKeyBundle bundle;
    bundle.set_identity_key(reinterpret_cast<const char*>(bob_keys.identity.public_key().data()),
                            32);
    *bundle.mutable_signed_prekey() = bob_keys.spk.ToPublic();
    *bundle.mutable_one_time_prekey() = opk.ToPublic();
    VerifiedBundle vb = *VerifyPreKeyBundle(bundle, kNow);
    alice.emplace(*Session::Initiate(alice_id, vb, rng));
    OutgoingMessage m;
    Check(alice->Encrypt(Message(), &m).ok(), "setup encrypt");
    std::vector<uint8_t> out;
    bob.emplace(*Session::Respond(bob_keys.identity, bob_keys.spk.key, &opk.key,
                                  *ParsePreKeyMessage(m.bytes), kNow, &out, rng));
    Check(bob->Encrypt(Message(), &m).ok(), "setup reply");
    Check(alice->Decrypt(m.type, m.bytes, kNow, &out).ok(), "setup reply decrypt");
  }
};

void SessionSetup(benchmark::State& state) {
  Check(sodium_init() >= 0, "sodium_init");
  SystemRandom rng;
  IdentityKeyPair alice_id = *IdentityKeyPair::Generate(rng);
  Bob bob;
  const std::vector<uint8_t> text = Message();
  std::vector<uint8_t> out;
  uint32_t next_opk = 1;
  for (auto _ : state) {
    OneTimePreKeyPair opk = OneTimePreKeyPair::Create(next_opk++, rng);
    v1::PreKeyBundle bundle;
    bundle.set_identity_key(reinterpret_cast<const char*>(bob.identity.public_key().data()), 32);
    *bundle.mutable_signed_prekey() = bob.spk.ToPublic();
    *bundle.mutable_one_time_prekey() = opk.ToPublic();

    absl::StatusOr<VerifiedBundle> vb = VerifyPreKeyBundle(bundle, kNow);
    Check(vb.ok(), "bundle verify");
    absl::StatusOr<Session> alice = Session::Initiate(alice_id, *vb, rng);
    Check(alice.ok(), "initiate");
    OutgoingMessage m;
    Check(alice->Encrypt(text, &m).ok(), "first encrypt");
    absl::StatusOr<PreKeyMessage> pm = ParsePreKeyMessage(m.bytes);
    Check(pm.ok(), "parse prekey message");
    absl::StatusOr<Session> bob_session =
        Session::Respond(bob.identity, bob.spk.key, &opk.key, *pm, kNow, &out, rng);
    Check(bob_session.ok() && out == text, "first decrypt");
    benchmark::DoNotOptimize(bob_session);
  }
  state.SetItemsProcessed(state.iterations());
}

void Steady(benchmark::State& state) {
  Check(sodium_init() >= 0, "sodium_init");
  Pair p;
  const std::vector<uint8_t> text = Message();
  OutgoingMessage m;
  std::vector<uint8_t> out;
  for (auto _ : state) {
    Check(p.alice->Encrypt(text, &m).ok(), "steady encrypt");
    Check(p.bob->Decrypt(m.type, m.bytes, kNow, &out).ok(), "steady decrypt");
    Check(out.size() == kMessageSize, "steady length");
    benchmark::DoNotOptimize(out.data());
  }
  Check(out == text, "steady plaintext");
  state.SetItemsProcessed(state.iterations());
}

void Alternating(benchmark::State& state) {
  Check(sodium_init() >= 0, "sodium_init");
  Pair p;
  const std::vector<uint8_t> text = Message();
  OutgoingMessage m;
  std::vector<uint8_t> out;
  bool alice_sends = true;
  for (auto _ : state) {
    Session& from = alice_sends ? *p.alice : *p.bob;
    Session& to = alice_sends ? *p.bob : *p.alice;
    Check(from.Encrypt(text, &m).ok(), "alternating encrypt");
    Check(to.Decrypt(m.type, m.bytes, kNow, &out).ok(), "alternating decrypt");
    Check(out.size() == kMessageSize, "alternating length");
    benchmark::DoNotOptimize(out.data());
    alice_sends = !alice_sends;
  }
  Check(out == text, "alternating plaintext");
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(SessionSetup)->Name("session_setup/alliance")->Unit(benchmark::kMicrosecond);
BENCHMARK(Steady)->Name("steady_1KiB/alliance")->Unit(benchmark::kMicrosecond);
BENCHMARK(Alternating)->Name("alternating_1KiB/alliance")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace alliance::crypto

// Helpers shared by the libFuzzer targets in tests/fuzz and their seed writer (write_seeds.cc):
// the fixed parties every crypto and care target works against, and a deterministic ratchet
// fixture. Everything here is built from fixed seeds, so the seeds written by write_seeds
// decrypt and verify against the state each target rebuilds in its own process.
//
//   const RatchetFixture& f = RatchetFixture::Get();
//   ... f.bob_record is the state every input starts from; f.seeds are valid inputs ...
//
// Thread safety: none (fuzz targets are single-threaded).
#ifndef ALLIANCE_TESTS_FUZZ_FUZZ_UTIL_H_
#define ALLIANCE_TESTS_FUZZ_FUZZ_UTIL_H_

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "crypto/session.h"
#include "tests/crypto/test_util.h"

namespace alliance::fuzz {

using crypto::testing::Bytes;
using crypto::testing::kNow;

// A broken invariant: print what and abort, so libFuzzer saves the input as a crash.
[[noreturn]] inline void Fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}
inline void Require(bool condition, const char* what) {
  if (!condition) Fail(what);
}
inline void RequireOk(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
    Fail(what);
  }
}

inline void InitSodiumOrDie() { Require(sodium_init() >= 0, "sodium_init"); }

// A seed or input: selector byte(s) followed by a body.
inline std::vector<uint8_t> Tagged(uint8_t tag, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out{tag};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}
inline std::vector<uint8_t> Tagged(uint8_t tag, const std::string& body) {
  return Tagged(tag, std::vector<uint8_t>(body.begin(), body.end()));
}

// Alice and Bob with an established session both ways; Bob's state is the starting point of
// every ratchet input. Seeds: Alice's second prekey message (sent before she heard back) and
// three ordinary messages sent after Bob's reply, each as type byte ‖ message bytes.
struct RatchetFixture {
  crypto::testing::EstablishedPair pair;
  v1::SessionRecord bob_record;
  std::vector<std::vector<uint8_t>> seeds;

  static const RatchetFixture& Get() {
    static const RatchetFixture* fixture = new RatchetFixture();
    return *fixture;
  }

  RatchetFixture() {
    crypto::OutgoingMessage m;
    RequireOk(pair.alice->Encrypt(Bytes("still there?"), &m), "alice prekey message");
    seeds.push_back(Tagged(static_cast<uint8_t>(m.type), m.bytes));
    RequireOk(pair.bob->Encrypt(Bytes("yes"), &m), "bob reply");
    std::vector<uint8_t> text;
    RequireOk(pair.alice->Decrypt(m.type, m.bytes, kNow, &text), "alice reads reply");
    pair.bob->ToRecord(&bob_record);
    for (const char* t : {"one", "two", "three"}) {
      RequireOk(pair.alice->Encrypt(Bytes(t), &m), "alice message");
      seeds.push_back(Tagged(static_cast<uint8_t>(m.type), m.bytes));
    }
  }
};

// The fixed therapist and client of the care documents target.
struct CareParties {
  crypto::IdentityKeyPair therapist = *crypto::IdentityKeyPair::FromSeed(std::vector<uint8_t>(32, 0x71));
  crypto::IdentityKeyPair client = *crypto::IdentityKeyPair::FromSeed(std::vector<uint8_t>(32, 0x72));

  static const CareParties& Get() {
    static const CareParties* parties = new CareParties();
    return *parties;
  }
};

}  // namespace alliance::fuzz

#endif  // ALLIANCE_TESTS_FUZZ_FUZZ_UTIL_H_

// Helpers shared by the crypto tests: hex conversion and a ready-made pair of parties.
#ifndef ALLIANCE_TESTS_CRYPTO_TEST_UTIL_H_
#define ALLIANCE_TESTS_CRYPTO_TEST_UTIL_H_

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/session.h"

namespace alliance::crypto::testing {

inline std::vector<uint8_t> Hex(absl::string_view hex) {
  std::string raw = absl::HexStringToBytes(hex);
  return std::vector<uint8_t>(raw.begin(), raw.end());
}

inline std::string ToHex(ByteSpan bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

inline std::vector<uint8_t> Bytes(absl::string_view s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

inline std::vector<uint8_t> Seed(uint8_t fill) { return std::vector<uint8_t>(32, fill); }

// A known-answer file (tests/vectors/*.txt): "name = hex" lines; '#' lines are comments.
inline std::map<std::string, std::string> LoadVectors(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find(" = ");
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return out;
}

inline constexpr int64_t kNow = 1'790'000'000;  // A fixed "now" (2026-09), Unix seconds.

// Alice (initiator) and Bob (responder) with Bob's published prekeys, from fixed seeds.
struct Parties {
  DeterministicRandom rng{Seed(0x42)};
  IdentityKeyPair alice = *IdentityKeyPair::FromSeed(Seed(0xA1));
  IdentityKeyPair bob = *IdentityKeyPair::FromSeed(Seed(0xB0));
  SignedPreKeyPair spk = SignedPreKeyPair::Create(bob, 7, kNow - 3600, rng);
  OneTimePreKeyPair opk = OneTimePreKeyPair::Create(42, rng);

  v1::PreKeyBundle Bundle(bool with_opk) const {
    v1::PreKeyBundle b;
    b.set_identity_key(reinterpret_cast<const char*>(bob.public_key().data()), 32);
    *b.mutable_signed_prekey() = spk.ToPublic();
    if (with_opk) *b.mutable_one_time_prekey() = opk.ToPublic();
    return b;
  }
};

// Establishes a session both ways: Alice initiates, sends "hello", Bob responds.
struct EstablishedPair {
  Parties p;
  std::optional<Session> alice;
  std::optional<Session> bob;

  explicit EstablishedPair(bool with_opk = true) {
    VerifiedBundle b = *VerifyPreKeyBundle(p.Bundle(with_opk), kNow);
    alice.emplace(*Session::Initiate(p.alice, b, p.rng));
    OutgoingMessage m;
    if (!alice->Encrypt(Bytes("hello"), &m).ok()) std::abort();
    PreKeyMessage pm = *ParsePreKeyMessage(m.bytes);
    std::vector<uint8_t> out;
    bob.emplace(*Session::Respond(p.bob, p.spk.key, with_opk ? &p.opk.key : nullptr, pm, kNow, &out,
                                  p.rng));
  }
};

}  // namespace alliance::crypto::testing

#endif  // ALLIANCE_TESTS_CRYPTO_TEST_UTIL_H_

// Untrusted bytes never crash the crypto layer: random and mutated inputs to every parser and
// decryption entry point return an error (or, for mutations that keep a message valid, the
// right plaintext) and leave the session unchanged. Seeded, so reproducible.
#include <random>

#include "crypto/record_io.h"
#include "crypto/session.h"
#include "gtest/gtest.h"
#include "tests/crypto/test_util.h"

namespace alliance::crypto {
namespace {

using testing::Bytes;
using testing::EstablishedPair;
using testing::kNow;

std::string Serialized(const Session& s) {
  v1::SessionRecord r;
  s.ToRecord(&r);
  return r.SerializeAsString();
}

TEST(MalformedInputTest, RandomBytesAreRejectedWithoutSideEffects) {
  EstablishedPair pair;
  const std::string before = Serialized(*pair.alice);
  std::mt19937 gen(20261125);
  std::vector<uint8_t> out;
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> junk(gen() % 700);
    for (uint8_t& b : junk) b = static_cast<uint8_t>(gen());
    if (!junk.empty() && i % 2 == 0) junk[0] = 0x01;  // Get past the version byte half the time.
    EXPECT_FALSE(pair.alice->Decrypt(MessageType::kMessage, junk, kNow, &out).ok());
    EXPECT_FALSE(pair.alice->Decrypt(MessageType::kPreKey, junk, kNow, &out).ok());
    absl::StatusOr<PreKeyMessage> pm = ParsePreKeyMessage(junk);
    if (pm.ok()) {
      EXPECT_FALSE(Session::Respond(pair.p.bob, pair.p.spk.key, nullptr, *pm, kNow, &out,
                                    pair.p.rng)
                       .ok());
    }
    v1::SessionRecord rec;
    if (ParseRecord(junk, &rec).ok()) (void)Session::FromRecord(rec, pair.p.rng);
  }
  EXPECT_EQ(Serialized(*pair.alice), before);
}

TEST(MalformedInputTest, MutatedMessagesNeverDecryptToSomethingElse) {
  EstablishedPair pair;
  std::mt19937 gen(7);
  std::vector<uint8_t> out;
  for (int i = 0; i < 200; ++i) {
    OutgoingMessage m;
    ASSERT_TRUE(pair.bob->Encrypt(Bytes("message " + std::to_string(i)), &m).ok());
    std::vector<uint8_t> bad = m.bytes;
    const int edits = 1 + static_cast<int>(gen() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (gen() % 3) {
        case 0:
          bad[gen() % bad.size()] ^= static_cast<uint8_t>(1 + gen() % 255);
          break;
        case 1:
          bad.resize(gen() % bad.size());
          break;
        default:
          bad.push_back(static_cast<uint8_t>(gen()));
      }
      if (bad.empty()) bad.push_back(0);
    }
    if (bad == m.bytes) continue;
    EXPECT_FALSE(pair.alice->Decrypt(MessageType::kMessage, bad, kNow, &out).ok());
    ASSERT_TRUE(pair.alice->Decrypt(MessageType::kMessage, m.bytes, kNow, &out).ok());
    EXPECT_EQ(out, Bytes("message " + std::to_string(i)));
  }
}

}  // namespace
}  // namespace alliance::crypto

// The Double Ratchet on its own (crypto/ratchet.h), below sessions and X3DH: round trips both
// ways, out-of-order delivery, the skip bounds, and the transactional rule that a forged,
// replayed or truncated message leaves the state exactly as it was.
#include "crypto/ratchet.h"

#include "gtest/gtest.h"
#include "tests/crypto/test_util.h"

namespace alliance::crypto {
namespace {

using testing::Bytes;
using testing::kNow;
using testing::Seed;

struct Pair {
  DeterministicRandom rng{Seed(0x17)};
  IdentityKeyPair alice_id = *IdentityKeyPair::FromSeed(Seed(0xA1));
  IdentityKeyPair bob_id = *IdentityKeyPair::FromSeed(Seed(0xB0));
  DhKeyPair bob_spk = DhKeyPair::Generate(rng);
  WipedArray<32> shared{ByteSpan(Seed(0x55))};
  Ratchet alice = *Ratchet::InitInitiator(shared, bob_spk.public_key, alice_id.public_key(),
                                          bob_id.public_key(), rng);
  Ratchet bob =
      Ratchet::InitResponder(shared, bob_spk, alice_id.public_key(), bob_id.public_key(), rng);
};

std::vector<uint8_t> Seal(Ratchet& r, const std::string& text) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(r.Encrypt(Bytes(text), &out).ok());
  return out;
}

std::string Open(Ratchet& r, const std::vector<uint8_t>& wire, absl::Status* status = nullptr) {
  std::vector<uint8_t> plain;
  absl::Status s = r.Decrypt(wire, kNow, &plain);
  if (status != nullptr) *status = s;
  return s.ok() ? std::string(plain.begin(), plain.end()) : std::string();
}

TEST(RatchetTest, RoundTripsBothWaysAcrossDhSteps) {
  Pair p;
  EXPECT_FALSE(p.bob.can_send());
  for (int round = 0; round < 5; ++round) {
    EXPECT_EQ(Open(p.bob, Seal(p.alice, "to bob " + std::to_string(round))),
              "to bob " + std::to_string(round));
    EXPECT_TRUE(p.bob.can_send());
    EXPECT_EQ(Open(p.alice, Seal(p.bob, "to alice")), "to alice");
  }
}

TEST(RatchetTest, OutOfOrderMessagesOpenWithSkippedKeys) {
  Pair p;
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < 5; ++i) sent.push_back(Seal(p.alice, "m" + std::to_string(i)));
  EXPECT_EQ(Open(p.bob, sent[4]), "m4");
  EXPECT_EQ(p.bob.skipped_key_count(), 4u);
  EXPECT_EQ(Open(p.bob, sent[1]), "m1");
  EXPECT_EQ(Open(p.bob, sent[0]), "m0");
  EXPECT_EQ(p.bob.skipped_key_count(), 2u);
}

TEST(RatchetTest, RejectsAReplayedMessageAndStaysUsable) {
  Pair p;
  std::vector<uint8_t> m = Seal(p.alice, "once");
  EXPECT_EQ(Open(p.bob, m), "once");
  absl::Status s;
  Open(p.bob, m, &s);
  EXPECT_EQ(s, DecryptError());
  EXPECT_EQ(Open(p.bob, Seal(p.alice, "next")), "next");
}

TEST(RatchetTest, EveryBitFlipFailsTheSameWayAndChangesNothing) {
  Pair p;
  std::vector<uint8_t> m = Seal(p.alice, "intact");
  for (size_t i = 0; i < m.size(); i += 7) {
    std::vector<uint8_t> bad = m;
    bad[i] ^= 0x10;
    absl::Status s;
    Open(p.bob, bad, &s);
    EXPECT_EQ(s, DecryptError()) << "byte " << i;
  }
  EXPECT_EQ(p.bob.skipped_key_count(), 0u);
  EXPECT_EQ(Open(p.bob, m), "intact");
}

TEST(RatchetTest, TruncatedMessagesFail) {
  Pair p;
  std::vector<uint8_t> m = Seal(p.alice, "whole");
  for (size_t len : {size_t{0}, size_t{1}, kRatchetHeaderSize, m.size() - 1}) {
    absl::Status s;
    Open(p.bob, std::vector<uint8_t>(m.begin(), m.begin() + len), &s);
    EXPECT_EQ(s, DecryptError()) << len;
  }
  EXPECT_EQ(Open(p.bob, m), "whole");
}

TEST(RatchetTest, SkippingBeyondTheBoundIsRefusedWithoutDerivingKeys) {
  Pair p;
  std::vector<uint8_t> last;
  for (uint32_t i = 0; i <= kMaxSkipPerChain + 1; ++i) last = Seal(p.alice, "x");
  absl::Status s;
  Open(p.bob, last, &s);
  EXPECT_EQ(s, DecryptError());
  EXPECT_EQ(p.bob.skipped_key_count(), 0u);
}

TEST(RatchetTest, ResponderCannotSendBeforeItReceives) {
  Pair p;
  std::vector<uint8_t> out;
  EXPECT_EQ(p.bob.Encrypt(Bytes("too early"), &out).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RatchetTest, SurvivesARecordRoundTripMidConversation) {
  Pair p;
  EXPECT_EQ(Open(p.bob, Seal(p.alice, "before")), "before");
  std::vector<uint8_t> pending = Seal(p.alice, "in flight");
  v1::SessionRecord record;
  p.bob.ToRecord(&record);
  absl::StatusOr<Ratchet> restored = Ratchet::FromRecord(record, p.rng);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(Open(*restored, pending), "in flight");
  EXPECT_EQ(Open(p.alice, Seal(*restored, "after")), "after");
}

TEST(RatchetTest, OversizedPlaintextIsInvalidArgument) {
  Pair p;
  std::vector<uint8_t> out;
  EXPECT_EQ(p.alice.Encrypt(std::vector<uint8_t>(kMaxPlaintextSize + 1, 'x'), &out).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace alliance::crypto

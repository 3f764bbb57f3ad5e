// Sessions end to end in memory: round trips, reordering, tampering, replay, bounds, forward
// secrecy and post-compromise security.
#include "crypto/session.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "crypto/hkdf.h"
#include "crypto/padding.h"
#include "crypto/record_io.h"
#include "gtest/gtest.h"
#include "tests/crypto/test_util.h"

namespace alliance::crypto {
namespace {

using testing::Bytes;
using testing::EstablishedPair;
using testing::kNow;
using testing::Parties;

std::vector<uint8_t> Text(size_t n, uint8_t seed = 1) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 31);
  return v;
}

std::string Serialized(const Session& s) {
  v1::SessionRecord r;
  s.ToRecord(&r);
  return r.SerializeAsString();
}

OutgoingMessage Send(Session& s, const std::vector<uint8_t>& text) {
  OutgoingMessage m;
  absl::Status st = s.Encrypt(text, &m);
  EXPECT_TRUE(st.ok()) << st;
  return m;
}

absl::StatusOr<std::vector<uint8_t>> Receive(Session& s, const OutgoingMessage& m) {
  std::vector<uint8_t> out;
  absl::Status st = s.Decrypt(m.type, m.bytes, kNow, &out);
  if (!st.ok()) return st;
  return out;
}

class SessionSizeTest : public ::testing::TestWithParam<size_t> {};

TEST_P(SessionSizeTest, RoundTripsEverySizeBothWays) {
  EstablishedPair pair;
  std::vector<uint8_t> text = Text(GetParam());
  OutgoingMessage m = Send(*pair.bob, text);
  EXPECT_EQ(*Receive(*pair.alice, m), text);
  m = Send(*pair.alice, text);
  EXPECT_EQ(m.type, MessageType::kMessage);
  EXPECT_EQ(*Receive(*pair.bob, m), text);
  EXPECT_EQ((m.bytes.size() - kRatchetHeaderSize - kAeadTagSize) % 256, 0u);
}

INSTANTIATE_TEST_SUITE_P(Sizes, SessionSizeTest, ::testing::Values(0, 1, 255, 256, 257, 64 * 1024));

TEST(SessionTest, RejectsPlaintextLargerThanLimit) {
  EstablishedPair pair;
  OutgoingMessage m;
  EXPECT_EQ(pair.bob->Encrypt(Text(kMaxPlaintextSize + 1), &m).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SessionTest, EstablishesWithoutOneTimePreKey) {
  EstablishedPair pair(/*with_opk=*/false);
  OutgoingMessage m = Send(*pair.bob, Bytes("hi alice"));
  EXPECT_EQ(*Receive(*pair.alice, m), Bytes("hi alice"));
}

TEST(SessionTest, InitiatorSendsPreKeyMessagesUntilAnswered) {
  Parties p;
  VerifiedBundle b = *VerifyPreKeyBundle(p.Bundle(true), kNow);
  Session alice = *Session::Initiate(p.alice, b, p.rng);
  OutgoingMessage m1 = Send(alice, Bytes("one"));
  OutgoingMessage m2 = Send(alice, Bytes("two"));
  EXPECT_EQ(m1.type, MessageType::kPreKey);
  EXPECT_EQ(m2.type, MessageType::kPreKey);
  // The second arrives first: Bob builds the session from it.
  PreKeyMessage pm = *ParsePreKeyMessage(m2.bytes);
  std::vector<uint8_t> out;
  Session bob = *Session::Respond(p.bob, p.spk.key, &p.opk.key, pm, kNow, &out, p.rng);
  EXPECT_EQ(out, Bytes("two"));
  EXPECT_EQ(*Receive(bob, m1), Bytes("one"));
  EXPECT_TRUE(alice.awaiting_reply());
  EXPECT_EQ(*Receive(alice, Send(bob, Bytes("three"))), Bytes("three"));
  EXPECT_FALSE(alice.awaiting_reply());
  EXPECT_EQ(Send(alice, Bytes("four")).type, MessageType::kMessage);
}

TEST(SessionTest, ResponderCannotSendFirst) {
  Parties p;
  VerifiedBundle b = *VerifyPreKeyBundle(p.Bundle(true), kNow);
  Session alice = *Session::Initiate(p.alice, b, p.rng);
  OutgoingMessage m = Send(alice, Bytes("x"));
  // Bob's session only exists after a prekey message; a ratchet built from the wrong prekey
  // fails to decrypt.
  PreKeyMessage pm = *ParsePreKeyMessage(m.bytes);
  std::vector<uint8_t> out;
  OneTimePreKeyPair other = OneTimePreKeyPair::Create(42, p.rng);
  EXPECT_EQ(Session::Respond(p.bob, p.spk.key, &other.key, pm, kNow, &out, p.rng).status(),
            DecryptError());
  EXPECT_EQ(Session::Respond(p.bob, p.spk.key, nullptr, pm, kNow, &out, p.rng).status(),
            DecryptError());
}

TEST(SessionTest, DeliversOutOfOrderWithinBound) {
  EstablishedPair pair;
  std::vector<OutgoingMessage> msgs;
  for (int i = 0; i < 50; ++i) msgs.push_back(Send(*pair.bob, Text(100, i)));
  std::vector<int> order(50);
  for (int i = 0; i < 50; ++i) order[i] = (i * 17) % 50;  // A permutation.
  for (int i : order) EXPECT_EQ(*Receive(*pair.alice, msgs[i]), Text(100, i)) << i;
  EXPECT_EQ(pair.alice->ratchet().skipped_key_count(), 0u);
}

TEST(SessionTest, InterleavesBothDirectionsWithLateMessagesFromOldChains) {
  EstablishedPair pair;
  OutgoingMessage late_b = Send(*pair.bob, Bytes("late from bob"));
  for (int round = 0; round < 10; ++round) {
    OutgoingMessage b1 = Send(*pair.bob, Text(10, round));
    OutgoingMessage b2 = Send(*pair.bob, Text(11, round));
    EXPECT_EQ(*Receive(*pair.alice, b2), Text(11, round));
    OutgoingMessage a1 = Send(*pair.alice, Text(12, round));
    EXPECT_EQ(*Receive(*pair.bob, a1), Text(12, round));
    EXPECT_EQ(*Receive(*pair.alice, b1), Text(10, round));
  }
  EXPECT_EQ(*Receive(*pair.alice, late_b), Bytes("late from bob"));
}

TEST(SessionTest, RejectsReplayedMessage) {
  EstablishedPair pair;
  OutgoingMessage m = Send(*pair.bob, Bytes("once"));
  ASSERT_TRUE(Receive(*pair.alice, m).ok());
  std::string before = Serialized(*pair.alice);
  EXPECT_EQ(Receive(*pair.alice, m).status(), DecryptError());
  EXPECT_EQ(Serialized(*pair.alice), before);
}

TEST(SessionTest, RejectsReplayedSkippedMessage) {
  EstablishedPair pair;
  OutgoingMessage m0 = Send(*pair.bob, Bytes("zero"));
  OutgoingMessage m1 = Send(*pair.bob, Bytes("one"));
  ASSERT_TRUE(Receive(*pair.alice, m1).ok());
  ASSERT_TRUE(Receive(*pair.alice, m0).ok());
  EXPECT_EQ(Receive(*pair.alice, m0).status(), DecryptError());
  EXPECT_EQ(Receive(*pair.alice, m1).status(), DecryptError());
}

TEST(SessionTest, EverySingleByteFlipIsRejectedAndLeavesStateUnchanged) {
  EstablishedPair pair;
  OutgoingMessage m = Send(*pair.bob, Bytes("flip me"));
  const std::string before = Serialized(*pair.alice);
  for (size_t i = 0; i < m.bytes.size(); ++i) {
    for (uint8_t bit : {0x01, 0x80}) {
      OutgoingMessage bad = m;
      bad.bytes[i] ^= bit;
      ASSERT_EQ(Receive(*pair.alice, bad).status(), DecryptError()) << "byte " << i;
    }
  }
  EXPECT_EQ(Serialized(*pair.alice), before);
  EXPECT_EQ(*Receive(*pair.alice, m), Bytes("flip me"));
}

TEST(SessionTest, EveryByteFlipOfPreKeyMessageIsRejected) {
  Parties p;
  VerifiedBundle b = *VerifyPreKeyBundle(p.Bundle(true), kNow);
  Session alice = *Session::Initiate(p.alice, b, p.rng);
  OutgoingMessage m = Send(alice, Bytes("first"));
  for (size_t i = 0; i < m.bytes.size(); ++i) {
    std::vector<uint8_t> bad = m.bytes;
    bad[i] ^= 0x80;
    absl::StatusOr<PreKeyMessage> pm = ParsePreKeyMessage(bad);
    if (!pm.ok()) continue;  // Rejected by the parser.
    // The ids select keys: a changed id names a key Bob does not have (or, here, the same one).
    if (pm->signed_prekey_id != 7) continue;
    const DhKeyPair* opk = pm->one_time_prekey_id == 42u ? &p.opk.key : nullptr;
    if (pm->one_time_prekey_id.has_value() && opk == nullptr) continue;
    std::vector<uint8_t> out;
    EXPECT_FALSE(Session::Respond(p.bob, p.spk.key, opk, *pm, kNow, &out, p.rng).ok())
        << "byte " << i;
  }
}

TEST(SessionTest, RejectsTruncatedAndMalformedMessagesWithOneStatus) {
  EstablishedPair pair;
  OutgoingMessage m = Send(*pair.bob, Bytes("x"));
  const std::string before = Serialized(*pair.alice);
  for (size_t len : {size_t{0}, size_t{1}, kRatchetHeaderSize, m.bytes.size() - 1}) {
    std::vector<uint8_t> cut(m.bytes.begin(), m.bytes.begin() + len);
    std::vector<uint8_t> out;
    EXPECT_EQ(pair.alice->Decrypt(MessageType::kMessage, cut, kNow, &out), DecryptError());
  }
  std::vector<uint8_t> out;
  EXPECT_EQ(pair.alice->Decrypt(static_cast<MessageType>(9), m.bytes, kNow, &out), DecryptError());
  EXPECT_EQ(pair.alice->Decrypt(MessageType::kPreKey, m.bytes, kNow, &out), DecryptError());
  EXPECT_EQ(Serialized(*pair.alice), before);
}

TEST(SessionTest, RejectsCounterJumpPastBoundWithoutStoringKeys) {
  EstablishedPair pair;
  std::vector<OutgoingMessage> msgs;
  for (uint32_t i = 0; i <= kMaxSkipPerChain + 1; ++i) msgs.push_back(Send(*pair.bob, Text(1)));
  EXPECT_EQ(Receive(*pair.alice, msgs.back()).status(), DecryptError());
  EXPECT_EQ(pair.alice->ratchet().skipped_key_count(), 0u);
  // Exactly at the bound is accepted.
  EXPECT_TRUE(Receive(*pair.alice, msgs[kMaxSkipPerChain]).ok());
  EXPECT_EQ(pair.alice->ratchet().skipped_key_count(), kMaxSkipPerChain);
}

TEST(SessionTest, SkippedKeysAreBoundedOldestEvicted) {
  EstablishedPair pair;
  // Three chains of 900 skipped keys each: 2700 > 2000, the first chain's oldest go.
  std::vector<OutgoingMessage> first_chain;
  for (int chain = 0; chain < 3; ++chain) {
    std::vector<OutgoingMessage> msgs;
    for (int i = 0; i < 901; ++i) msgs.push_back(Send(*pair.bob, Text(1)));
    ASSERT_TRUE(Receive(*pair.alice, msgs.back()).ok());
    if (chain == 0) first_chain = msgs;
    ASSERT_TRUE(Receive(*pair.bob, Send(*pair.alice, Text(1))).ok());  // Turn the ratchet.
  }
  EXPECT_EQ(pair.alice->ratchet().skipped_key_count(), kMaxSkippedKeys);
  EXPECT_EQ(Receive(*pair.alice, first_chain[0]).status(), DecryptError());  // Evicted.
  EXPECT_TRUE(Receive(*pair.alice, first_chain[899]).ok());                  // Still kept.
}

TEST(SessionTest, SkippedKeysExpireAfterRetention) {
  EstablishedPair pair;
  OutgoingMessage m0 = Send(*pair.bob, Text(1));
  OutgoingMessage m1 = Send(*pair.bob, Text(2));
  ASSERT_TRUE(Receive(*pair.alice, m1).ok());
  EXPECT_EQ(pair.alice->ratchet().skipped_key_count(), 1u);
  pair.alice->ratchet().ExpireSkippedKeys(kNow + RatchetOptions{}.skipped_key_max_age_seconds + 1);
  EXPECT_EQ(pair.alice->ratchet().skipped_key_count(), 0u);
  EXPECT_EQ(Receive(*pair.alice, m0).status(), DecryptError());
}

TEST(SessionTest, RejectsMessageUnderWrongIdentities) {
  // Same shared secret and keys, but the associated data names another identity.
  EstablishedPair pair;
  OutgoingMessage m = Send(*pair.bob, Bytes("bound to identities"));
  v1::SessionRecord r;
  pair.alice->ToRecord(&r);
  IdentityKeyPair mallory = *IdentityKeyPair::FromSeed(testing::Seed(0x66));
  r.set_responder_identity(reinterpret_cast<const char*>(mallory.public_key().data()), 32);
  Session tampered = *Session::FromRecord(r, pair.p.rng);
  EXPECT_EQ(Receive(tampered, m).status(), DecryptError());
}

TEST(SessionTest, RecordRoundTripContinuesConversation) {
  EstablishedPair pair;
  OutgoingMessage skipped = Send(*pair.bob, Bytes("skipped"));
  ASSERT_TRUE(Receive(*pair.alice, Send(*pair.bob, Bytes("now"))).ok());
  v1::SessionRecord r;
  pair.alice->ToRecord(&r);
  SecretBytes bytes = *SerializeAndWipe(&r);
  EXPECT_EQ(r.ByteSizeLong(), 0u);  // Wiped and cleared.
  v1::SessionRecord parsed;
  ASSERT_TRUE(ParseRecord(bytes.span(), &parsed).ok());
  Session restored = *Session::FromRecord(parsed, pair.p.rng);
  EXPECT_EQ(*Receive(restored, skipped), Bytes("skipped"));
  EXPECT_EQ(*Receive(*pair.bob, Send(restored, Bytes("back"))), Bytes("back"));
}

TEST(SessionTest, MalformedRecordIsRejected) {
  EstablishedPair pair;
  v1::SessionRecord r;
  pair.alice->ToRecord(&r);
  v1::SessionRecord bad = r;
  bad.set_root_key("short");
  EXPECT_EQ(Session::FromRecord(bad, pair.p.rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = r;
  bad.set_version(2);
  EXPECT_EQ(Session::FromRecord(bad, pair.p.rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::SessionRecord garbage;
  EXPECT_EQ(ParseRecord(testing::Bytes("\xff\xff\xff"), &garbage).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ForwardSecrecyTest, DecryptedMessageKeyIsGoneFromLaterState) {
  EstablishedPair pair;
  OutgoingMessage m0 = Send(*pair.bob, Bytes("yesterday"));
  OutgoingMessage m1 = Send(*pair.bob, Bytes("today"));
  ASSERT_TRUE(Receive(*pair.alice, m1).ok());  // m0's key is now a skipped key...
  ASSERT_TRUE(Receive(*pair.alice, m0).ok());  // ...and consumed.
  v1::SessionRecord r;
  pair.alice->ToRecord(&r);
  EXPECT_EQ(r.skipped_size(), 0);
  // An attacker who steals the state now cannot read either message.
  Session stolen = *Session::FromRecord(r, pair.p.rng);
  EXPECT_EQ(Receive(stolen, m0).status(), DecryptError());
  EXPECT_EQ(Receive(stolen, m1).status(), DecryptError());
}

TEST(PostCompromiseTest, CopiedStateIsLockedOutAfterOneRoundTrip) {
  EstablishedPair pair;
  ASSERT_TRUE(Receive(*pair.alice, Send(*pair.bob, Bytes("before"))).ok());
  v1::SessionRecord r;
  pair.alice->ToRecord(&r);
  DeterministicRandom attacker_rng(testing::Seed(0x99));
  Session stolen = *Session::FromRecord(r, attacker_rng);
  // With the copy, the attacker can read the next message on the current chain...
  OutgoingMessage next = Send(*pair.bob, Bytes("still readable"));
  EXPECT_TRUE(Receive(stolen, next).ok());
  ASSERT_TRUE(Receive(*pair.alice, next).ok());
  // One round trip: Alice answers with a ratchet key generated after the theft, Bob replies
  // on a chain derived from it. The copied state is locked out from then on.
  ASSERT_TRUE(Receive(*pair.bob, Send(*pair.alice, Bytes("ping"))).ok());
  OutgoingMessage after = Send(*pair.bob, Bytes("secret after healing"));
  EXPECT_EQ(Receive(stolen, after).status(), DecryptError());
  EXPECT_EQ(*Receive(*pair.alice, after), Bytes("secret after healing"));
  OutgoingMessage later = Send(*pair.bob, Bytes("and later"));
  EXPECT_EQ(Receive(stolen, later).status(), DecryptError());
}

TEST(DecryptErrorTest, AllFailuresLookTheSame) {
  EstablishedPair pair;
  OutgoingMessage m = Send(*pair.bob, Bytes("x"));
  std::vector<uint8_t> out;
  std::vector<uint8_t> flipped = m.bytes;
  flipped.back() ^= 1;
  absl::Status tamper = pair.alice->Decrypt(MessageType::kMessage, flipped, kNow, &out);
  absl::Status truncated =
      pair.alice->Decrypt(MessageType::kMessage, ByteSpan(m.bytes).first(10), kNow, &out);
  ASSERT_TRUE(Receive(*pair.alice, m).ok());
  absl::Status replay = pair.alice->Decrypt(MessageType::kMessage, m.bytes, kNow, &out);
  EXPECT_EQ(tamper, truncated);
  EXPECT_EQ(tamper, replay);
  EXPECT_EQ(tamper.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace alliance::crypto

namespace alliance::crypto {
namespace {

// Regression: before the responder has replied, the initiator has no receiving chain. A message
// forged by anyone who knows the responder's public signed prekey (the relay does), keyed with
// the chain step of an all-zero chain key, must not decrypt.
TEST(SessionTest, RejectsForgedFirstReplyUnderTheSignedPreKey) {
  Parties p;
  VerifiedBundle b = *VerifyPreKeyBundle(p.Bundle(true), kNow);
  Session alice = *Session::Initiate(p.alice, b, p.rng);
  OutgoingMessage first;
  ASSERT_TRUE(alice.Encrypt(Bytes("hello"), &first).ok());

  std::vector<uint8_t> msg(kRatchetHeaderSize);
  msg[0] = kRatchetVersion;
  std::memcpy(msg.data() + 1, p.spk.key.public_key.data(), 32);  // PN = 0, N = 0.
  WipedArray<32> zero_chain, mk, next;
  ChainStep(zero_chain, &mk, &next);
  WipedArray<56> key_nonce;
  HkdfSha256({}, mk.span(), AsBytes("alliance/v1/message"), key_nonce.mutable_span());
  std::vector<uint8_t> ad(AsBytes("alliance/v1/ad").begin(), AsBytes("alliance/v1/ad").end());
  ad.insert(ad.end(), p.alice.public_key().begin(), p.alice.public_key().end());
  ad.insert(ad.end(), p.bob.public_key().begin(), p.bob.public_key().end());
  ad.insert(ad.end(), msg.begin(), msg.end());
  std::vector<uint8_t> body(256, 0);
  const char forged[] = "forged reply";
  std::memcpy(body.data(), forged, sizeof forged - 1);
  ApplyPadding(body, sizeof forged - 1);
  msg.resize(kRatchetHeaderSize + body.size() + kAeadTagSize);
  crypto_aead_xchacha20poly1305_ietf_encrypt(msg.data() + kRatchetHeaderSize, nullptr, body.data(),
                                             body.size(), ad.data(), ad.size(), nullptr,
                                             key_nonce.data() + 32, key_nonce.data());
  std::vector<uint8_t> out;
  EXPECT_EQ(alice.Decrypt(MessageType::kMessage, msg, kNow, &out), DecryptError());
  EXPECT_TRUE(alice.awaiting_reply());
}

}  // namespace
}  // namespace alliance::crypto

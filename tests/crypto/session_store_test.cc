// Which session opens a message, over in-memory session slots (no database): active, previous
// and quarantined sessions, replayed prekey messages, one-time prekeys, the bounded base-key
// list, simultaneous initiation and accepting a quarantined identity.
#include "crypto/session_store.h"

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "tests/crypto/test_util.h"

namespace alliance::crypto {
namespace {

using testing::Bytes;
using testing::kNow;
using testing::Seed;

// SessionSlots in memory. Sessions are kept as records, so every Load/Store round-trips them.
class MemorySlots final : public SessionSlots {
 public:
  explicit MemorySlots(Random& rng) : rng_(rng) {}

  absl::StatusOr<std::optional<Session>> Load(SessionSlot slot) override {
    if (fail_loads_) return absl::DataLossError("damaged");
    const std::optional<v1::SessionRecord>& rec = sessions_[Index(slot)];
    if (!rec.has_value()) return std::optional<Session>();
    absl::StatusOr<Session> s = Session::FromRecord(*rec, rng_);
    if (!s.ok()) return absl::DataLossError("damaged");
    return std::optional<Session>(*std::move(s));
  }
  absl::Status Store(SessionSlot slot, const Session& session) override {
    v1::SessionRecord rec;
    session.ToRecord(&rec);
    sessions_[Index(slot)] = std::move(rec);
    return absl::OkStatus();
  }
  absl::Status Clear(SessionSlot slot) override {
    sessions_[Index(slot)].reset();
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<PublicKey>> LoadUsedBaseKeys() override { return used_; }
  absl::Status StoreUsedBaseKeys(const std::vector<PublicKey>& keys) override {
    used_ = keys;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<SignedPreKeyPair>> SignedPreKey(uint32_t id) override {
    auto it = spks_.find(id);
    if (it == spks_.end()) return std::optional<SignedPreKeyPair>();
    return std::optional<SignedPreKeyPair>(it->second);
  }
  absl::StatusOr<std::optional<OneTimePreKeyPair>> OneTimePreKey(uint32_t id) override {
    auto it = opks_.find(id);
    if (it == opks_.end()) return std::optional<OneTimePreKeyPair>();
    return std::optional<OneTimePreKeyPair>(it->second);
  }
  absl::Status ConsumeOneTimePreKey(uint32_t id) override {
    ++consumed_[id];
    opks_.erase(id);
    return absl::OkStatus();
  }

  // The serialized record in `slot` ("" when empty), to compare states.
  std::string Raw(SessionSlot slot) const {
    const std::optional<v1::SessionRecord>& rec = sessions_[Index(slot)];
    return rec.has_value() ? rec->SerializeAsString() : std::string();
  }
  std::array<std::string, 3> Snapshot() const {
    return {Raw(SessionSlot::kActive), Raw(SessionSlot::kPrevious), Raw(SessionSlot::kQuarantined)};
  }
  std::optional<PublicKey> BaseKey(SessionSlot slot) {
    absl::StatusOr<std::optional<Session>> s = Load(slot);
    if (!s.ok() || !s->has_value()) return std::nullopt;
    return (*s)->base_key();
  }

  std::map<uint32_t, SignedPreKeyPair> spks_;
  std::map<uint32_t, OneTimePreKeyPair> opks_;
  std::map<uint32_t, int> consumed_;
  std::vector<PublicKey> used_;
  bool fail_loads_ = false;

 private:
  static size_t Index(SessionSlot slot) { return static_cast<size_t>(slot); }

  Random& rng_;
  std::array<std::optional<v1::SessionRecord>, 3> sessions_;
};

// One party: an identity, its prekeys (signed prekey 7, one-time prekeys 1 and 2) and the
// slots it keeps for its single peer device.
struct Peer {
  Peer(uint8_t seed, Random& rng)
      : identity(*IdentityKeyPair::FromSeed(Seed(seed))), slots(rng), rng(rng) {
    slots.spks_.emplace(7, SignedPreKeyPair::Create(identity, 7, kNow - 60, rng));
    for (uint32_t id : {1u, 2u}) slots.opks_.emplace(id, OneTimePreKeyPair::Create(id, rng));
  }

  ByteSpan key() const { return identity.public_key(); }

  // This peer's bundle, with one-time prekey `opk` when given.
  VerifiedBundle Bundle(std::optional<uint32_t> opk) const {
    v1::PreKeyBundle b;
    b.set_identity_key(reinterpret_cast<const char*>(identity.public_key().data()), 32);
    *b.mutable_signed_prekey() = slots.spks_.at(7).ToPublic();
    if (opk.has_value()) *b.mutable_one_time_prekey() = slots.opks_.at(*opk).ToPublic();
    return *VerifyPreKeyBundle(b, kNow);
  }

  // Receives `m` from a sender whose pinned key is `pinned`; the plaintext goes to `text`.
  OpenedMessage Receive(const OutgoingMessage& m, ByteSpan pinned) {
    absl::StatusOr<OpenedMessage> r =
        OpenWithSessions(slots, identity, m.type, m.bytes, pinned, kNow, rng, &text);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : OpenedMessage();
  }

  // Sends `text` with the session in `slot` (stored back).
  OutgoingMessage SendFrom(SessionSlot slot, const std::string& plain) {
    OutgoingMessage m;
    std::optional<Session> s = *slots.Load(slot);
    EXPECT_TRUE(s.has_value());
    EXPECT_TRUE(s->Encrypt(Bytes(plain), &m).ok());
    EXPECT_TRUE(slots.Store(slot, *s).ok());
    return m;
  }

  std::string Text() const { return std::string(text.begin(), text.end()); }

  IdentityKeyPair identity;
  MemorySlots slots;
  Random& rng;
  std::vector<uint8_t> text;
};

OutgoingMessage Send(Session& s, const std::string& plain) {
  OutgoingMessage m;
  EXPECT_TRUE(s.Encrypt(Bytes(plain), &m).ok());
  return m;
}

class SessionStoreTest : public ::testing::Test {
 protected:
  // Alice starts a session with Bob (one-time prekey `opk`); Bob opens her first message.
  Session Establish(std::optional<uint32_t> opk) {
    Session s = *Session::Initiate(alice_.identity, bob_.Bundle(opk), rng_);
    OpenedMessage r = bob_.Receive(Send(s, "hello"), alice_.key());
    EXPECT_TRUE(r.ok);
    return s;
  }

  DeterministicRandom rng_{Seed(0x5E)};
  Peer alice_{0xA1, rng_};
  Peer bob_{0xB0, rng_};
  Peer mallory_{0x3A, rng_};
};

TEST_F(SessionStoreTest, OpensWithTheActiveSession) {
  Session alice = Establish(1);
  EXPECT_EQ(bob_.Text(), "hello");
  EXPECT_EQ(bob_.slots.Raw(SessionSlot::kPrevious), "");
  OutgoingMessage reply = bob_.SendFrom(SessionSlot::kActive, "hi");
  std::vector<uint8_t> out;
  ASSERT_TRUE(alice.Decrypt(reply.type, reply.bytes, kNow, &out).ok());
  const std::string before = bob_.slots.Raw(SessionSlot::kActive);

  OpenedMessage r = bob_.Receive(Send(alice, "second"), alice_.key());
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.replay);
  EXPECT_FALSE(r.identity_unverified);
  EXPECT_EQ(r.remote_identity, alice_.identity.public_key());
  EXPECT_EQ(bob_.Text(), "second");
  EXPECT_NE(bob_.slots.Raw(SessionSlot::kActive), before);  // The ratchet moved and was stored.
}

TEST_F(SessionStoreTest, FallsBackToThePreviousSession) {
  Session first = Establish(1);
  OutgoingMessage reply = bob_.SendFrom(SessionSlot::kActive, "hi");
  std::vector<uint8_t> out;
  ASSERT_TRUE(first.Decrypt(reply.type, reply.bytes, kNow, &out).ok());
  OutgoingMessage late = Send(first, "late");  // An ordinary message of the first session.
  ASSERT_EQ(late.type, MessageType::kMessage);

  Session second = Establish(2);  // Alice starts again: the first session becomes previous.
  ASSERT_EQ(bob_.slots.BaseKey(SessionSlot::kActive), second.base_key());
  ASSERT_EQ(bob_.slots.BaseKey(SessionSlot::kPrevious), first.base_key());
  const std::string active = bob_.slots.Raw(SessionSlot::kActive);

  OpenedMessage r = bob_.Receive(late, alice_.key());
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.identity_unverified);
  EXPECT_EQ(bob_.Text(), "late");
  EXPECT_EQ(bob_.slots.Raw(SessionSlot::kActive), active);
}

TEST_F(SessionStoreTest, UnpinnedIdentityGoesToQuarantineLeavingTheActiveSession) {
  Establish(1);
  const std::string active = bob_.slots.Raw(SessionSlot::kActive);
  Session mallory = *Session::Initiate(mallory_.identity, bob_.Bundle(2), rng_);

  OpenedMessage r = bob_.Receive(Send(mallory, "as alice"), alice_.key());
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.identity_unverified);
  EXPECT_EQ(r.remote_identity, mallory_.identity.public_key());
  EXPECT_EQ(bob_.slots.Raw(SessionSlot::kActive), active);
  EXPECT_EQ(bob_.slots.Raw(SessionSlot::kPrevious), "");
  EXPECT_EQ(bob_.slots.BaseKey(SessionSlot::kQuarantined), mallory.base_key());
}

TEST_F(SessionStoreTest, QuarantinedSessionOpensButIsReportedUnverified) {
  Establish(1);
  Session mallory = *Session::Initiate(mallory_.identity, bob_.Bundle(2), rng_);
  ASSERT_TRUE(bob_.Receive(Send(mallory, "one"), alice_.key()).identity_unverified);
  const std::string active = bob_.slots.Raw(SessionSlot::kActive);

  // A later prekey message of the same session, then an ordinary one after an answer.
  OpenedMessage r = bob_.Receive(Send(mallory, "two"), alice_.key());
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.identity_unverified);
  EXPECT_EQ(bob_.Text(), "two");
  OutgoingMessage answer = bob_.SendFrom(SessionSlot::kQuarantined, "who?");
  std::vector<uint8_t> out;
  ASSERT_TRUE(mallory.Decrypt(answer.type, answer.bytes, kNow, &out).ok());
  OutgoingMessage three = Send(mallory, "three");
  ASSERT_EQ(three.type, MessageType::kMessage);
  r = bob_.Receive(three, alice_.key());
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.identity_unverified);
  EXPECT_EQ(r.remote_identity, mallory_.identity.public_key());
  EXPECT_EQ(bob_.Text(), "three");
  EXPECT_EQ(bob_.slots.Raw(SessionSlot::kActive), active);
}

TEST_F(SessionStoreTest, ReplayedPrekeyMessageRightAfterUseIsAReplay) {
  Session alice = *Session::Initiate(alice_.identity, bob_.Bundle(1), rng_);
  OutgoingMessage first = Send(alice, "once");
  ASSERT_TRUE(bob_.Receive(first, alice_.key()).ok);
  const std::array<std::string, 3> before = bob_.slots.Snapshot();

  OpenedMessage r = bob_.Receive(first, alice_.key());
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.replay);
  EXPECT_EQ(bob_.slots.Snapshot(), before);
}

TEST_F(SessionStoreTest, ReplayedFirstMessageAfterTheSessionMovedOnBuildsNothing) {
  Session alice = *Session::Initiate(alice_.identity, bob_.Bundle(std::nullopt), rng_);
  OutgoingMessage first = Send(alice, "first");  // No one-time prekey: Respond would succeed.
  ASSERT_TRUE(bob_.Receive(first, alice_.key()).ok);
  OutgoingMessage reply = bob_.SendFrom(SessionSlot::kActive, "reply");
  std::vector<uint8_t> out;
  ASSERT_TRUE(alice.Decrypt(reply.type, reply.bytes, kNow, &out).ok());
  ASSERT_TRUE(bob_.Receive(Send(alice, "second"), alice_.key()).ok);
  const std::array<std::string, 3> before = bob_.slots.Snapshot();

  OpenedMessage r = bob_.Receive(first, alice_.key());
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.replay);
  EXPECT_EQ(bob_.slots.Snapshot(), before);

  // With the sessions gone, the remembered base key still refuses it.
  ASSERT_TRUE(bob_.slots.Clear(SessionSlot::kActive).ok());
  r = bob_.Receive(first, alice_.key());
  EXPECT_TRUE(r.replay);
  EXPECT_EQ(bob_.slots.Snapshot(), (std::array<std::string, 3>{"", "", ""}));
}

TEST_F(SessionStoreTest, OneTimePreKeyIsConsumedExactlyOnce) {
  // Two sessions started from the same bundle (e.g. a bundle handed out twice): both name
  // one-time prekey 1, with different base keys.
  Session one = *Session::Initiate(alice_.identity, bob_.Bundle(1), rng_);
  Session two = *Session::Initiate(alice_.identity, bob_.Bundle(1), rng_);
  ASSERT_NE(one.base_key(), two.base_key());

  ASSERT_TRUE(bob_.Receive(Send(one, "one"), alice_.key()).ok);
  EXPECT_EQ(bob_.slots.consumed_[1], 1);
  EXPECT_FALSE(bob_.slots.opks_.contains(1));
  const std::array<std::string, 3> before = bob_.slots.Snapshot();
  const std::vector<PublicKey> used = bob_.slots.used_;

  OpenedMessage r = bob_.Receive(Send(two, "two"), alice_.key());
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.replay);
  EXPECT_EQ(bob_.slots.Snapshot(), before);
  EXPECT_EQ(bob_.slots.used_, used);
  EXPECT_EQ(bob_.slots.consumed_[1], 1);
  EXPECT_TRUE(bob_.slots.opks_.contains(2));  // Untouched.
}

TEST_F(SessionStoreTest, UsedBaseKeysStayBounded) {
  for (size_t i = 0; i < kMaxUsedBaseKeys; ++i) {
    PublicKey k{};
    k[0] = static_cast<uint8_t>(i);
    k[1] = static_cast<uint8_t>(i >> 8);
    k[2] = 0xEE;
    bob_.slots.used_.push_back(k);
  }
  const PublicKey second_oldest = bob_.slots.used_[1];
  Session alice = *Session::Initiate(alice_.identity, bob_.Bundle(1), rng_);
  ASSERT_TRUE(bob_.Receive(Send(alice, "hi"), alice_.key()).ok);
  ASSERT_EQ(bob_.slots.used_.size(), kMaxUsedBaseKeys);
  EXPECT_EQ(bob_.slots.used_.front(), second_oldest);  // The oldest was evicted.
  EXPECT_EQ(bob_.slots.used_.back(), alice.base_key());
}

TEST_F(SessionStoreTest, SimultaneousInitiationConvergesOnTheLowerBaseKey) {
  Session a = *Session::Initiate(alice_.identity, bob_.Bundle(1), rng_);
  Session b = *Session::Initiate(bob_.identity, alice_.Bundle(1), rng_);
  OutgoingMessage from_a = Send(a, "from alice");
  OutgoingMessage from_b = Send(b, "from bob");
  ASSERT_TRUE(alice_.slots.Store(SessionSlot::kActive, a).ok());
  ASSERT_TRUE(bob_.slots.Store(SessionSlot::kActive, b).ok());
  const bool alice_lower = std::memcmp(a.base_key().data(), b.base_key().data(), 32) < 0;
  const PublicKey lower = alice_lower ? a.base_key() : b.base_key();
  const PublicKey higher = alice_lower ? b.base_key() : a.base_key();

  ASSERT_TRUE(bob_.Receive(from_a, alice_.key()).ok);
  EXPECT_EQ(bob_.Text(), "from alice");
  ASSERT_TRUE(alice_.Receive(from_b, bob_.key()).ok);
  EXPECT_EQ(alice_.Text(), "from bob");
  for (Peer* p : {&alice_, &bob_}) {
    EXPECT_EQ(p->slots.BaseKey(SessionSlot::kActive), lower);
    EXPECT_EQ(p->slots.BaseKey(SessionSlot::kPrevious), higher);
  }

  // The responder of the kept session speaks first; then both ways with the active sessions.
  Peer& initiator = alice_lower ? alice_ : bob_;
  Peer& responder = alice_lower ? bob_ : alice_;
  OpenedMessage r =
      initiator.Receive(responder.SendFrom(SessionSlot::kActive, "one"), responder.key());
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(initiator.Text(), "one");
  OutgoingMessage two = initiator.SendFrom(SessionSlot::kActive, "two");
  EXPECT_EQ(two.type, MessageType::kMessage);
  EXPECT_TRUE(responder.Receive(two, initiator.key()).ok);
  EXPECT_EQ(responder.Text(), "two");
  EXPECT_TRUE(
      initiator.Receive(responder.SendFrom(SessionSlot::kActive, "three"), responder.key()).ok);
  EXPECT_EQ(initiator.Text(), "three");
  for (Peer* p : {&alice_, &bob_}) EXPECT_EQ(p->slots.BaseKey(SessionSlot::kActive), lower);
}

TEST_F(SessionStoreTest, AcceptQuarantinedPromotesOnlyTheAcceptedKey) {
  Establish(1);
  Session mallory = *Session::Initiate(mallory_.identity, bob_.Bundle(2), rng_);
  ASSERT_TRUE(bob_.Receive(Send(mallory, "m"), alice_.key()).identity_unverified);
  MemorySlots copy = bob_.slots;

  ASSERT_TRUE(AcceptQuarantined(bob_.slots, mallory_.key()).ok());
  EXPECT_EQ(bob_.slots.BaseKey(SessionSlot::kActive), mallory.base_key());
  EXPECT_EQ(bob_.slots.Raw(SessionSlot::kPrevious), "");
  EXPECT_EQ(bob_.slots.Raw(SessionSlot::kQuarantined), "");
  // Now pinned, Mallory's messages open without the flag.
  OpenedMessage r = bob_.Receive(Send(mallory, "n"), mallory_.key());
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.identity_unverified);

  // Accepting another key ends every session.
  ASSERT_TRUE(AcceptQuarantined(copy, alice_.key()).ok());
  EXPECT_EQ(copy.Snapshot(), (std::array<std::string, 3>{"", "", ""}));
}

TEST_F(SessionStoreTest, StorageErrorsPassThrough) {
  Session alice = Establish(1);
  bob_.slots.fail_loads_ = true;
  std::vector<uint8_t> out;
  OutgoingMessage m = Send(alice, "x");
  EXPECT_EQ(
      OpenWithSessions(bob_.slots, bob_.identity, m.type, m.bytes, alice_.key(), kNow, rng_, &out)
          .status()
          .code(),
      absl::StatusCode::kDataLoss);
  EXPECT_EQ(AcceptQuarantined(bob_.slots, alice_.key()).code(), absl::StatusCode::kDataLoss);
}

TEST_F(SessionStoreTest, MalformedPrekeyMessageOpensNothing) {
  Establish(1);
  const std::array<std::string, 3> before = bob_.slots.Snapshot();
  std::vector<uint8_t> out;
  absl::StatusOr<OpenedMessage> r =
      OpenWithSessions(bob_.slots, bob_.identity, MessageType::kPreKey, Bytes("junk"), alice_.key(),
                       kNow, rng_, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_FALSE(r->replay);
  EXPECT_EQ(bob_.slots.Snapshot(), before);
}

}  // namespace
}  // namespace alliance::crypto

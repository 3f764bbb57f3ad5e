// Which session an incoming envelope may use or replace: an unpinned identity never takes over
// the active session (it is quarantined and flagged), and sending keeps using the pinned one.
#include "client/envelope_opener.h"

#include <filesystem>

#include "client/store_names.h"
#include "crypto/record_io.h"
#include "gtest/gtest.h"

namespace alliance::client {
namespace {

namespace fs = std::filesystem;
using crypto::ByteSpan;

std::string Key(const crypto::PublicKey& k) {
  return std::string(reinterpret_cast<const char*>(k.data()), k.size());
}

class EnvelopeOpenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alliance-opener-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    LocalStoreOptions options;
    options.cost = crypto::PassphraseCost::Interactive();
    store_ = *LocalStore::Create(dir_.string(), crypto::AsBytes("pw"), options);
    // Our signed prekey and two one-time prekeys, as the client keeps them.
    ASSERT_TRUE(
        store_
            ->Run([&](LocalStore::Txn& txn) -> absl::Status {
              v1::PreKeyPairRecord rec;
              spk_.ToRecord(&rec);
              auto bytes = crypto::SerializeAndWipe(&rec);
              if (!bytes.ok()) return bytes.status();
              if (auto s = txn.PutBytes(names::SignedPreKey(spk_.id), bytes->span()); !s.ok())
                return s;
              for (const crypto::OneTimePreKeyPair* opk : {&opk1_, &opk2_}) {
                v1::PreKeyPairRecord r;
                opk->ToRecord(&r);
                auto b = crypto::SerializeAndWipe(&r);
                if (!b.ok()) return b.status();
                if (auto s = txn.PutBytes(names::OneTimePreKey(opk->id), b->span()); !s.ok())
                  return s;
              }
              return absl::OkStatus();
            })
            .ok());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  // A first (prekey) message from `sender` to us, using one-time prekey `opk`.
  v1::Envelope FirstMessage(const crypto::IdentityKeyPair& sender,
                            const crypto::OneTimePreKeyPair& opk, const std::string& text) {
    v1::PreKeyBundle b;
    b.set_identity_key(Key(me_.public_key()));
    *b.mutable_signed_prekey() = spk_.ToPublic();
    *b.mutable_one_time_prekey() = opk.ToPublic();
    auto verified = crypto::VerifyPreKeyBundle(b, kNow);
    EXPECT_TRUE(verified.ok());
    auto session = crypto::Session::Initiate(sender, *verified, rng_);
    crypto::OutgoingMessage m;
    EXPECT_TRUE(session->Encrypt(crypto::AsBytes(text), &m).ok());
    v1::Envelope env;
    env.set_version(1);
    env.mutable_sender()->set_account_id(std::string(16, 'A'));
    env.mutable_sender()->set_device_id(1);
    env.set_type(v1::ENVELOPE_TYPE_PREKEY_MESSAGE);
    env.set_payload(std::string(m.bytes.begin(), m.bytes.end()));
    return env;
  }

  absl::StatusOr<OpenedEnvelope> Open(const v1::Envelope& env, std::vector<uint8_t>* plain) {
    absl::StatusOr<OpenedEnvelope> out = absl::InternalError("not run");
    absl::Status s = store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
      out = OpenEnvelope(txn, me_, env, kContact, Key(alice_.public_key()), kNow, rng_, plain);
      return out.status();
    });
    if (!s.ok()) return s;
    return out;
  }

  std::optional<crypto::Session> Stored(const std::string& name) {
    std::optional<crypto::Session> out;
    EXPECT_TRUE(store_
                    ->Run([&](LocalStore::Txn& txn) -> absl::Status {
                      auto s = LoadSession(txn, name, rng_);
                      if (!s.ok()) return s.status();
                      out = *std::move(s);
                      return absl::OkStatus();
                    })
                    .ok());
    return out;
  }

  static constexpr int64_t kNow = 1'790'000'000;
  const std::string kContact = "41414141414141414141414141414141";
  fs::path dir_;
  std::unique_ptr<LocalStore> store_;
  crypto::SystemRandom rng_;
  crypto::IdentityKeyPair me_ = *crypto::IdentityKeyPair::Generate(rng_);
  crypto::IdentityKeyPair alice_ = *crypto::IdentityKeyPair::Generate(rng_);  // Pinned.
  crypto::IdentityKeyPair mallory_ = *crypto::IdentityKeyPair::Generate(rng_);
  crypto::SignedPreKeyPair spk_ = crypto::SignedPreKeyPair::Create(me_, 1, kNow - 60, rng_);
  crypto::OneTimePreKeyPair opk1_ = crypto::OneTimePreKeyPair::Create(1, rng_);
  crypto::OneTimePreKeyPair opk2_ = crypto::OneTimePreKeyPair::Create(2, rng_);
};

TEST_F(EnvelopeOpenerTest, UnpinnedIdentityIsQuarantinedNeverActive) {
  std::vector<uint8_t> plain;
  auto first = Open(FirstMessage(alice_, opk1_, "from alice"), &plain);
  ASSERT_TRUE(first.ok() && first->ok);
  EXPECT_FALSE(first->identity_unverified);
  auto active = Stored(names::Session(kContact, 1));
  ASSERT_TRUE(active.has_value());
  const crypto::PublicKey alice_base = active->base_key();

  auto forged = Open(FirstMessage(mallory_, opk2_, "from mallory as alice"), &plain);
  ASSERT_TRUE(forged.ok() && forged->ok);
  EXPECT_TRUE(forged->identity_unverified);
  EXPECT_EQ(forged->remote_identity, Key(mallory_.public_key()));
  // The active session (used for sending) is still Alice's; Mallory's is quarantined.
  auto still = Stored(names::Session(kContact, 1));
  ASSERT_TRUE(still.has_value());
  EXPECT_EQ(still->base_key(), alice_base);
  EXPECT_EQ(Key(still->remote_identity()), Key(alice_.public_key()));
  auto quarantined = Stored(names::QuarantinedSession(kContact, 1));
  ASSERT_TRUE(quarantined.has_value());
  EXPECT_EQ(Key(quarantined->remote_identity()), Key(mallory_.public_key()));
}

// The raw bytes of the three session slots (empty when absent).
std::vector<std::string> Slots(LocalStore& store, const std::string& contact) {
  std::vector<std::string> out;
  EXPECT_TRUE(store
                  .Run([&](LocalStore::Txn& txn) -> absl::Status {
                    for (const std::string& n :
                         {names::Session(contact, 1), names::PreviousSession(contact, 1),
                          names::QuarantinedSession(contact, 1)}) {
                      auto b = txn.GetBytes(n);
                      if (!b.ok()) return b.status();
                      out.push_back(b->has_value()
                                        ? std::string(reinterpret_cast<const char*>((*b)->data()),
                                                      (*b)->size())
                                        : std::string());
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  return out;
}

// The attack: a first message that used no one-time prekey is replayed (under a new envelope id)
// after both sides have moved on. Before the fix it rebuilt the session and made it active.
TEST_F(EnvelopeOpenerTest, ReplayedFirstMessageWithoutOneTimeKeyNeverRebuildsTheSession) {
  v1::PreKeyBundle b;
  b.set_identity_key(Key(me_.public_key()));
  *b.mutable_signed_prekey() = spk_.ToPublic();  // No one-time prekey.
  auto verified = crypto::VerifyPreKeyBundle(b, kNow);
  ASSERT_TRUE(verified.ok());
  auto alice = crypto::Session::Initiate(alice_, *verified, rng_);
  ASSERT_TRUE(alice.ok());
  auto envelope = [](const crypto::OutgoingMessage& m) {
    v1::Envelope env;
    env.set_version(1);
    env.mutable_sender()->set_account_id(std::string(16, 'A'));
    env.mutable_sender()->set_device_id(1);
    env.set_type(m.type == crypto::MessageType::kPreKey ? v1::ENVELOPE_TYPE_PREKEY_MESSAGE
                                                        : v1::ENVELOPE_TYPE_MESSAGE);
    env.set_payload(std::string(m.bytes.begin(), m.bytes.end()));
    return env;
  };
  crypto::OutgoingMessage m;
  ASSERT_TRUE(alice->Encrypt(crypto::AsBytes("first"), &m).ok());
  const v1::Envelope first = envelope(m);
  std::vector<uint8_t> plain;
  ASSERT_TRUE(Open(first, &plain)->ok);
  // We reply; Alice reads it and answers; the session has ratcheted on both sides.
  ASSERT_TRUE(store_
                  ->Run([&](LocalStore::Txn& txn) -> absl::Status {
                    auto s = LoadSession(txn, names::Session(kContact, 1), rng_);
                    if (!s.ok() || !s->has_value()) return absl::InternalError("no session");
                    if (auto e = (*s)->Encrypt(crypto::AsBytes("reply"), &m); !e.ok()) return e;
                    return StoreSession(txn, names::Session(kContact, 1), **s);
                  })
                  .ok());
  ASSERT_TRUE(alice->Decrypt(m.type, m.bytes, kNow, &plain).ok());
  ASSERT_TRUE(alice->Encrypt(crypto::AsBytes("second"), &m).ok());
  ASSERT_EQ(m.type, crypto::MessageType::kMessage);
  ASSERT_TRUE(Open(envelope(m), &plain)->ok);
  const std::vector<std::string> before = Slots(*store_, kContact);

  auto replayed = Open(first, &plain);
  ASSERT_TRUE(replayed.ok());
  EXPECT_FALSE(replayed->ok);
  EXPECT_TRUE(replayed->replay);
  EXPECT_EQ(Slots(*store_, kContact), before);

  // Alice still reads what we send with the session we keep.
  ASSERT_TRUE(store_
                  ->Run([&](LocalStore::Txn& txn) -> absl::Status {
                    auto s = LoadSession(txn, names::Session(kContact, 1), rng_);
                    if (!s.ok() || !s->has_value()) return absl::InternalError("no session");
                    if (auto e = (*s)->Encrypt(crypto::AsBytes("after"), &m); !e.ok()) return e;
                    return StoreSession(txn, names::Session(kContact, 1), **s);
                  })
                  .ok());
  ASSERT_TRUE(alice->Decrypt(m.type, m.bytes, kNow, &plain).ok());
  EXPECT_EQ(std::string(plain.begin(), plain.end()), "after");

  // Even when the sessions are gone (e.g. evicted), the remembered base key refuses the replay.
  ASSERT_TRUE(store_
                  ->Run([&](LocalStore::Txn& txn) -> absl::Status {
                    txn.Delete(names::Session(kContact, 1));
                    txn.Delete(names::PreviousSession(kContact, 1));
                    return absl::OkStatus();
                  })
                  .ok());
  auto again = Open(first, &plain);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replay);
  EXPECT_EQ(Slots(*store_, kContact), (std::vector<std::string>{"", "", ""}));
}

TEST_F(EnvelopeOpenerTest, ReplayedPrekeyMessageAfterItsOneTimeKeyIsGoneFails) {
  std::vector<uint8_t> plain;
  v1::Envelope env = FirstMessage(alice_, opk1_, "once");
  ASSERT_TRUE(Open(env, &plain)->ok);
  // The same bytes again decrypt only through the stored session, which rejects the replay.
  auto again = Open(env, &plain);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->ok);
}

}  // namespace
}  // namespace alliance::client

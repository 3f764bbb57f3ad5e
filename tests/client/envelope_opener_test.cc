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
    store_ = *LocalStore::Create(dir_.string(), crypto::AsBytes("pw"));
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

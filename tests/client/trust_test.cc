// Issue 8, client side, against a real in-process relay: trust decisions bind keys (the whole
// safety number, never a prefix), contact names chosen by others never shadow a role or
// another contact, and a replayed first message leaves the sessions exactly as they were.
#include <algorithm>

#include "absl/time/clock.h"
#include "alliance/v1/client_records.pb.h"
#include "client/client.h"
#include "client/envelope_opener.h"
#include "client/local_store.h"
#include "client/store_names.h"
#include "crypto/record_io.h"
#include "crypto/safety_number.h"
#include "crypto/session.h"
#include "tests/client/client_fixture.h"

namespace alliance::client::testing {
namespace {

class TrustTest : public ClientFixture {
 protected:
  // Runs `fn` in a transaction on `name`'s profile (the client must not hold it open).
  void Edit(const std::string& name, const std::function<absl::Status(LocalStore::Txn&)>& fn) {
    auto store = LocalStore::Open(Options(name).profile_dir, Pass("pw-" + name));
    ASSERT_TRUE(store.ok()) << store.status();
    absl::Status s = (*store)->Run(fn);
    ASSERT_TRUE(s.ok()) << s;
  }

  // The raw sealed-and-opened bytes of the three session slots with a peer (empty if absent).
  std::vector<std::string> SessionBytes(const std::string& name, const std::string& peer_hex) {
    std::vector<std::string> out;
    Edit(name, [&](LocalStore::Txn& txn) -> absl::Status {
      for (const std::string& slot :
           {names::Session(peer_hex, 1), names::PreviousSession(peer_hex, 1),
            names::QuarantinedSession(peer_hex, 1)}) {
        auto bytes = txn.GetBytes(slot);
        if (!bytes.ok()) return bytes.status();
        out.push_back(
            bytes->has_value()
                ? std::string(reinterpret_cast<const char*>((*bytes)->data()), (*bytes)->size())
                : std::string());
      }
      return absl::OkStatus();
    });
    return out;
  }

  // Rewrites the pinned identity key of `who`'s contact `ref` so that the relay now presents a
  // "changed" key (as a relay swapping keys would), and returns the contact id.
  std::string FakeKeyChange(Client& who, const std::string& profile, const std::string& ref) {
    const std::string id = who.ResolveContact(ref)->id;
    Edit(profile, [&](LocalStore::Txn& txn) -> absl::Status {
      auto c = txn.Get<v1::ContactRecord>(names::Contact(id));
      if (!c.ok() || !c->has_value()) return absl::InternalError("no contact");
      std::string key = (*c)->identity_key();
      key[0] ^= 1;
      (*c)->set_identity_key(key);
      return txn.Put(names::Contact(id), **c);
    });
    return id;
  }

  void BuildClinicSharedProfiles() {
    admin_ = Join("Admin", bootstrap_, /*hold_open=*/false);
    ASSERT_NE(admin_, nullptr);
    therapist_ = Join("Rivera", Invite(*admin_, v1::ROLE_THERAPIST), /*hold_open=*/false);
    ASSERT_NE(therapist_, nullptr);
    client_ = Join("Sam", Invite(*therapist_, v1::ROLE_CLIENT), /*hold_open=*/false);
    ASSERT_NE(client_, nullptr);
  }
};

std::vector<std::string> Bodies(const std::vector<MessageView>& v) {
  std::vector<std::string> out;
  for (const MessageView& m : v) out.push_back(m.undecryptable ? "<undecryptable>" : m.body);
  return out;
}

TEST(ConfirmSafetyNumberTest, AcceptsOnlyTheWholeNumberOrQrPayload) {
  const std::string digits = "123456789012345678901234567890098765432109876543210987654321";
  ASSERT_EQ(digits.size(), 60u);
  EXPECT_TRUE(ConfirmSafetyNumber(digits, digits).ok());
  EXPECT_TRUE(ConfirmSafetyNumber(digits, crypto::FormatSafetyNumber(digits)).ok());
  EXPECT_TRUE(ConfirmSafetyNumber(digits, " 12345-67890 12345.67890\n" + digits.substr(20)).ok());
  EXPECT_TRUE(ConfirmSafetyNumber(digits, crypto::SafetyNumberQrPayload(digits)).ok());
  // Prefixes, however long, never confirm: the first half may be the user's own.
  for (size_t n : {10u, 30u, 59u}) {
    EXPECT_EQ(ConfirmSafetyNumber(digits, digits.substr(0, n)).code(),
              absl::StatusCode::kInvalidArgument)
        << n;
  }
  EXPECT_EQ(ConfirmSafetyNumber(digits, digits + "1").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConfirmSafetyNumber(digits, "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConfirmSafetyNumber(digits, "yes").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConfirmSafetyNumber(digits, crypto::SafetyNumberQrPayload(digits.substr(0, 30))).code(),
            absl::StatusCode::kInvalidArgument);
  std::string other = digits;
  other[59] = other[59] == '1' ? '2' : '1';  // Differs only in the very last digit.
  EXPECT_EQ(ConfirmSafetyNumber(digits, other).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ConfirmSafetyNumber(digits, crypto::SafetyNumberQrPayload(other)).code(),
            absl::StatusCode::kFailedPrecondition);
}

// The attack: the relay swaps the therapist's key; the user types the first digits of the
// number shown. For half of all pairs the first 30 digits are the user's own half, which does
// not depend on the contact's key at all; before the fix 10 digits were enough to accept.
TEST_F(TrustTest, AcceptKeyRefusesAnyPrefixOfTheNewSafetyNumber) {
  BuildClinicSharedProfiles();
  ASSERT_TRUE(client_->SendText("therapist", "hi").ok());
  FakeKeyChange(*client_, "Sam", "therapist");
  ASSERT_TRUE(client_->Contacts(true).ok());
  ASSERT_TRUE(client_->ResolveContact("therapist")->identity_changed);
  const std::string digits = client_->SafetyNumber("therapist")->digits;
  for (size_t n : {10u, 30u, 59u}) {
    EXPECT_EQ(client_->AcceptKey("therapist", digits.substr(0, n)).code(),
              absl::StatusCode::kInvalidArgument)
        << n;
    EXPECT_TRUE(client_->ResolveContact("therapist")->identity_changed) << n;
  }
  EXPECT_EQ(client_->SendText("therapist", "still blocked").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The whole number (as shown, in groups) accepts.
  ASSERT_TRUE(client_->AcceptKey("therapist", crypto::FormatSafetyNumber(digits)).ok());
  EXPECT_FALSE(client_->ResolveContact("therapist")->identity_changed);
}

TEST_F(TrustTest, VerifyNeedsTheWholeNumberAndHoldsOnlyForTheVerifiedKey) {
  BuildClinicSharedProfiles();
  ASSERT_TRUE(client_->SendText("therapist", "hi").ok());
  auto sn = client_->SafetyNumber("therapist");
  ASSERT_TRUE(sn.ok());
  EXPECT_EQ(client_->Verify("therapist", sn->digits.substr(0, 30)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Verify("therapist", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(client_->SafetyNumber("therapist")->verified);
  ASSERT_TRUE(client_->Verify("therapist", sn->qr_payload).ok());
  EXPECT_TRUE(client_->SafetyNumber("therapist")->verified);
  EXPECT_TRUE(client_->ResolveContact("therapist")->verified);
  // The verification names the key: once the pinned key is another one (accepted after a
  // change), the contact is no longer verified, even if a stale flag says so.
  const std::string id = FakeKeyChange(*client_, "Sam", "therapist");
  Edit("Sam", [&](LocalStore::Txn& txn) -> absl::Status {
    auto c = txn.Get<v1::ContactRecord>(names::Contact(id));
    if (!c.ok() || !c->has_value()) return absl::InternalError("no contact");
    (*c)->set_verified(true);  // A flag alone must not count.
    return txn.Put(names::Contact(id), **c);
  });
  EXPECT_FALSE(client_->ResolveContact("therapist")->verified);
  EXPECT_FALSE(client_->SafetyNumber("therapist")->verified);
}

// The attack: a client registers with the display name "admin"; the therapist sends to
// "admin". Before the fix names were matched before roles, so the client got the message.
TEST_F(TrustTest, ChosenNameNeverShadowsARoleOrAnotherContact) {
  admin_ = Join("Admin", bootstrap_);
  ASSERT_NE(admin_, nullptr);
  therapist_ = Join("Rivera", Invite(*admin_, v1::ROLE_THERAPIST));
  ASSERT_NE(therapist_, nullptr);
  client_ = Join("admin", Invite(*therapist_, v1::ROLE_CLIENT));  // Calls itself "admin".
  ASSERT_NE(client_, nullptr);
  ASSERT_TRUE(client_->SendText("therapist", "hello").ok());  // Shares the name end to end.
  ASSERT_TRUE(therapist_->Sync().ok());
  const std::string client_id = therapist_->ResolveContact("client")->id;
  ASSERT_EQ(therapist_->ResolveContact("client")->display_name, "admin");

  auto sent = therapist_->SendText("admin", "the admin's eyes only");
  ASSERT_EQ(sent.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(sent.status().message());
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_NE(message.find("'admin' could be: "), std::string::npos) << message;
  EXPECT_NE(message.find("client " + client_id.substr(0, 8) + " (calls itself admin)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("admin " + admin_->Account()->id.substr(0, 8)), std::string::npos)
      << message;
  EXPECT_NE(message.find("use the id"), std::string::npos) << message;
  auto got = client_->Sync();
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());  // Nothing reached the client.

  // The role alone is unambiguous where no name competes, and the result says who it went to.
  auto to_client = therapist_->SendText("client", "for the client");
  ASSERT_TRUE(to_client.ok()) << to_client.status();
  EXPECT_EQ(to_client->recipient.id, client_id);
  EXPECT_EQ(to_client->recipient.role, v1::ROLE_CLIENT);
  // A whole id always names exactly that contact.
  EXPECT_EQ(therapist_->ResolveContact(client_id)->id, client_id);
  EXPECT_EQ(therapist_->ResolveContact("nobody").status().code(), absl::StatusCode::kNotFound);
}

// The attack: the relay re-delivers a session's first (prekey) message, which used no one-time
// prekey, under a new envelope id. Before the fix the responder rebuilt the old session from
// it and made it active, so its next reply was unreadable for the other side.
TEST_F(TrustTest, ReplayedFirstMessageLeavesSessionsExactlyAsTheyWere) {
  BuildClinicSharedProfiles();
  ASSERT_TRUE(client_->Contacts(true).ok());
  const std::string therapist_hex = client_->ResolveContact("therapist")->id;
  const std::string client_hex = therapist_->ResolveContact("client")->id;
  // Sam starts the session from the therapist's signed prekey only (no one-time prekey), as
  // happens when the therapist's one-time prekeys have run out.
  std::optional<crypto::SignedPreKeyPair> spk;
  std::string therapist_key;
  std::string therapist_account;
  crypto::PublicKey therapist_device_key{};
  Edit("Rivera", [&](LocalStore::Txn& txn) -> absl::Status {
    auto account = txn.Get<v1::AccountRecord>(names::Account());
    if (!account.ok() || !account->has_value()) return absl::InternalError("no account");
    therapist_account = (*account)->account_id();
    auto device_bytes = txn.GetBytes(names::DeviceKey());
    if (!device_bytes.ok() || !device_bytes->has_value()) return absl::InternalError("no device key");
    v1::IdentityRecord device_rec;
    if (auto s = crypto::ParseRecord((*device_bytes)->span(), &device_rec); !s.ok()) return s;
    auto device_key = crypto::IdentityKeyPair::FromRecord(device_rec);
    if (!device_key.ok()) return device_key.status();
    therapist_device_key = device_key->public_key();
    auto bytes = txn.GetBytes(names::SignedPreKey((*account)->current_signed_prekey_id()));
    if (!bytes.ok() || !bytes->has_value()) return absl::InternalError("no signed prekey");
    v1::PreKeyPairRecord rec;
    if (auto s = crypto::ParseRecord((*bytes)->span(), &rec); !s.ok()) return s;
    auto pair = crypto::SignedPreKeyPair::FromRecord(rec);
    if (!pair.ok()) return pair.status();
    spk.emplace(*std::move(pair));
    return absl::OkStatus();
  });
  ASSERT_TRUE(spk.has_value());
  Edit("Sam", [&](LocalStore::Txn& txn) -> absl::Status {
    auto contact = txn.Get<v1::ContactRecord>(names::Contact(therapist_hex));
    if (!contact.ok() || !contact->has_value()) return absl::InternalError("no contact");
    therapist_key = (*contact)->identity_key();
    auto id_bytes = txn.GetBytes(names::Identity());
    if (!id_bytes.ok() || !id_bytes->has_value()) return absl::InternalError("no identity");
    v1::IdentityRecord id_rec;
    if (auto s = crypto::ParseRecord((*id_bytes)->span(), &id_rec); !s.ok()) return s;
    auto me = crypto::IdentityKeyPair::FromRecord(id_rec);
    if (!me.ok()) return me.status();
    v1::PreKeyBundle bundle;
    bundle.set_identity_key(therapist_key);
    bundle.set_account_id(therapist_account);
    bundle.set_device_id(1);
    *bundle.mutable_signed_prekey() = spk->ToPublic();
    auto pinned = crypto::ParsePublicKey(crypto::AsBytes(therapist_key));
    if (!pinned.ok()) return pinned.status();
    auto verified = crypto::VerifyDeviceBundle(bundle, *pinned, crypto::AsBytes(therapist_account),
                                               1, therapist_device_key,
                                               absl::ToUnixSeconds(absl::Now()));
    if (!verified.ok()) return verified.status();
    crypto::SystemRandom rng;
    auto session = crypto::Session::Initiate(*me, *verified, rng);
    if (!session.ok()) return session.status();
    return StoreSession(txn, names::Session(therapist_hex, 1), *session);
  });

  // The first message is captured on its way (held in Sam's outbox while the relay is down).
  StopRelay();
  auto first = client_->SendText("therapist", "first message");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->sent);
  std::optional<v1::OutboxRecord> captured;
  Edit("Sam", [&](LocalStore::Txn& txn) -> absl::Status {
    auto r = txn.Get<v1::OutboxRecord>(names::Outbox(first->message_id));
    if (!r.ok() || !r->has_value()) return absl::InternalError("not queued");
    captured = **r;
    return absl::OkStatus();
  });
  ASSERT_TRUE(captured.has_value());
  ASSERT_EQ(captured->messages_size(), 1);
  ASSERT_EQ(captured->messages(0).type(), v1::ENVELOPE_TYPE_PREKEY_MESSAGE);
  auto parsed = crypto::ParsePreKeyMessage(crypto::AsBytes(captured->messages(0).payload()));
  ASSERT_TRUE(parsed.ok());
  ASSERT_FALSE(parsed->one_time_prekey_id.has_value());
  RestartRelay();

  // They converse: the session is established on both sides and ratchets on.
  ASSERT_TRUE(client_->Sync().ok());
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Bodies(*got), std::vector<std::string>{"first message"});
  ASSERT_TRUE(therapist_->SendText("client", "reply one").ok());
  auto back = client_->Sync();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(Bodies(*back), std::vector<std::string>{"reply one"});
  ASSERT_TRUE(client_->SendText("therapist", "second").ok());
  got = therapist_->Sync();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Bodies(*got), std::vector<std::string>{"second"});
  const std::vector<std::string> before = SessionBytes("Rivera", client_hex);
  ASSERT_FALSE(before[0].empty());
  const uint64_t history_before = therapist_->ResolveContact("client")->messages;

  // The relay replays the captured first message under a new envelope id.
  Edit("Sam", [&](LocalStore::Txn& txn) -> absl::Status {
    v1::OutboxRecord replay = *captured;
    replay.set_message_id(std::string(16, '\x5a'));
    replay.set_has_history(false);
    if (auto s = txn.Put(names::Outbox(ToHex(replay.message_id())), replay); !s.ok()) return s;
    v1::IdList index;
    *index.add_ids() = replay.message_id();
    return txn.Put(names::OutboxIndex(), index);
  });
  ASSERT_TRUE(client_->Sync().ok());  // Flushes the replay to the relay.
  got = therapist_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty()) << Bodies(*got)[0];  // Dropped: no entry, not even undecryptable.
  EXPECT_EQ(SessionBytes("Rivera", client_hex), before);
  EXPECT_EQ(therapist_->ResolveContact("client")->messages, history_before);
  EXPECT_TRUE(therapist_->Sync()->empty());  // Acknowledged: not delivered again.

  // The conversation goes on in both directions.
  ASSERT_TRUE(therapist_->SendText("client", "after the replay").ok());
  back = client_->Sync();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(Bodies(*back), std::vector<std::string>{"after the replay"});
  ASSERT_TRUE(client_->SendText("therapist", "still here").ok());
  got = therapist_->Sync();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Bodies(*got), std::vector<std::string>{"still here"});
}

// A relay delivering a message under another envelope id than its content id: the message is
// not taken (the sessions do not move), so the genuine delivery still opens.
TEST_F(TrustTest, ContentUnderAnotherEnvelopeIdChangesNothing) {
  BuildClinicSharedProfiles();
  ASSERT_TRUE(client_->SendText("therapist", "opening").ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  ASSERT_TRUE(therapist_->SendText("client", "welcome").ok());
  ASSERT_TRUE(client_->Sync().ok());
  ASSERT_TRUE(therapist_->Sync().ok());  // Takes Sam's delivery receipt: the sessions settle.
  const std::string client_hex = therapist_->ResolveContact("client")->id;

  StopRelay();
  auto queued = client_->SendText("therapist", "the real one");
  ASSERT_TRUE(queued.ok());
  ASSERT_FALSE(queued->sent);
  std::optional<v1::OutboxRecord> original;
  Edit("Sam", [&](LocalStore::Txn& txn) -> absl::Status {
    auto r = txn.Get<v1::OutboxRecord>(names::Outbox(queued->message_id));
    if (!r.ok() || !r->has_value()) return absl::InternalError("not queued");
    original = **r;
    // The relay sees it first under a rewritten id.
    v1::OutboxRecord rewritten = **r;
    rewritten.set_message_id(std::string(16, '\x3c'));
    txn.Delete(names::Outbox(queued->message_id));
    if (auto s = txn.Put(names::Outbox(ToHex(rewritten.message_id())), rewritten); !s.ok()) {
      return s;
    }
    v1::IdList index;
    *index.add_ids() = rewritten.message_id();
    return txn.Put(names::OutboxIndex(), index);
  });
  RestartRelay();
  ASSERT_TRUE(client_->Sync().ok());
  const std::vector<std::string> before = SessionBytes("Rivera", client_hex);
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(SessionBytes("Rivera", client_hex), before);

  // The genuine envelope (matching ids) still opens.
  Edit("Sam", [&](LocalStore::Txn& txn) -> absl::Status {
    if (auto s = txn.Put(names::Outbox(queued->message_id), *original); !s.ok()) return s;
    v1::IdList index;
    *index.add_ids() = original->message_id();
    return txn.Put(names::OutboxIndex(), index);
  });
  ASSERT_TRUE(client_->Sync().ok());
  got = therapist_->Sync();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Bodies(*got), std::vector<std::string>{"the real one"});
}

}  // namespace
}  // namespace alliance::client::testing

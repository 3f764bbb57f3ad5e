// The real client library against a relay that misbehaves on purpose (DESIGN §2: "a curious or
// compromised relay"). Each attack is made by HostileRelay, a proxy in front of a real relay,
// and each test pins what the client does about it: the attack is rejected, or shown to the
// person (a gap, a key change), and never silently accepted.
//
// Cast: therapist "Rivera", her client "Sam", and the clinic's admin (linked to Rivera only).
#include "tests/client/hostile_relay.h"

#include <algorithm>
#include <atomic>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/session.h"
#include "crypto/x3dh.h"
#include "tests/client/client_fixture.h"

namespace alliance::client::testing {
namespace {

constexpr int64_t kDay = 24 * 3600;

// X25519 public keys of small order, canonical and not, as 32 little-endian bytes: 0 and 1,
// the two points of order 8, and p - 1, p, p + 1 (p = 2^255 - 19). Every DH with one of them
// gives the all-zero output (a scalar clamped to a multiple of 8 kills the point), i.e. a
// shared secret the relay knows.
const char* const kSmallOrderPoints[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

std::string Bytes(const char* hex) { return absl::HexStringToBytes(hex); }

std::vector<std::string> Bodies(const std::vector<MessageView>& messages) {
  std::vector<std::string> out;
  for (const MessageView& m : messages) {
    if (!m.undecryptable) out.push_back(m.body);
  }
  return out;
}

class HostileRelayTest : public ClientFixture {
 protected:
  void SetUp() override {
    ClientFixture::SetUp();
    auto hostile = HostileRelay::Start(Address());
    ASSERT_TRUE(hostile.ok()) << hostile.status();
    hostile_ = *std::move(hostile);
    admin_ = Join("Admin", bootstrap_);
    ASSERT_NE(admin_, nullptr);
    therapist_ = Join("Rivera", Invite(*admin_, v1::ROLE_THERAPIST));
    ASSERT_NE(therapist_, nullptr);
    client_ = Join("Sam", Invite(*therapist_, v1::ROLE_CLIENT));
    ASSERT_NE(client_, nullptr);
  }

  void TearDown() override {
    client_.reset();
    therapist_.reset();
    admin_.reset();
    hostile_.reset();
    ClientFixture::TearDown();
  }

  // A client of the hostile relay (the real one is only ever reached through it), on the
  // fixture's clock.
  std::unique_ptr<Client> Join(const std::string& name, const std::string& invite) {
    ClientOptions o = Options(name);
    o.relay.address = hostile_->address();
    o.clock = [this] { return Now(); };
    auto c = Client::Init(o, Pass("pw-" + name));
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    absl::Status s = (*c)->Register(invite, name);
    EXPECT_TRUE(s.ok()) << s;
    return *std::move(c);
  }

  // The clients' clock: the real time moved on by whole days when a test says so (the relay
  // keeps real time; only the clients' prekey ages depend on it).
  absl::Time Now() const { return absl::Now() + absl::Seconds(days_ahead_.load() * kDay); }
  void AdvanceDays(int64_t days) { days_ahead_ += days; }

  static v1::Address AddressOf(Client& c) {
    auto account = c.Account();
    EXPECT_TRUE(account.ok()) << account.status();
    v1::Address a;
    a.set_account_id(absl::HexStringToBytes(account.ok() ? account->id : ""));
    a.set_device_id(1);
    return a;
  }

  static bool Same(const v1::Address& a, const v1::Address& b) {
    return a.account_id() == b.account_id() && a.device_id() == b.device_id();
  }

  // The last envelope `from` sent through the relay.
  v1::Envelope LastSentBy(Client& from) {
    const v1::Address a = AddressOf(from);
    std::vector<v1::Envelope> sent = hostile_->Sent();
    for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
      if (Same(it->sender(), a)) return *it;
    }
    ADD_FAILURE() << "nothing sent";
    return v1::Envelope();
  }

  std::vector<MessageView> SyncOk(Client& c) {
    auto got = c.Sync();
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : std::vector<MessageView>();
  }

  void SendOk(Client& c, const std::string& to, const std::string& body) {
    auto r = c.SendText(to, body);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->sent);
  }

  ContactView Contact(Client& c, const std::string& ref) {
    auto v = c.ResolveContact(ref);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : ContactView();
  }

  // Incoming texts in `c`'s history with `ref` that decrypted.
  std::vector<std::string> Received(Client& c, const std::string& ref) {
    auto h = c.History(ref);
    EXPECT_TRUE(h.ok()) << h.status();
    std::vector<std::string> out;
    if (!h.ok()) return out;
    for (const MessageView& m : *h) {
      if (m.direction == v1::DIRECTION_INCOMING && !m.undecryptable) out.push_back(m.body);
    }
    return out;
  }

  // A session both ways between Rivera and Sam (Rivera started it; both sides have answered).
  void Converse() {
    SendOk(*therapist_, "client", "hello Sam");
    EXPECT_EQ(Bodies(SyncOk(*client_)), std::vector<std::string>{"hello Sam"});
    SendOk(*client_, "therapist", "hello Rivera");
    EXPECT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"hello Rivera"});
    SyncOk(*client_);  // Delivery receipts.
  }

  std::unique_ptr<HostileRelay> hostile_;
  std::atomic<int64_t> days_ahead_{0};
};

TEST_F(HostileRelayTest, AnHonestProxyChangesNothing) {
  Converse();
  EXPECT_EQ(Contact(*client_, "therapist").missing_messages, 0u);
  EXPECT_FALSE(hostile_->Bundles().empty());
}

// 0. Devices. The relay lists a device the therapist's identity key never signed for: as an
// active device, and in a device list it altered (a newer version, signed by no one). Sam
// encrypts to the therapist's real device only, and a message from the invented device is
// never read.
TEST_F(HostileRelayTest, ADeviceTheRelayInventsIsNeverEncryptedToNorBelieved) {
  const v1::Address therapist = AddressOf(*therapist_);
  ASSERT_TRUE(client_->Contacts(true).ok());  // The therapist's real list, pinned.
  hostile_->SetContactsHook([&](const v1::Address&, v1::ListContactsResponse* resp) {
    for (v1::Contact& c : *resp->mutable_contacts()) {
      if (c.account_id() != therapist.account_id()) continue;
      c.add_device_ids(9);
      if (!c.has_device_list()) continue;
      v1::DeviceEntry* e = c.mutable_device_list()->add_devices();
      e->set_device_id(9);
      e->set_device_key(std::string(32, '\x42'));
      e->set_added_at(1);
      c.mutable_device_list()->set_version(c.device_list().version() + 1);
    }
  });
  ASSERT_TRUE(client_->Contacts(true).ok());
  SendOk(*client_, "therapist", "for the real device only");
  SendOk(*client_, "therapist", "and again");
  for (const v1::Envelope& e : hostile_->Sent()) {
    EXPECT_NE(e.recipient().device_id(), 9u) << "encrypted to a device the relay invented";
  }
  EXPECT_EQ(Bodies(SyncOk(*therapist_)),
            (std::vector<std::string>{"for the real device only", "and again"}));
  // No "added a device" line either: the altered list was never pinned.
  auto history = client_->History("therapist");
  ASSERT_TRUE(history.ok()) << history.status();
  for (const MessageView& m : *history) EXPECT_FALSE(m.device_added);

  // An envelope "from" the invented device, carrying a copy of a real one, is never opened.
  SendOk(*therapist_, "client", "a real one");
  hostile_->SetDeliveryHook([&](const v1::Address&, std::vector<v1::Envelope> backlog) {
    for (v1::Envelope& e : backlog) {
      if (e.sender().account_id() == therapist.account_id()) {
        e.mutable_sender()->set_device_id(9);
        e.set_message_id(std::string(16, '\x09'));
      }
    }
    return backlog;
  });
  EXPECT_TRUE(Bodies(SyncOk(*client_)).empty());
  hostile_->SetDeliveryHook(nullptr);
}

// 1. Replay. The relay delivers again what was delivered and acknowledged: under its own
// envelope id (a redelivery), and under a fresh id (so the envelope-id check cannot catch it).
// Neither shows a message twice, and the sessions go on as before.
TEST_F(HostileRelayTest, ReplayedEnvelopesAreNotShownTwiceAndLeaveTheSessionIntact) {
  SendOk(*therapist_, "client", "one");  // A prekey message.
  ASSERT_EQ(Bodies(SyncOk(*client_)), std::vector<std::string>{"one"});
  SendOk(*client_, "therapist", "reply");
  ASSERT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"reply"});
  SendOk(*therapist_, "client", "two");  // An ordinary ratchet message.
  ASSERT_EQ(Bodies(SyncOk(*client_)), std::vector<std::string>{"two"});

  const v1::Address sam = AddressOf(*client_);
  std::vector<v1::Envelope> old;
  for (const v1::Envelope& e : hostile_->Delivered()) {
    if (Same(e.recipient(), sam)) old.push_back(e);
  }
  ASSERT_GE(old.size(), 2u);

  for (const bool fresh_ids : {false, true}) {
    SCOPED_TRACE(fresh_ids ? "under fresh envelope ids" : "under their own envelope ids");
    hostile_->SetDeliveryHook([&](const v1::Address& to, std::vector<v1::Envelope> backlog) {
      if (!Same(to, sam)) return backlog;
      for (v1::Envelope e : old) {
        if (fresh_ids) e.set_message_id(std::string(16, static_cast<char>(0x40 + backlog.size())));
        backlog.push_back(std::move(e));
      }
      return backlog;
    });
    std::vector<MessageView> got = SyncOk(*client_);
    hostile_->SetDeliveryHook(nullptr);
    // A replayed ratchet message may be listed as one that could not be opened (every
    // decryption failure looks the same), never as its text again.
    EXPECT_TRUE(Bodies(got).empty());
    EXPECT_EQ(Received(*client_, "therapist"), (std::vector<std::string>{"one", "two"}));
  }

  // No damage: both directions still work, nothing is reported missing.
  SendOk(*therapist_, "client", "three");
  EXPECT_EQ(Bodies(SyncOk(*client_)), std::vector<std::string>{"three"});
  SendOk(*client_, "therapist", "four");
  EXPECT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"four"});
  EXPECT_EQ(Contact(*client_, "therapist").missing_messages, 0u);
  EXPECT_EQ(Contact(*therapist_, "client").missing_messages, 0u);
  EXPECT_FALSE(Contact(*client_, "therapist").identity_changed);
}

// 2. Reflection. The relay hands Sam his own envelope as if Rivera had sent it: his first
// (prekey) message, and a later ratchet message. Neither opens as a message from Rivera.
TEST_F(HostileRelayTest, OwnMessageReflectedBackAsThePeersIsRejected) {
  const v1::Address sam = AddressOf(*client_);
  const v1::Address rivera = AddressOf(*therapist_);
  std::optional<v1::Envelope> reflect;
  hostile_->SetDeliveryHook([&](const v1::Address& to, std::vector<v1::Envelope> backlog) {
    if (Same(to, sam) && reflect.has_value()) {
      for (const bool fresh_id : {false, true}) {
        v1::Envelope e = *reflect;
        *e.mutable_sender() = rivera;
        *e.mutable_recipient() = sam;
        if (fresh_id) e.set_message_id(std::string(16, '\x7e'));
        backlog.push_back(std::move(e));
      }
      reflect.reset();
    }
    return backlog;
  });

  SendOk(*client_, "therapist", "my first words");  // Sam starts the session: a prekey message.
  reflect = LastSentBy(*client_);
  ASSERT_EQ(reflect->type(), v1::ENVELOPE_TYPE_PREKEY_MESSAGE);
  EXPECT_TRUE(Bodies(SyncOk(*client_)).empty());
  EXPECT_TRUE(Received(*client_, "therapist").empty());
  EXPECT_FALSE(Contact(*client_, "therapist").identity_changed);

  ASSERT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"my first words"});
  SendOk(*therapist_, "client", "welcome");
  ASSERT_EQ(Bodies(SyncOk(*client_)), std::vector<std::string>{"welcome"});
  SendOk(*client_, "therapist", "thanks");  // A ratchet message now.
  reflect = LastSentBy(*client_);
  ASSERT_EQ(reflect->type(), v1::ENVELOPE_TYPE_MESSAGE);
  EXPECT_TRUE(Bodies(SyncOk(*client_)).empty());
  EXPECT_EQ(Received(*client_, "therapist"), std::vector<std::string>{"welcome"});

  // The session is undamaged both ways.
  hostile_->SetDeliveryHook(nullptr);
  EXPECT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"thanks"});
  SendOk(*therapist_, "client", "see you");
  EXPECT_EQ(Bodies(SyncOk(*client_)), std::vector<std::string>{"see you"});
  EXPECT_EQ(Contact(*client_, "therapist").missing_messages, 0u);
  EXPECT_FALSE(Contact(*client_, "therapist").identity_changed);
}

// 3. Reordering. The relay delivers Sam's mailbox backwards, while the session is being set up
// (prekey messages) and once it runs (ratchet messages, across a DH step). Every message is
// shown once with its own text, and the sender's authenticated times keep the sender's order.
TEST_F(HostileRelayTest, ReorderedEnvelopesAreAllShownWithTheirOwnContent) {
  const v1::Address sam = AddressOf(*client_);
  hostile_->SetDeliveryHook([&](const v1::Address& to, std::vector<v1::Envelope> backlog) {
    if (Same(to, sam)) std::reverse(backlog.begin(), backlog.end());
    return backlog;
  });
  for (const std::string round : {"a", "b"}) {
    SCOPED_TRACE(round == "a" ? "prekey messages" : "ratchet messages");
    std::vector<std::string> sent;
    for (int i = 1; i <= 4; ++i) {
      sent.push_back(round + std::to_string(i));
      SendOk(*therapist_, "client", sent.back());
    }
    std::vector<MessageView> got = SyncOk(*client_);
    ASSERT_EQ(got.size(), 4u);
    std::vector<std::string> bodies = Bodies(got);
    EXPECT_EQ(bodies, (std::vector<std::string>(sent.rbegin(), sent.rend())));
    std::map<std::string, absl::Time> sent_at;
    for (const MessageView& m : got) sent_at[m.body] = m.sent_at;
    for (size_t i = 1; i < sent.size(); ++i) EXPECT_LE(sent_at[sent[i - 1]], sent_at[sent[i]]);
    EXPECT_EQ(Contact(*client_, "therapist").missing_messages, 0u);
    SendOk(*client_, "therapist", "got " + round);  // Rivera's next chain starts after this.
    ASSERT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"got " + round});
  }
}

// 4. Withholding. The relay keeps back one message and delivers the ones after it: Sam sees
// that a message from Rivera is missing, and the gap closes when it is delivered late.
TEST_F(HostileRelayTest, WithheldEnvelopeIsShownMissingAndClearsWhenDeliveredLate) {
  Converse();
  auto two = therapist_->SendText("client", "two");
  ASSERT_TRUE(two.ok()) << two.status();
  const absl::Time before_three = absl::Now();
  SendOk(*therapist_, "client", "three");
  const std::string withheld = absl::HexStringToBytes(two->message_id);
  hostile_->SetDeliveryHook([&](const v1::Address&, std::vector<v1::Envelope> backlog) {
    std::erase_if(backlog, [&](const v1::Envelope& e) { return e.message_id() == withheld; });
    return backlog;
  });
  EXPECT_EQ(Bodies(SyncOk(*client_)), std::vector<std::string>{"three"});
  ContactView seen = Contact(*client_, "therapist");
  EXPECT_EQ(seen.missing_messages, 1u) << "the gap in the counters is shown";
  ASSERT_TRUE(seen.missing_before.has_value());
  EXPECT_GE(*seen.missing_before, before_three - absl::Seconds(5));
  EXPECT_EQ(Bodies(SyncOk(*client_)), std::vector<std::string>{}) << "still withheld";
  EXPECT_EQ(Contact(*client_, "therapist").missing_messages, 1u);

  // Never acknowledged, so still in the relay's mailbox: delivered late, shown, gap closed.
  hostile_->SetDeliveryHook(nullptr);
  EXPECT_EQ(Bodies(SyncOk(*client_)), std::vector<std::string>{"two"});
  seen = Contact(*client_, "therapist");
  EXPECT_EQ(seen.missing_messages, 0u);
  EXPECT_FALSE(seen.missing_before.has_value());
}

// 5. A swapped sender. The relay delivers Sam's envelopes to Rivera claiming they come from the
// admin: Sam's first (prekey) message, and a later ratchet message. Neither is shown as the
// admin's, the admin's identity is not put in doubt, and the sessions with Sam are unharmed
// (the swallowed messages show as missing from Sam once later ones arrive).
TEST_F(HostileRelayTest, EnvelopeClaimingAnotherSenderIsRejected) {
  const v1::Address sam = AddressOf(*client_);
  const v1::Address rivera = AddressOf(*therapist_);
  const v1::Address admin = AddressOf(*admin_);
  bool swap = true;
  uint32_t swapped = 0;  // Envelopes of Sam's (profile, receipts, texts) given to the admin.
  hostile_->SetDeliveryHook([&](const v1::Address& to, std::vector<v1::Envelope> backlog) {
    if (!Same(to, rivera) || !swap) return backlog;
    for (v1::Envelope& e : backlog) {
      if (!Same(e.sender(), sam)) continue;
      *e.mutable_sender() = admin;
      ++swapped;
    }
    return backlog;
  });

  SendOk(*client_, "therapist", "first, from Sam");  // Prekey message.
  ASSERT_EQ(LastSentBy(*client_).type(), v1::ENVELOPE_TYPE_PREKEY_MESSAGE);
  EXPECT_TRUE(Bodies(SyncOk(*therapist_)).empty());
  EXPECT_TRUE(Received(*therapist_, "admin").empty());
  EXPECT_FALSE(Contact(*therapist_, "admin").identity_changed);

  // Sam's session is still waiting for an answer, so his next message is again a prekey message
  // of the same session: delivered honestly, it opens, and the first one is counted missing.
  swap = false;
  SendOk(*client_, "therapist", "second, from Sam");
  EXPECT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"second, from Sam"});
  EXPECT_EQ(Contact(*therapist_, "client").missing_messages, swapped);

  SendOk(*therapist_, "client", "answer");
  ASSERT_EQ(Bodies(SyncOk(*client_)), std::vector<std::string>{"answer"});
  swap = true;
  SendOk(*client_, "therapist", "third, from Sam");  // A ratchet message now.
  ASSERT_EQ(LastSentBy(*client_).type(), v1::ENVELOPE_TYPE_MESSAGE);
  EXPECT_TRUE(Bodies(SyncOk(*therapist_)).empty());
  EXPECT_TRUE(Received(*therapist_, "admin").empty());
  EXPECT_FALSE(Contact(*therapist_, "admin").identity_changed);

  swap = false;
  SendOk(*client_, "therapist", "fourth, from Sam");
  EXPECT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"fourth, from Sam"});
  EXPECT_EQ(Received(*therapist_, "client"),
            (std::vector<std::string>{"second, from Sam", "fourth, from Sam"}));
  EXPECT_EQ(Contact(*therapist_, "client").missing_messages, swapped);
  EXPECT_FALSE(Contact(*therapist_, "client").identity_changed);
  // The admin's own conversation with Rivera is unaffected.
  SendOk(*admin_, "therapist", "from the admin");
  EXPECT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"from the admin"});
  EXPECT_FALSE(Contact(*therapist_, "admin").identity_changed);
}

// 6. A bundle under another account's identity key (the admin's, with her own valid signed
// prekey): Sam does not encrypt to it; it is a key change he must accept after comparing
// safety numbers, and until then nothing is sent.
TEST_F(HostileRelayTest, BundleWithAnotherAccountsIdentityKeyBlocksSending) {
  SendOk(*therapist_, "admin", "hello admin");  // Lets the relay keep a bundle of the admin's.
  std::vector<v1::PreKeyBundle> seen = hostile_->Bundles();
  ASSERT_FALSE(seen.empty());
  const v1::PreKeyBundle admins = seen.back();
  const std::string sam_pinned = [&] {
    auto sn = client_->SafetyNumber("therapist");
    EXPECT_TRUE(sn.ok()) << sn.status();
    return sn.ok() ? sn->digits : "";
  }();
  hostile_->SetBundleHook([&](const v1::Address&, v1::PreKeyBundle* b) {
    const std::string account = b->account_id();
    *b = admins;
    b->set_account_id(account);  // Still claims to be the therapist's.
  });
  const size_t sent_before = hostile_->Sent().size();

  auto r = client_->SendText("therapist", "for Rivera only");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contact(*client_, "therapist").identity_changed);
  auto sn = client_->SafetyNumber("therapist");
  ASSERT_TRUE(sn.ok()) << sn.status();
  EXPECT_NE(sn->digits, sam_pinned) << "the number to compare is the new key's";
  // Still blocked with an honest relay again, until the person accepts the key.
  hostile_->SetBundleHook(nullptr);
  r = client_->SendText("therapist", "for Rivera only");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(hostile_->Sent().size(), sent_before) << "nothing was encrypted to the swapped key";
  EXPECT_TRUE(Bodies(SyncOk(*therapist_)).empty());
}

// 7. Bundles with a small-order X25519 key in the one-time prekey, which is not signed, so the
// relay can put anything there. Every DH with such a key gives the all-zero output, a secret the
// relay knows; the client refuses the bundle instead of encrypting under it, stores and sends
// nothing, and an honest bundle works afterwards. (One test per relay: its limit of 10 bundle
// fetches per pair of accounts would otherwise stop the loop.)
TEST_F(HostileRelayTest, BundleWithSmallOrderOneTimePreKeyIsRefused) {
  for (const char* point : kSmallOrderPoints) {
    SCOPED_TRACE(point);
    hostile_->SetBundleHook([&](const v1::Address&, v1::PreKeyBundle* b) {
      if (!b->has_one_time_prekey()) b->mutable_one_time_prekey()->set_id(7);
      b->mutable_one_time_prekey()->set_public_key(Bytes(point));
    });
    auto r = client_->SendText("therapist", "secret");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  }
  hostile_->SetBundleHook(nullptr);
  EXPECT_TRUE(hostile_->Sent().empty());
  EXPECT_FALSE(Contact(*client_, "therapist").identity_changed);
  SendOk(*client_, "therapist", "now for real");
  EXPECT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"now for real"});
}

// 7b. A small-order signed prekey fails its signature (the relay cannot sign for Rivera), and a
// prekey in non-canonical form (top bit set: X25519 ignores it, so it is a second encoding of
// the same key) is refused as malformed. Nothing is stored or sent.
TEST_F(HostileRelayTest, BundleWithSmallOrderOrNonCanonicalPreKeyIsRefused) {
  for (const int variant : {0, 1, 2}) {
    SCOPED_TRACE(variant);
    hostile_->SetBundleHook([&](const v1::Address&, v1::PreKeyBundle* b) {
      if (variant == 0) b->mutable_signed_prekey()->set_public_key(Bytes(kSmallOrderPoints[0]));
      if (variant == 1) b->mutable_signed_prekey()->set_public_key(Bytes(kSmallOrderPoints[2]));
      if (variant == 2) {
        ASSERT_TRUE(b->has_one_time_prekey());
        std::string key = b->one_time_prekey().public_key();
        key[31] = static_cast<char>(key[31] | 0x80);
        b->mutable_one_time_prekey()->set_public_key(key);
      }
    });
    auto r = client_->SendText("therapist", "secret");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  }
  hostile_->SetBundleHook(nullptr);
  EXPECT_TRUE(hostile_->Sent().empty());
  SendOk(*client_, "therapist", "now for real");
  EXPECT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"now for real"});
}

// The same at the crypto layer, for every DH the protocol does with a key from outside: the
// initiator's with the bundle's signed and one-time prekeys (a correctly signed small-order key
// included), the responder's with the initiator's ephemeral key, and the ratchet's with a
// header key. Each refuses the key and changes nothing.
TEST(SmallOrderKeyTest, EveryDhWithASmallOrderKeyFails) {
  crypto::SystemRandom rng;
  auto alice = crypto::IdentityKeyPair::Generate(rng);
  auto bob = crypto::IdentityKeyPair::Generate(rng);
  ASSERT_TRUE(alice.ok() && bob.ok());
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const crypto::SignedPreKeyPair spk = crypto::SignedPreKeyPair::Create(*bob, 1, now, rng);
  const crypto::OneTimePreKeyPair opk = crypto::OneTimePreKeyPair::Create(1, rng);
  for (const char* point : kSmallOrderPoints) {
    SCOPED_TRACE(point);
    crypto::PublicKey bad;
    std::memcpy(bad.data(), Bytes(point).data(), bad.size());

    // A signed prekey of small order, signed by its owner.
    v1::PreKeyBundle b;
    b.set_identity_key(std::string(reinterpret_cast<const char*>(bob->public_key().data()), 32));
    crypto::Signature sig = bob->Sign(crypto::SignedPreKeyMessage(1, now, bad));
    b.mutable_signed_prekey()->set_id(1);
    b.mutable_signed_prekey()->set_created_at(now);
    b.mutable_signed_prekey()->set_public_key(Bytes(point));
    b.mutable_signed_prekey()->set_signature(std::string(reinterpret_cast<char*>(sig.data()), 64));
    auto verified = crypto::VerifyPreKeyBundle(b, now);
    if (verified.ok()) {
      EXPECT_EQ(crypto::Session::Initiate(*alice, *verified, rng).status().code(),
                absl::StatusCode::kInvalidArgument);
    } else {
      EXPECT_EQ(verified.status().code(), absl::StatusCode::kInvalidArgument);
    }

    // A one-time prekey of small order next to a good signed prekey.
    *b.mutable_signed_prekey() = spk.ToPublic();
    b.mutable_one_time_prekey()->set_id(1);
    b.mutable_one_time_prekey()->set_public_key(Bytes(point));
    verified = crypto::VerifyPreKeyBundle(b, now);
    if (verified.ok()) {
      EXPECT_EQ(crypto::Session::Initiate(*alice, *verified, rng).status().code(),
                absl::StatusCode::kInvalidArgument);
    } else {
      EXPECT_EQ(verified.status().code(), absl::StatusCode::kInvalidArgument);
    }

    // The responder, given a small-order ephemeral key.
    EXPECT_EQ(
        crypto::X3dhRespond(*bob, spk.key, &opk.key, alice->public_key(), bad).status().code(),
        absl::StatusCode::kInvalidArgument);
  }
}

// 8. A stale signed prekey: the relay keeps serving the key Rivera used before she rotated it.
// Within the time she keeps old keys (rotation every 7 days, previous keys kept 30 days; Sam
// accepts keys up to 37 days old) this is safe: the key is still hers and still held, so only
// she can open the message, which arrives intact; the relay gains nothing but a little forward
// secrecy on that one key. Once the key is older than that, Sam refuses it (Rivera has deleted
// it by then, so a message to it could never be read).
TEST_F(HostileRelayTest, StaleSignedPreKeyIsUsedOnlyWhileItsOwnerStillHoldsIt) {
  SendOk(*admin_, "therapist", "hello");  // The relay keeps this bundle of Rivera's.
  const v1::SignedPreKey first = hostile_->Bundles().back().signed_prekey();
  hostile_->SetBundleHook(
      [&](const v1::Address&, v1::PreKeyBundle* b) { *b->mutable_signed_prekey() = first; });

  AdvanceDays(8);
  SyncOk(*therapist_);  // Rivera rotates her signed prekey.
  auto status = therapist_->PreKeyStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_NE(status->signed_prekey_id(), first.id());
  SendOk(*client_, "therapist", "eight days later");
  EXPECT_EQ(Bodies(SyncOk(*therapist_)), (std::vector<std::string>{"eight days later"}));

  // A second client of Rivera's, 38 days after `first` was made: refused as stale.
  client_.reset();
  AdvanceDays(30);
  SyncOk(*therapist_);  // Rivera rotates again and deletes `first`.
  std::unique_ptr<Client> alex = Join("Alex", Invite(*therapist_, v1::ROLE_CLIENT));
  ASSERT_NE(alex, nullptr);
  const size_t sent_before = hostile_->Sent().size();
  auto r = alex->SendText("therapist", "too late");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_EQ(hostile_->Sent().size(), sent_before);
  hostile_->SetBundleHook(nullptr);
  SendOk(*alex, "therapist", "with the current key");
  EXPECT_EQ(Bodies(SyncOk(*therapist_)), (std::vector<std::string>{"with the current key"}));
}

// 8b. A signed prekey whose signature is not by the bundle's identity key (the admin's signed
// prekey under Rivera's identity), or whose id was changed (the signature covers it): refused
// before any DH, nothing sent.
TEST_F(HostileRelayTest, SignedPreKeyNotSignedByTheIdentityKeyIsRefused) {
  SendOk(*therapist_, "admin", "hello admin");
  const v1::SignedPreKey admins = hostile_->Bundles().back().signed_prekey();
  for (const bool other_key : {true, false}) {
    SCOPED_TRACE(other_key ? "signed by another key" : "id changed");
    hostile_->SetBundleHook([&](const v1::Address&, v1::PreKeyBundle* b) {
      if (other_key) {
        *b->mutable_signed_prekey() = admins;
      } else {
        b->mutable_signed_prekey()->set_id(b->signed_prekey().id() + 1);
      }
    });
    auto r = client_->SendText("therapist", "secret");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
    EXPECT_FALSE(Contact(*client_, "therapist").identity_changed);
  }
  const v1::Address sam = AddressOf(*client_);
  for (const v1::Envelope& e : hostile_->Sent()) EXPECT_FALSE(Same(e.sender(), sam));
  hostile_->SetBundleHook(nullptr);
  SendOk(*client_, "therapist", "now for real");
  EXPECT_EQ(Bodies(SyncOk(*therapist_)), std::vector<std::string>{"now for real"});
}

}  // namespace
}  // namespace alliance::client::testing

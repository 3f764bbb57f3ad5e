// The client library against a real in-process relay: messages both ways, offline recipients,
// relay restarts, identity changes, wrong passphrases, damaged stores, crash-before-ack
// redelivery, and no plaintext in any profile directory.
#include "client/client.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "alliance/v1/client_records.pb.h"
#include "client/local_store.h"
#include "client/store_names.h"
#include "tests/client/client_fixture.h"

namespace alliance::client::testing {
namespace {

std::vector<std::string> Bodies(const std::vector<MessageView>& v) {
  std::vector<std::string> out;
  for (const MessageView& m : v) out.push_back(m.body);
  return out;
}

// True when any file under `dir` contains `needle`.
bool FileContains(const std::filesystem::path& file, const std::string& needle) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str().find(needle) != std::string::npos;
}

bool TreeContains(const std::filesystem::path& dir, const std::string& needle) {
  if (std::filesystem::is_regular_file(dir)) return FileContains(dir, needle);
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    if (f.is_regular_file() && FileContains(f.path(), needle)) return true;
  }
  return false;
}

using ClientTest = ClientFixture;

TEST_F(ClientTest, MessagesFlowBothWaysWithDeliveryReceipts) {
  BuildClinic();
  auto sent = client_->SendText("therapist", "Can we move Tuesday?");
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_TRUE(sent->sent);
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, "Can we move Tuesday?");
  EXPECT_EQ((*got)[0].contact_name, "Sam");  // Shared end to end, never through the relay.
  ASSERT_TRUE(therapist_->SendText("Sam", "Wednesday 10:00 works.").ok());
  auto back = client_->Sync();
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Bodies(*back), std::vector<std::string>{"Wednesday 10:00 works."});
  auto history = client_->History("therapist");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].direction, v1::DIRECTION_OUTGOING);
  EXPECT_EQ((*history)[0].state, v1::DELIVERY_STATE_DELIVERED);  // The therapist's receipt.
  EXPECT_EQ((*history)[1].direction, v1::DIRECTION_INCOMING);
}

TEST_F(ClientTest, SafetyNumbersMatchAndVerify) {
  BuildClinic();
  auto a = client_->SafetyNumber("therapist");
  auto b = therapist_->SafetyNumber("client");  // Names arrive with the first message.
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->digits, b->digits);
  EXPECT_FALSE(a->verified);
  ASSERT_TRUE(client_->Verify("therapist", a->formatted).ok());
  EXPECT_TRUE(client_->SafetyNumber("therapist")->verified);
}

TEST_F(ClientTest, RecipientOfflineThenOnline) {
  BuildClinic();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client_->SendText("therapist", "note " + std::to_string(i)).ok());
  }
  // The therapist's device was off; it comes online later and gets everything, in order.
  therapist_.reset();
  auto reopened = Client::Open(Options("Rivera"), Pass("pw-Rivera"));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto got = (*reopened)->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Bodies(*got), (std::vector<std::string>{"note 0", "note 1", "note 2"}));
}

TEST_F(ClientTest, ManyMessagesInARowKeepOrder) {
  BuildClinic();
  std::vector<std::string> expected;
  for (int i = 0; i < 60; ++i) {
    expected.push_back("message " + std::to_string(i));
    ASSERT_TRUE(client_->SendText("therapist", expected.back()).ok());
  }
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Bodies(*got), expected);
}

TEST_F(ClientTest, OutOfOrderDeliveryIsReassembled) {
  BuildClinic();
  ASSERT_TRUE(client_->SendText("therapist", "hello").ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  // Queue three messages while the relay is down, then reverse the outbox so the relay
  // receives (and delivers) them in the opposite order.
  client_.reset();
  auto sam = Client::Open(Options("Sam", /*hold_open=*/false), Pass("pw-Sam"));
  ASSERT_TRUE(sam.ok()) << sam.status();
  StopRelay();
  for (const char* text : {"first", "second", "third"}) {
    auto r = (*sam)->SendText("therapist", text);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->sent);
  }
  {
    auto store = LocalStore::Open(Options("Sam").profile_dir, Pass("pw-Sam"));
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)
                    ->Run([](LocalStore::Txn& txn) -> absl::Status {
                      auto index = txn.Get<v1::IdList>(names::OutboxIndex());
                      if (!index.ok() || !index->has_value())
                        return absl::InternalError("no outbox");
                      v1::IdList reversed;
                      for (int i = (*index)->ids_size() - 1; i >= 0; --i)
                        *reversed.add_ids() = (*index)->ids(i);
                      return txn.Put(names::OutboxIndex(), reversed);
                    })
                    .ok());
  }
  RestartRelay();
  // Flushes the outbox. The channel may still be backing off from the relay's restart (more so
  // on a loaded machine): that is UNAVAILABLE and the outbox keeps its order, so try again.
  absl::StatusOr<std::vector<MessageView>> flushed = (*sam)->Sync();
  for (int i = 0; i < 50 && absl::IsUnavailable(flushed.status()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    flushed = (*sam)->Sync();
  }
  ASSERT_TRUE(flushed.ok()) << flushed.status();
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Bodies(*got), (std::vector<std::string>{"third", "second", "first"}));
  auto history = therapist_->History("Sam");
  ASSERT_TRUE(history.ok());
  for (const MessageView& m : *history) EXPECT_FALSE(m.undecryptable);
}

TEST_F(ClientTest, RelayRestartMidConversationQueuesAndResends) {
  BuildClinic();
  ASSERT_TRUE(client_->SendText("therapist", "before restart").ok());
  StopRelay();
  auto queued = client_->SendText("therapist", "while down");
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_FALSE(queued->sent);
  EXPECT_TRUE(absl::IsUnavailable(queued->relay_error));
  EXPECT_NE(queued->relay_error.message().find("cannot reach relay"), std::string::npos);
  RestartRelay();
  auto after = client_->SendText("therapist", "after restart");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->sent) << after->relay_error;
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Bodies(*got),
            (std::vector<std::string>{"before restart", "while down", "after restart"}));
}

TEST_F(ClientTest, ChangedIdentityKeyBlocksSendingUntilAccepted) {
  BuildClinic();
  ASSERT_TRUE(client_->SendText("therapist", "hi").ok());
  const std::string before = client_->SafetyNumber("therapist")->digits;
  // Make the pinned key differ from the one the relay presents (as if the relay, or a new
  // device, presented a different identity): rewrite the pinned key in Sam's store.
  client_.reset();
  auto sam = Client::Open(Options("Sam", false), Pass("pw-Sam"));
  ASSERT_TRUE(sam.ok()) << sam.status();
  const std::string therapist_id = (*sam)->ResolveContact("therapist")->id;
  {
    auto store = LocalStore::Open(Options("Sam").profile_dir, Pass("pw-Sam"));
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)
                    ->Run([&](LocalStore::Txn& txn) -> absl::Status {
                      auto c = txn.Get<v1::ContactRecord>(names::Contact(therapist_id));
                      if (!c.ok() || !c->has_value()) return absl::InternalError("no contact");
                      std::string key = (*c)->identity_key();
                      key[0] ^= 1;
                      (*c)->set_identity_key(key);
                      (*c)->set_verified(true);
                      return txn.Put(names::Contact(therapist_id), **c);
                    })
                    .ok());
  }
  auto contacts = (*sam)->Contacts(true);
  ASSERT_TRUE(contacts.ok());
  EXPECT_TRUE((*sam)->ResolveContact("therapist")->identity_changed);
  auto blocked = (*sam)->SendText("therapist", "should not go");
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(blocked.status().message().find("accept-key"), std::string::npos);
  EXPECT_EQ((*sam)->Verify("therapist", before).code(), absl::StatusCode::kFailedPrecondition);
  // The safety number shown is the one for the key the relay now presents.
  EXPECT_EQ((*sam)->SafetyNumber("therapist")->digits, before);
  const std::string digits = (*sam)->SafetyNumber("therapist")->digits;
  EXPECT_EQ((*sam)->AcceptKey("therapist", std::string(60, '0')).code(),
            absl::StatusCode::kFailedPrecondition);  // Not the number the user compared.
  EXPECT_EQ((*sam)->AcceptKey("therapist", digits.substr(0, 10)).code(),
            absl::StatusCode::kInvalidArgument);  // A prefix never binds the new key.
  ASSERT_TRUE((*sam)->AcceptKey("therapist", digits).ok());
  EXPECT_FALSE((*sam)->ResolveContact("therapist")->verified);
  auto after = (*sam)->SendText("therapist", "after accepting");
  ASSERT_TRUE(after.ok()) << after.status();
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Bodies(*got), (std::vector<std::string>{"hi", "after accepting"}));
}

TEST_F(ClientTest, WrongPassphraseIsRefused) {
  BuildClinic();
  client_.reset();
  auto wrong = Client::Open(Options("Sam"), Pass("not-the-passphrase"));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(wrong.status().message(), "wrong passphrase or damaged key file");
  auto missing = Client::Open(Options("Nobody"), Pass("x"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, CorruptedLocalStoreGivesAnErrorNotACrash) {
  BuildClinic();
  ASSERT_TRUE(client_->SendText("therapist", "some history").ok());
  client_.reset();
  const std::filesystem::path db = root_ / "Sam" / "db";
  int damaged = 0;
  for (const auto& f : std::filesystem::directory_iterator(db)) {
    const std::string name = f.path().filename().string();
    if (name.find(".log") == std::string::npos && name.find(".sst") == std::string::npos) continue;
    std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(0, std::ios::end);
    const std::streamoff size = io.tellg();
    for (std::streamoff pos = 7; pos < size; pos += 97) {
      io.seekp(pos);
      io.put('\x5a');
    }
    ++damaged;
  }
  ASSERT_GT(damaged, 0);
  auto opened = Client::Open(Options("Sam"), Pass("pw-Sam"));
  if (opened.ok()) {
    // RocksDB may drop a damaged WAL tail; then the sealed records must still not be misread.
    auto history = (*opened)->History("therapist");
    if (!history.ok()) {
      EXPECT_FALSE(history.status().message().empty());
    }
  } else {
    EXPECT_TRUE(absl::IsDataLoss(opened.status()) || absl::IsFailedPrecondition(opened.status()))
        << opened.status();
  }
  // A damaged key file is refused cleanly too.
  std::ofstream(root_ / "Sam" / "key.pb", std::ios::trunc) << "garbage";
  EXPECT_EQ(Client::Open(Options("Sam"), Pass("pw-Sam")).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(ClientTest, CrashBetweenStoreAndAckRedeliversExactlyOnce) {
  BuildClinic();
  ASSERT_TRUE(client_->SendText("therapist", "exactly once").ok());
  therapist_.reset();
  ClientOptions crashing = Options("Rivera");
  int crashes = 0;
  crashing.before_ack = [&] {
    ++crashes;
    throw std::runtime_error("simulated crash");  // Leaves Sync before the ack.
  };
  {
    auto c = Client::Open(crashing, Pass("pw-Rivera"));
    ASSERT_TRUE(c.ok());
    EXPECT_THROW((void)(*c)->Sync(), std::runtime_error);
  }
  EXPECT_EQ(crashes, 1);
  auto c = Client::Open(Options("Rivera"), Pass("pw-Rivera"));
  ASSERT_TRUE(c.ok());
  auto again = (*c)->Sync();  // Redelivered by the relay, recognized, acked.
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->empty());
  auto history = (*c)->History("Sam");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(Bodies(*history), std::vector<std::string>{"exactly once"});
  EXPECT_TRUE((*c)->Sync()->empty());  // Acked now: nothing left at the relay.
}

TEST_F(ClientTest, ListenDeliversLiveMessagesAndStops) {
  BuildClinic();
  std::mutex mu;
  std::vector<std::string> seen;
  std::thread listener([&] {
    absl::Status s = therapist_->Listen([&](const MessageView& m) {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(m.body);
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  ASSERT_TRUE(client_->SendText("therapist", "live one").ok());
  ASSERT_TRUE(client_->SendText("therapist", "live two").ok());
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (seen.size() == 2) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  therapist_->StopListening();
  listener.join();
  EXPECT_EQ(seen, (std::vector<std::string>{"live one", "live two"}));
}

TEST_F(ClientTest, ClientCannotMessageTheAdmin) {
  BuildClinic();
  auto r = client_->SendText("admin", "hello admin");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->SendText("therapist", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->SendText("therapist", std::string(60001, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ClientTest, ReadReceiptsFlowOnlyWhenBothShareThem) {
  BuildClinic();
  ASSERT_TRUE(client_->SetReadReceipts(true).ok());
  ASSERT_TRUE(client_->SendText("therapist", "one").ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  ASSERT_TRUE(therapist_->History("Sam", /*mark_read=*/true).ok());
  ASSERT_TRUE(client_->Sync().ok());
  EXPECT_EQ(client_->History("therapist")->back().state, v1::DELIVERY_STATE_DELIVERED);

  ASSERT_TRUE(therapist_->SetReadReceipts(true).ok());
  ASSERT_TRUE(therapist_->SendText("Sam", "profile update rides along").ok());
  ASSERT_TRUE(client_->Sync().ok());
  ASSERT_TRUE(client_->SendText("therapist", "two").ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  ASSERT_TRUE(therapist_->History("Sam", /*mark_read=*/true).ok());
  ASSERT_TRUE(client_->Sync().ok());
  auto history = client_->History("therapist");
  ASSERT_TRUE(history.ok());
  const MessageView& two = history->back().body == "two" ? history->back() : (*history)[2];
  EXPECT_EQ(two.body, "two");
  EXPECT_EQ(two.state, v1::DELIVERY_STATE_READ);
}

TEST_F(ClientTest, ExportReturnsTheDecryptedHistoryAndWritesNothing) {
  BuildClinic();
  ASSERT_TRUE(client_->SendText("therapist", "for the record").ok());
  absl::StatusOr<std::string> doc = client_->ExportJson("therapist");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_NE(doc->find("for the record"), std::string::npos);
  EXPECT_NE(doc->find("alliance-export/1"), std::string::npos);
  EXPECT_EQ(client_->ExportJson("nobody").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, ProfilesAndRelayHoldNoPlaintext) {
  BuildClinic();
  const std::string marker = "PLAINTEXT-MARKER-4c1f9e";
  ASSERT_TRUE(client_->SendText("therapist", marker).ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  ASSERT_TRUE(therapist_->SendText("Sam", marker + " echoed").ok());
  ASSERT_TRUE(client_->Sync().ok());
  admin_.reset();
  therapist_.reset();
  client_.reset();
  StopRelay();
  for (const char* profile : {"Sam", "Rivera", "Admin"}) {
    EXPECT_FALSE(TreeContains(root_ / profile, marker)) << profile;
    EXPECT_FALSE(TreeContains(root_ / profile, "Rivera")) << profile;
    EXPECT_FALSE(TreeContains(root_ / profile, "Sam")) << profile;
  }
  EXPECT_FALSE(TreeContains(relay_dir_, marker));
  EXPECT_FALSE(TreeContains(relay_dir_, "Rivera"));
  EXPECT_FALSE(TreeContains(root_ / "relay.log", marker));
}

TEST(InviteCodeTest, ParsesHexWithSeparatorsAndRejectsOthers) {
  EXPECT_EQ(ParseInviteCode("00112233-44556677 8899aabb-CCDDEEFF")->size(), 16u);
  EXPECT_EQ(ParseInviteCode("0011").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseInviteCode(std::string(32, 'g')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace alliance::client::testing

namespace alliance::client::testing {
namespace {

TEST_F(ClientFixture, RotatesSignedPreKeyWeeklyAndStillOpensLateMessages) {
  BuildClinic();
  // The therapist starts a session from Sam's current signed prekey; the message waits.
  ASSERT_TRUE(therapist_->SendText("client", "sent before the rotation").ok());
  // Eight days later Sam's device rotates its signed prekey...
  client_.reset();
  ClientOptions later = Options("Sam");
  later.clock = [] { return absl::Now() + absl::Hours(24 * 8); };
  auto sam = Client::Open(later, Pass("pw-Sam"));
  ASSERT_TRUE(sam.ok()) << sam.status();
  auto before = (*sam)->PreKeyStatus();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->signed_prekey_id(), 1u);
  EXPECT_EQ(before->one_time_prekey_count(), 99u);  // 100 uploaded, one used by the therapist.
  ASSERT_TRUE((*sam)->MaintainPreKeys().ok());
  auto after = (*sam)->PreKeyStatus();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->signed_prekey_id(), 2u);
  // ...and still opens the message made for the previous one (kept 30 days).
  auto got = (*sam)->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, "sent before the rotation");
  EXPECT_FALSE((*got)[0].undecryptable);
}

}  // namespace
}  // namespace alliance::client::testing

namespace alliance::client::testing {
namespace {

TEST_F(ClientFixture, SimultaneousFirstMessagesConvergeOnOneSession) {
  BuildClinic();
  // Both start a session before either has heard from the other.
  ASSERT_TRUE(client_->SendText("therapist", "from Sam, first").ok());
  ASSERT_TRUE(therapist_->SendText("client", "from Rivera, first").ok());
  for (int round = 0; round < 3; ++round) {
    auto t = therapist_->Sync();
    auto c = client_->Sync();
    ASSERT_TRUE(t.ok() && c.ok());
    ASSERT_TRUE(client_->SendText("therapist", "Sam " + std::to_string(round)).ok());
    ASSERT_TRUE(therapist_->SendText("client", "Rivera " + std::to_string(round)).ok());
  }
  ASSERT_TRUE(therapist_->Sync().ok());
  ASSERT_TRUE(client_->Sync().ok());
  for (Client* who : {client_.get(), therapist_.get()}) {
    auto h = who->History(who == client_.get() ? "therapist" : "client");
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->size(), 8u);
    for (const MessageView& m : *h) EXPECT_FALSE(m.undecryptable) << m.body;
  }
}

TEST_F(ClientFixture, RefusesToLogInToAnotherRelay) {
  BuildClinic();
  // A second relay (another id) at another address: the profile's login is never signed for it.
  const std::string other_dir = (root_ / "relay2").string();
  ASSERT_TRUE(server::RelayServer::Initialize(other_dir, &clock_).ok());
  server::RelayOptions o;
  o.data_dir = other_dir;
  o.listen = "127.0.0.1:0";
  o.metrics_listen = "";
  auto other = server::RelayServer::Start(o, &clock_, logger_.get());
  ASSERT_TRUE(other.ok());
  client_.reset();
  ClientOptions pointed = Options("Sam");
  pointed.relay.address = "127.0.0.1:" + std::to_string((*other)->port());
  auto sam = Client::Open(pointed, Pass("pw-Sam"));
  ASSERT_TRUE(sam.ok());
  auto synced = (*sam)->Sync();
  EXPECT_EQ(synced.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(synced.status().message().find("not the relay this profile registered with"),
            std::string::npos);
}

TEST(TruncateUtf8Test, NeverSplitsACharacter) {
  const std::string name = std::string(199, 'x') + "\xC3\xA9";  // 199 bytes + "é" (2 bytes).
  EXPECT_EQ(TruncateUtf8(name, 200), std::string(199, 'x'));
  EXPECT_EQ(TruncateUtf8(name, 201), name);
  EXPECT_EQ(TruncateUtf8("\xE2\x82\xAC\xE2\x82\xAC", 4), "\xE2\x82\xAC");  // "€€" -> "€".
  EXPECT_EQ(TruncateUtf8("abc", 0), "");
}

}  // namespace
}  // namespace alliance::client::testing

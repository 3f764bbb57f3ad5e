// A relay that withholds a message cannot hide it: the ratchet's counters show the gap, and the
// reader is told ("a message from your therapist sent before 10:02 has not arrived").
//
// The relay here is the real one; withholding is simulated on the sending side by taking the
// queued envelope out of the therapist's outbox while the relay is down (the recipient sees
// exactly what it would see if the relay had dropped it), and putting it back later (a relay
// that delivers it late, out of order).
#include "absl/time/clock.h"
#include "client/local_store.h"
#include "client/store_names.h"
#include "tests/client/client_fixture.h"

namespace alliance::client::testing {
namespace {

class WithheldTest : public ClientFixture {
 protected:
  void SetUp() override {
    ClientFixture::SetUp();
    admin_ = Join("Admin", bootstrap_);
    ASSERT_NE(admin_, nullptr);
    therapist_ = Join("Rivera", Invite(*admin_, v1::ROLE_THERAPIST), /*hold_open=*/false);
    ASSERT_NE(therapist_, nullptr);
    client_ = Join("Sam", Invite(*therapist_, v1::ROLE_CLIENT));
    ASSERT_NE(client_, nullptr);
  }

  // Takes the queued envelope of `message_id` out of the therapist's outbox (index and record)
  // and returns the record's bytes.
  std::string TakeFromOutbox(const std::string& message_id) {
    std::string taken;
    auto store = LocalStore::Open(Options("Rivera").profile_dir, Pass("pw-Rivera"),
                                  {.hold_open = false});
    EXPECT_TRUE(store.ok()) << store.status();
    absl::Status s = (*store)->Run([&](LocalStore::Txn& txn) -> absl::Status {
      auto bytes = txn.GetBytes(names::Outbox(message_id));
      if (!bytes.ok()) return bytes.status();
      if (!bytes->has_value()) return absl::NotFoundError("not queued");
      taken.assign(reinterpret_cast<const char*>((*bytes)->data()), (*bytes)->size());
      txn.Delete(names::Outbox(message_id));
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return taken;
  }

  void PutBackInOutbox(const std::string& message_id, const std::string& record) {
    auto store = LocalStore::Open(Options("Rivera").profile_dir, Pass("pw-Rivera"),
                                  {.hold_open = false});
    ASSERT_TRUE(store.ok()) << store.status();
    absl::Status s = (*store)->Run([&](LocalStore::Txn& txn) -> absl::Status {
      return txn.PutBytes(names::Outbox(message_id), crypto::AsBytes(record));
    });
    ASSERT_TRUE(s.ok()) << s;
  }

  ContactView TherapistAsSeenByClient() {
    auto c = client_->ResolveContact("therapist");
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : ContactView();
  }
};

TEST_F(WithheldTest, AWithheldMessageIsShownMissingAndClearsWhenItArrivesLate) {
  ASSERT_TRUE(therapist_->SendText("client", "one").ok());
  auto got = client_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(TherapistAsSeenByClient().missing_messages, 0u);

  // "two" is encrypted and queued while the relay is away, then withheld.
  StopRelay();
  auto two = therapist_->SendText("client", "two");
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_FALSE(two->sent);
  const std::string withheld = TakeFromOutbox(two->message_id);
  ASSERT_FALSE(withheld.empty());
  RestartRelay();

  const absl::Time before_three = absl::Now();
  ASSERT_TRUE(therapist_->SendText("client", "three").ok());
  got = client_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, "three");
  ContactView seen = TherapistAsSeenByClient();
  EXPECT_EQ(seen.missing_messages, 1u) << "the gap in the counters is shown";
  ASSERT_TRUE(seen.missing_before.has_value());
  EXPECT_GE(*seen.missing_before, before_three - absl::Seconds(5));

  // Delivered late after all: it is shown, and the gap closes.
  PutBackInOutbox(two->message_id, withheld);
  ASSERT_TRUE(therapist_->Sync().ok());
  got = client_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, "two");
  seen = TherapistAsSeenByClient();
  EXPECT_EQ(seen.missing_messages, 0u);
  EXPECT_FALSE(seen.missing_before.has_value());
}

TEST_F(WithheldTest, NothingIsMissingWhenEverythingArrives) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(therapist_->SendText("client", "m" + std::to_string(i)).ok());
    ASSERT_TRUE(client_->SendText("therapist", "r" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(client_->Sync().ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  ASSERT_TRUE(client_->Sync().ok());
  EXPECT_EQ(TherapistAsSeenByClient().missing_messages, 0u);
  auto sam = therapist_->ResolveContact("client");
  ASSERT_TRUE(sam.ok());
  EXPECT_EQ(sam->missing_messages, 0u);
}

}  // namespace
}  // namespace alliance::client::testing

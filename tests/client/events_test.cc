// The facade's typed events (client/events.h) through a real relay: what a front end sees
// without polling — new and sent messages, delivery states, agreement and due-list changes,
// and care documents the rules refuse.
#include <mutex>
#include <variant>

#include "client/client.h"
#include "tests/client/client_fixture.h"

namespace alliance::client::testing {
namespace {

// Records every event a client emits.
class Recorder {
 public:
  explicit Recorder(Client& c) : client_(c) {
    id_ = c.Subscribe([this](const ClientEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    });
  }
  ~Recorder() { client_.Unsubscribe(id_); }

  template <typename T>
  std::vector<T> Of() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<T> out;
    for (const ClientEvent& e : events_) {
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    }
    return out;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    events_.clear();
  }

 private:
  Client& client_;
  uint64_t id_ = 0;
  std::mutex mu_;
  std::vector<ClientEvent> events_;
};

class EventsTest : public ClientFixture {};

TEST_F(EventsTest, SendingAndReceivingAMessageEmitsMessageAndDeliveryEvents) {
  BuildClinic();
  Recorder at_client(*client_);
  Recorder at_therapist(*therapist_);
  absl::StatusOr<SendResult> sent = client_->SendText("therapist", "Could we move Tuesday?");
  ASSERT_TRUE(sent.ok()) << sent.status();

  // The sender sees its message stored, then sent.
  std::vector<MessageEvent> own = at_client.Of<MessageEvent>();
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0].message.body, "Could we move Tuesday?");
  EXPECT_EQ(own[0].message.direction, v1::DIRECTION_OUTGOING);
  std::vector<DeliveryStateEvent> states = at_client.Of<DeliveryStateEvent>();
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back().message_id, sent->message_id);
  EXPECT_EQ(states.back().state, v1::DELIVERY_STATE_SENT);

  // The therapist sees it arrive, and that the due list changed.
  ASSERT_TRUE(therapist_->Sync().ok());
  std::vector<MessageEvent> got = at_therapist.Of<MessageEvent>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message.body, "Could we move Tuesday?");
  EXPECT_EQ(got[0].message.direction, v1::DIRECTION_INCOMING);
  EXPECT_FALSE(at_therapist.Of<DueListChangedEvent>().empty());

  // The therapist's device acknowledged delivery: the client hears it.
  at_client.Clear();
  ASSERT_TRUE(client_->Sync().ok());
  bool delivered = false;
  for (const DeliveryStateEvent& e : at_client.Of<DeliveryStateEvent>()) {
    if (e.message_id == sent->message_id && e.state == v1::DELIVERY_STATE_DELIVERED) {
      delivered = true;
    }
  }
  EXPECT_TRUE(delivered);
}

TEST_F(EventsTest, AProposedAgreementEmitsAgreementChanged) {
  BuildClinic();
  Recorder at_client(*client_);
  v1::CareAgreement draft;
  draft.set_time_zone("UTC");
  v1::ResponseWindow* w = draft.add_windows();
  w->set_day(v1::WEEKDAY_MONDAY);
  w->set_start_minute(9 * 60);
  w->set_duration_minutes(180);
  draft.set_reply_within_working_hours(8);
  draft.set_emergency_notice("In an emergency call 112.");
  ASSERT_TRUE(therapist_->ProposeAgreement("client", draft).ok());
  ASSERT_TRUE(client_->Sync().ok());
  std::vector<AgreementChangedEvent> changed = at_client.Of<AgreementChangedEvent>();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].contact_id, client_->ResolveContact("therapist")->id);
  EXPECT_TRUE(at_client.Of<CareRejectedEvent>().empty());
}

TEST_F(EventsTest, UnsubscribedHandlersHearNothing) {
  BuildClinic();
  int calls = 0;
  uint64_t id = client_->Subscribe([&](const ClientEvent&) { ++calls; });
  client_->Unsubscribe(id);
  ASSERT_TRUE(client_->SendText("therapist", "hello").ok());
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace alliance::client::testing

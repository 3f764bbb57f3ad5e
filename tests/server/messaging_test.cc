// Relay service: send / receive / ack, idempotency, limits, links, stream replacement,
// concurrency, persistence and retention — with an injected clock.
#include <map>
#include <thread>

#include "gtest/gtest.h"
#include "tests/server/relay_harness.h"

namespace alliance::server::testing {
namespace {

class MessagingTest : public ::testing::Test {
 protected:
  explicit MessagingTest(Limits limits = Limits()) : h_(limits) {
    admin_ = h_.NewAdmin();
    therapist_ = h_.Invite(admin_, v1::ROLE_THERAPIST);
    client_ = h_.Invite(therapist_, v1::ROLE_CLIENT);
  }
  RelayHarness h_;
  TestAccount admin_, therapist_, client_;
};

TEST_F(MessagingTest, SendReceiveAck) {
  v1::SendResponse r1, r2;
  ASSERT_TRUE(h_.Send(client_, therapist_, "first", &r1).ok());
  ASSERT_TRUE(h_.Send(client_, therapist_, "second", &r2).ok());
  EXPECT_EQ(r1.sequence(), 1u);
  EXPECT_EQ(r2.sequence(), 2u);
  EXPECT_EQ(r1.server_time_ms(), 1'700'000'000'000u);
  EXPECT_FALSE(r1.duplicate());

  std::vector<v1::Envelope> got = h_.ReadBacklog(therapist_);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload(), "first");
  EXPECT_EQ(got[1].payload(), "second");
  EXPECT_EQ(got[0].version(), 1u);
  EXPECT_EQ(got[0].sequence(), 1u);
  EXPECT_EQ(got[0].sender().account_id(), client_.account_id);  // from the login
  EXPECT_EQ(got[0].sender().device_id(), 1u);
  EXPECT_EQ(got[0].recipient().account_id(), therapist_.account_id);
  EXPECT_EQ(got[0].type(), v1::ENVELOPE_TYPE_MESSAGE);

  uint32_t deleted = 0;
  ASSERT_TRUE(h_.Ack(therapist_, {1}, &deleted).ok());
  EXPECT_EQ(deleted, 1u);
  ASSERT_TRUE(h_.Ack(therapist_, {1, 1}, &deleted).ok());  // idempotent
  EXPECT_EQ(deleted, 0u);
  got = h_.ReadBacklog(therapist_);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].sequence(), 2u);
  ASSERT_TRUE(h_.Ack(therapist_, {2, 99}, &deleted).ok());
  EXPECT_EQ(deleted, 1u);
  EXPECT_TRUE(h_.ReadBacklog(therapist_).empty());
  // Sequences are never reused after the mailbox empties.
  ASSERT_TRUE(h_.Send(client_, therapist_, "third", &r1).ok());
  EXPECT_EQ(r1.sequence(), 3u);
}

TEST_F(MessagingTest, SendIsIdempotentOnMessageId) {
  std::string id = NewMessageId();
  v1::SendResponse a, b;
  ASSERT_TRUE(h_.Send(client_, therapist_, "once", &a, id).ok());
  h_.clock().Advance(absl::Seconds(5));
  ASSERT_TRUE(h_.Send(client_, therapist_, "once", &b, id).ok());
  EXPECT_TRUE(b.duplicate());
  EXPECT_EQ(a.sequence(), b.sequence());
  EXPECT_EQ(a.server_time_ms(), b.server_time_ms());
  EXPECT_EQ(h_.ReadBacklog(therapist_).size(), 1u);
  // The same id from another sender is another message.
  TestAccount other = h_.Invite(therapist_, v1::ROLE_CLIENT);
  ASSERT_TRUE(h_.Send(other, therapist_, "other", &b, id).ok());
  EXPECT_FALSE(b.duplicate());
}

TEST_F(MessagingTest, SendingToAnUnlinkedAccountIsPermissionDenied) {
  TestAccount stranger = h_.Invite(admin_, v1::ROLE_THERAPIST);
  EXPECT_EQ(h_.Send(client_, stranger, "x").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(h_.Send(client_, admin_, "x").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(h_.Send(client_, client_, "x").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // admin <-> therapist is a care link too.
  EXPECT_TRUE(h_.Send(admin_, therapist_, "x").ok());
}

TEST_F(MessagingTest, MalformedEnvelopesAreInvalidArgument) {
  v1::SendRequest base;
  base.set_version(1);
  base.set_message_id(NewMessageId());
  *base.mutable_recipient() = therapist_.address();
  base.set_type(v1::ENVELOPE_TYPE_PREKEY_MESSAGE);
  base.set_payload("p");
  v1::SendResponse response;
  ASSERT_TRUE(h_.relay_stub().Send(h_.Ctx(client_).get(), base, &response).ok());
  auto expect_invalid = [&](v1::SendRequest r) {
    r.set_message_id(NewMessageId());
    EXPECT_EQ(h_.relay_stub().Send(h_.Ctx(client_).get(), r, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  };
  v1::SendRequest r = base;
  r.set_version(2);
  expect_invalid(r);
  r = base;
  r.set_type(v1::ENVELOPE_TYPE_UNSPECIFIED);
  expect_invalid(r);
  r = base;
  r.set_payload("");
  expect_invalid(r);
  r = base;
  r.mutable_recipient()->set_device_id(0);
  expect_invalid(r);
  r = base;
  r.set_message_id("short");
  EXPECT_EQ(h_.relay_stub().Send(h_.Ctx(client_).get(), r, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MessagingTest, UnknownRecipientDeviceIsNotFound) {
  v1::SendRequest r;
  r.set_version(1);
  r.set_message_id(NewMessageId());
  *r.mutable_recipient() = therapist_.address();
  r.mutable_recipient()->set_device_id(2);
  r.set_type(v1::ENVELOPE_TYPE_MESSAGE);
  r.set_payload("p");
  v1::SendResponse response;
  EXPECT_EQ(h_.relay_stub().Send(h_.Ctx(client_).get(), r, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(MessagingTest, OversizeEnvelopeIsResourceExhausted) {
  EXPECT_TRUE(h_.Send(client_, therapist_, std::string(64 * 1024, 'a')).ok());
  EXPECT_EQ(h_.Send(client_, therapist_, std::string(64 * 1024 + 1, 'a')).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Far beyond the limit, gRPC itself refuses the message.
  EXPECT_EQ(h_.Send(client_, therapist_, std::string(1 << 20, 'a')).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(MessagingTest, SomeoneElsesMailboxIsOutOfReach) {
  ASSERT_TRUE(h_.Send(client_, therapist_, "for the therapist").ok());
  // Asking for another mailbox is refused.
  v1::ReceiveRequest request;
  *request.mutable_mailbox() = therapist_.address();
  auto ctx = h_.Ctx(client_);
  auto reader = h_.relay_stub().Receive(ctx.get(), request);
  v1::ReceiveResponse response;
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);

  v1::AckRequest ack;
  ack.add_sequences(1);
  *ack.mutable_mailbox() = therapist_.address();
  v1::AckResponse ack_response;
  EXPECT_EQ(h_.relay_stub().Ack(h_.Ctx(client_).get(), ack, &ack_response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Acking "sequence 1" as the client touches only the client's own (empty) mailbox.
  uint32_t deleted = 7;
  ASSERT_TRUE(h_.Ack(client_, {1}, &deleted).ok());
  EXPECT_EQ(deleted, 0u);
  EXPECT_TRUE(h_.ReadBacklog(client_).empty());
  ASSERT_EQ(h_.ReadBacklog(therapist_).size(), 1u);
}

TEST_F(MessagingTest, AckBatchBounds) {
  EXPECT_EQ(h_.Ack(therapist_, {}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<uint64_t> many(1001, 1);
  EXPECT_EQ(h_.Ack(therapist_, many).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MessagingTest, LiveDeliveryAfterBacklog) {
  ASSERT_TRUE(h_.Send(client_, therapist_, "old").ok());
  auto ctx = h_.Ctx(therapist_);
  auto reader = h_.relay_stub().Receive(ctx.get(), v1::ReceiveRequest());
  v1::ReceiveResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.envelope().payload(), "old");
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_TRUE(response.backlog_complete());
  ASSERT_TRUE(h_.Send(client_, therapist_, "live").ok());
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.envelope().payload(), "live");
  EXPECT_EQ(response.envelope().sequence(), 2u);
  ctx->TryCancel();
  (void)reader->Finish();
}

TEST_F(MessagingTest, SecondStreamReplacesTheFirst) {
  auto ctx1 = h_.Ctx(therapist_);
  auto first = h_.relay_stub().Receive(ctx1.get(), v1::ReceiveRequest());
  v1::ReceiveResponse response;
  ASSERT_TRUE(first->Read(&response));
  ASSERT_TRUE(response.backlog_complete());

  auto ctx2 = h_.Ctx(therapist_);
  auto second = h_.relay_stub().Receive(ctx2.get(), v1::ReceiveRequest());
  ASSERT_TRUE(second->Read(&response));
  ASSERT_TRUE(response.backlog_complete());
  EXPECT_FALSE(first->Read(&response));
  grpc::Status ended = first->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ended.error_message(), "replaced by a newer stream");

  ASSERT_TRUE(h_.Send(client_, therapist_, "to the new stream").ok());
  ASSERT_TRUE(second->Read(&response));
  EXPECT_EQ(response.envelope().payload(), "to the new stream");
  ctx2->TryCancel();
  (void)second->Finish();
}

TEST_F(MessagingTest, ShutdownEndsStreamsWithUnavailable) {
  auto ctx = h_.Ctx(therapist_);
  auto reader = h_.relay_stub().Receive(ctx.get(), v1::ReceiveRequest());
  v1::ReceiveResponse response;
  ASSERT_TRUE(reader->Read(&response));
  h_.relay().Shutdown();
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(MessagingTest, EightSendersToOneMailboxLoseNothingAndKeepOrder) {
  h_.options().limits.send_burst = 1000;
  h_.Restart();
  ASSERT_TRUE(h_.Login(&therapist_).ok());
  std::vector<TestAccount> senders;
  for (int i = 0; i < 8; ++i) senders.push_back(h_.Invite(therapist_, v1::ROLE_CLIENT));
  constexpr int kPerSender = 60;

  // The therapist listens live while the senders send.
  auto ctx = h_.Ctx(therapist_);
  auto reader = h_.relay_stub().Receive(ctx.get(), v1::ReceiveRequest());
  v1::ReceiveResponse response;
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_TRUE(response.backlog_complete());

  std::vector<std::thread> threads;
  for (int s = 0; s < 8; ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < kPerSender; ++i) {
        ASSERT_TRUE(h_.Send(senders[s], therapist_, std::to_string(i)).ok());
      }
    });
  }
  std::map<std::string, std::vector<int>> by_sender;
  uint64_t last_sequence = 0;
  for (int n = 0; n < 8 * kPerSender; ++n) {
    ASSERT_TRUE(reader->Read(&response));
    const v1::Envelope& e = response.envelope();
    EXPECT_GT(e.sequence(), last_sequence);
    last_sequence = e.sequence();
    by_sender[e.sender().account_id()].push_back(std::stoi(e.payload()));
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(by_sender.size(), 8u);
  for (const auto& [sender, payloads] : by_sender) {
    ASSERT_EQ(payloads.size(), static_cast<size_t>(kPerSender));
    for (int i = 0; i < kPerSender; ++i) EXPECT_EQ(payloads[i], i);
  }
  ctx->TryCancel();
  (void)reader->Finish();
  EXPECT_EQ(h_.ReadBacklog(therapist_).size(), static_cast<size_t>(8 * kPerSender));
}

TEST_F(MessagingTest, UndeliveredEnvelopesSurviveARestart) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h_.Send(client_, therapist_, std::to_string(i)).ok());
  ASSERT_TRUE(h_.Ack(therapist_, {2}).ok());
  h_.Restart();
  std::vector<v1::Envelope> got = h_.ReadBacklog(therapist_);  // the token survives too
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].payload(), "0");
  EXPECT_EQ(got[1].payload(), "2");
  EXPECT_EQ(got[3].payload(), "4");
  v1::SendResponse r;
  ASSERT_TRUE(h_.Send(client_, therapist_, "after", &r).ok());
  EXPECT_EQ(r.sequence(), 6u);  // the counter was persisted
}

TEST_F(MessagingTest, RetentionSweepRemovesOldUndeliveredEnvelopes) {
  ASSERT_TRUE(h_.Send(client_, therapist_, "old").ok());
  h_.clock().Advance(absl::Hours(24 * 20));
  ASSERT_TRUE(h_.Login(&client_).ok());
  ASSERT_TRUE(h_.Login(&therapist_).ok());
  ASSERT_TRUE(h_.Send(client_, therapist_, "recent").ok());
  h_.clock().Advance(absl::Hours(24 * 10) + absl::Seconds(1));
  absl::StatusOr<uint64_t> swept = h_.relay().SweepNow();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1u);
  EXPECT_EQ(h_.relay().metrics().expirations.value(), 1u);
  ASSERT_TRUE(h_.Login(&therapist_).ok());
  std::vector<v1::Envelope> got = h_.ReadBacklog(therapist_);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload(), "recent");
}

class SmallLimitsTest : public MessagingTest {
 protected:
  static Limits Small() {
    Limits l;
    l.max_mailbox_envelopes = 3;
    l.send_burst = 5;
    l.send_rate_per_second = 1;
    return l;
  }
  SmallLimitsTest() : MessagingTest(Small()) {}
};

TEST_F(SmallLimitsTest, FullMailboxIsResourceExhaustedUntilAcked) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h_.Send(client_, therapist_, "m").ok());
  EXPECT_EQ(h_.Send(client_, therapist_, "m").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(h_.Ack(therapist_, {1}).ok());
  EXPECT_TRUE(h_.Send(client_, therapist_, "m").ok());
}

TEST_F(SmallLimitsTest, SendRateIsLimitedPerAccount) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h_.Send(client_, therapist_, "m").ok());
  ASSERT_TRUE(h_.Send(therapist_, client_, "m").ok());
  ASSERT_TRUE(h_.Send(therapist_, client_, "m").ok());
  // Refused sends (mailbox full) still take from the bucket.
  EXPECT_EQ(h_.Send(client_, therapist_, "m").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(h_.Send(client_, therapist_, "m").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(h_.Ack(therapist_, {1, 2, 3}).ok());
  // Bucket now empty (5 taken): refused although the mailbox has room.
  EXPECT_EQ(h_.Send(client_, therapist_, "m").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  h_.clock().Advance(absl::Seconds(1));
  EXPECT_TRUE(h_.Send(client_, therapist_, "m").ok());
}

}  // namespace
}  // namespace alliance::server::testing

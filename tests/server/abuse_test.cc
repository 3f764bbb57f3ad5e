// Attacks from an adversarial review (issue 8), each run against a real relay on 127.0.0.1:
// revocation (a removed admin's invites, logins racing a deactivation) and denial of service
// by other accounts (mailbox shares, prekey draining, invite and audit floods), and the
// send-idempotency window. Each test fails on the relay as it was before the fix.
#include <grpcpp/generic/generic_stub.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/relay_harness.h"

namespace alliance::server::testing {
namespace {

grpc::Status Deactivate(RelayHarness& h, const TestAccount& admin, const TestAccount& target) {
  v1::DeactivateAccountRequest request;
  request.set_account_id(target.account_id);
  v1::DeactivateAccountResponse response;
  return h.clinic().DeactivateAccount(h.Ctx(admin).get(), request, &response);
}

grpc::Status ListContacts(RelayHarness& h, const TestAccount& who) {
  v1::ListContactsResponse response;
  return h.accounts().ListContacts(h.Ctx(who).get(), {}, &response);
}

grpc::Status FetchBundle(RelayHarness& h, const TestAccount& who, const TestAccount& target,
                         v1::PreKeyBundle* bundle = nullptr) {
  v1::FetchPreKeyBundleRequest request;
  *request.mutable_address() = target.address();
  v1::FetchPreKeyBundleResponse response;
  grpc::Status s = h.keys().FetchPreKeyBundle(h.Ctx(who).get(), request, &response);
  if (bundle != nullptr) *bundle = response.bundle();
  return s;
}

grpc::Status PublishKeys(RelayHarness& h, const TestAccount& who, uint32_t first_id,
                         uint32_t count) {
  v1::PublishPreKeysRequest request;
  *request.mutable_signed_prekey() = MakeSignedPreKey(who, first_id);
  for (uint32_t i = 0; i < count; ++i) {
    v1::OneTimePreKey* k = request.add_one_time_prekeys();
    k->set_id(first_id + i);
    k->set_public_key(std::string(31, '\x01') + static_cast<char>(i & 0x7f));
  }
  v1::PublishPreKeysResponse response;
  return h.keys().PublishPreKeys(h.Ctx(who).get(), request, &response);
}

// Item 4: a rogue admin's admin invite, redeemed after the admin was removed, made a new admin
// who then deactivated the admin who removed it.
TEST(RevocationTest, RemovedAdminsInvitesCannotBeRedeemed) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  TestAccount rogue = h.Invite(admin, v1::ROLE_ADMIN);
  std::string admin_code, therapist_code;
  ASSERT_TRUE(h.CreateInvite(rogue, v1::ROLE_ADMIN, &admin_code).ok());
  ASSERT_TRUE(h.CreateInvite(rogue, v1::ROLE_THERAPIST, &therapist_code).ok());
  ASSERT_TRUE(Deactivate(h, admin, rogue).ok());

  TestAccount accomplice = NewIdentity();
  EXPECT_EQ(h.Register(admin_code, &accomplice).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  TestAccount other = NewIdentity();
  EXPECT_EQ(h.Register(therapist_code, &other).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // The admin who removed the rogue is unharmed and its own invites still work.
  EXPECT_TRUE(ListContacts(h, admin).ok());
  TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
  EXPECT_EQ(therapist.role, v1::ROLE_THERAPIST);
}

TEST(RevocationTest, SelfDeletedTherapistsClientInvitesDieWithIt) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
  std::string code;
  ASSERT_TRUE(h.CreateInvite(therapist, v1::ROLE_CLIENT, &code).ok());
  v1::DeleteAccountRequest request;
  request.set_confirm_account_id(therapist.account_id);
  v1::DeleteAccountResponse response;
  ASSERT_TRUE(h.accounts().DeleteAccount(h.Ctx(therapist).get(), request, &response).ok());
  TestAccount client = NewIdentity();
  grpc::Status s = h.Register(code, &client);
  EXPECT_TRUE(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
}

// Item 5: in 8 of 8 rounds a deactivated admin kept a working token from a login that raced
// the deactivation.
TEST(RevocationTest, NoTokenSurvivesDeactivationWhateverLoginsWereInFlight) {
  Limits limits;  // every login here comes from 127.0.0.1: lift the per-address budgets
  limits.challenge_burst = 1e9;
  limits.login_failures_burst = 1e9;
  RelayHarness h(limits);
  TestAccount admin = h.NewAdmin();
  for (int round = 0; round < 8; ++round) {
    TestAccount target = h.Invite(admin, v1::ROLE_ADMIN);
    std::atomic<bool> stop{false};
    std::vector<std::string> tokens;
    std::mutex mu;
    std::vector<std::thread> logins;
    for (int t = 0; t < 3; ++t) {
      logins.emplace_back([&, target]() mutable {
        while (!stop.load()) {
          TestAccount copy = target;
          if (h.Login(&copy).ok()) {
            std::lock_guard<std::mutex> lock(mu);
            tokens.push_back(copy.token);
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(Deactivate(h, admin, target).ok());
    stop = true;
    for (auto& t : logins) t.join();
    ASSERT_FALSE(tokens.empty());
    for (const std::string& token : tokens) {
      TestAccount holder = target;
      holder.token = token;
      EXPECT_EQ(ListContacts(h, holder).error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << "round " << round;
    }
    // And no login after the deactivation succeeds.
    EXPECT_FALSE(h.Login(&target).ok());
  }
}

// Item 8: one client filled the therapist's mailbox and so blocked every other client.
TEST(FairShareTest, OneSenderCannotFillAMailboxForEveryoneElse) {
  Limits limits;
  limits.max_mailbox_envelopes = 100;
  limits.max_mailbox_envelopes_per_sender = 5;
  RelayHarness h(limits);
  TestAccount admin = h.NewAdmin();
  TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
  TestAccount flooder = h.Invite(therapist, v1::ROLE_CLIENT);
  TestAccount other = h.Invite(therapist, v1::ROLE_CLIENT);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h.Send(flooder, therapist, "x").ok());
  EXPECT_EQ(h.Send(flooder, therapist, "x").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(h.Send(other, therapist, "still heard").ok());
  // The share is remembered across a restart (a counter on disk, not only in memory).
  h.Restart();
  EXPECT_EQ(h.Send(flooder, therapist, "x").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Once the therapist has read them, the sender may write again.
  std::vector<uint64_t> sequences;
  for (const v1::Envelope& e : h.ReadBacklog(therapist)) sequences.push_back(e.sequence());
  ASSERT_EQ(sequences.size(), 6u);
  ASSERT_TRUE(h.Ack(therapist, sequences).ok());
  EXPECT_TRUE(h.Send(flooder, therapist, "again").ok());
}

// Item 9: a linked client drained a therapist's 200 one-time prekeys in under a second.
TEST(FairShareTest, AContactCannotDrainOneTimePrekeys) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
  TestAccount drainer = h.Invite(therapist, v1::ROLE_CLIENT);
  TestAccount newcomer = h.Invite(therapist, v1::ROLE_CLIENT);
  ASSERT_TRUE(PublishKeys(h, therapist, 1, 100).ok());
  int fetched = 0;
  grpc::Status s;
  while ((s = FetchBundle(h, drainer, therapist)).ok() && fetched < 200) ++fetched;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(fetched, static_cast<int>(Limits().prekey_fetch_burst));
  // The next new contact still gets a one-time prekey.
  v1::PreKeyBundle bundle;
  ASSERT_TRUE(FetchBundle(h, newcomer, therapist, &bundle).ok());
  EXPECT_TRUE(bundle.has_one_time_prekey());
  // The budget refills with time.
  h.clock().Advance(absl::Hours(1));
  EXPECT_TRUE(FetchBundle(h, drainer, therapist).ok());
}

// Item 10: 500 invites in 2 s, each a synced audit write; prekey publishing unbounded.
TEST(FloodTest, InviteCreationIsRateLimitedAndOutstandingInvitesBounded) {
  Limits limits;
  limits.max_outstanding_invites = 5;
  RelayHarness h(limits);
  TestAccount admin = h.NewAdmin();
  TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    std::string code, id;
    ASSERT_TRUE(h.CreateInvite(therapist, v1::ROLE_CLIENT, &code, &id).ok());
    ids.push_back(id);
  }
  std::string code;
  EXPECT_EQ(h.CreateInvite(therapist, v1::ROLE_CLIENT, &code).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::RevokeInviteRequest revoke;
  revoke.set_invite_id(ids[0]);
  v1::RevokeInviteResponse revoked;
  ASSERT_TRUE(h.clinic().RevokeInvite(h.Ctx(therapist).get(), revoke, &revoked).ok());
  EXPECT_TRUE(h.CreateInvite(therapist, v1::ROLE_CLIENT, &code).ok());

  // The creation rate, independently of outstanding invites.
  Limits rate_limits;
  rate_limits.invite_burst = 3;
  RelayHarness r(rate_limits);
  TestAccount admin2 = r.NewAdmin();
  std::string c;
  int created = 0;
  while (r.CreateInvite(admin2, v1::ROLE_THERAPIST, &c).ok() && created < 100) ++created;
  EXPECT_EQ(created, 3);
  r.clock().Advance(absl::Hours(1));
  EXPECT_TRUE(r.CreateInvite(admin2, v1::ROLE_THERAPIST, &c).ok());
}

TEST(FloodTest, PrekeyPublishingIsRateLimited) {
  Limits limits;
  limits.prekey_publish_burst = 3;
  RelayHarness h(limits);
  TestAccount admin = h.NewAdmin();
  TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
  for (uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(PublishKeys(h, therapist, 10 + i, 1).ok());
  EXPECT_EQ(PublishKeys(h, therapist, 20, 1).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

grpc::Status ChallengeVia(RelayHarness& h, const std::string& forwarded_for) {
  grpc::ClientContext ctx;
  if (!forwarded_for.empty()) ctx.AddMetadata("x-forwarded-for", forwarded_for);
  v1::ChallengeResponse response;
  return h.accounts().Challenge(&ctx, {}, &response);
}

TEST(FloodTest, BehindATrustedProxyOneClientCannotUseUpEveryonesChallenges) {
  // Every call comes from the proxy's address (here 127.0.0.1): without the setting they share
  // one budget, so one client could keep everyone from logging in.
  Limits limits;
  limits.challenge_burst = 3;
  RelayHarness h(limits);
  h.options().trusted_proxies = {"127.0.0.1"};
  h.Restart();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ChallengeVia(h, "198.51.100.1").ok());
  EXPECT_EQ(ChallengeVia(h, "198.51.100.1").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // A client forging an earlier entry is still charged for the one the proxy appended.
  EXPECT_EQ(ChallengeVia(h, "203.0.113.5, 198.51.100.1").error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(ChallengeVia(h, "198.51.100.2").ok()) << "another client keeps its budget";

  // Without the setting the header is only a client's claim: one budget for the peer.
  h.options().trusted_proxies.clear();
  h.Restart();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ChallengeVia(h, std::to_string(i) + ".0.0.1").ok());
  EXPECT_EQ(ChallengeVia(h, "9.0.0.1").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST(FloodTest, ADeactivationStaysFindableUnderAFloodOfRoutineEntries) {
  Limits limits;
  limits.invite_burst = 1000;
  limits.max_outstanding_invites = 1000;
  RelayHarness h(limits);
  TestAccount admin = h.NewAdmin();
  TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
  ASSERT_TRUE(Deactivate(h, admin, therapist).ok());
  TestAccount flooder = h.Invite(admin, v1::ROLE_THERAPIST);
  std::string code;
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(h.CreateInvite(flooder, v1::ROLE_CLIENT, &code).ok());

  v1::ReadAuditRequest request;
  request.set_security_only(true);
  request.set_limit(20);
  v1::ReadAuditResponse audit;
  ASSERT_TRUE(h.clinic().ReadAudit(h.Ctx(admin).get(), request, &audit).ok());
  bool found = false;
  for (const v1::AuditEntry& e : audit.entries()) {
    EXPECT_NE(e.event(), v1::AUDIT_EVENT_INVITE_CREATED);
    EXPECT_NE(e.event(), v1::AUDIT_EVENT_LOGIN_OK);
    if (e.event() == v1::AUDIT_EVENT_ACCOUNT_DEACTIVATED &&
        e.subject_account_id() == therapist.account_id) {
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

// Item 17: a retry after the recipient acknowledged the first copy was stored and delivered
// again, although Send promises to store nothing for a known message id.
TEST(IdempotencyTest, RetryAfterTheAckStoresNothing) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
  TestAccount client = h.Invite(therapist, v1::ROLE_CLIENT);
  std::string id = NewMessageId();
  v1::SendResponse first, retry;
  ASSERT_TRUE(h.Send(client, therapist, "once", &first, id).ok());
  std::vector<v1::Envelope> got = h.ReadBacklog(therapist);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(h.Ack(therapist, {got[0].sequence()}).ok());
  ASSERT_TRUE(h.Send(client, therapist, "once", &retry, id).ok());
  EXPECT_TRUE(retry.duplicate());
  EXPECT_EQ(retry.sequence(), first.sequence());
  EXPECT_TRUE(h.ReadBacklog(therapist).empty());
  // The id record lasts the retention period, then the sweep removes it (bounded storage);
  // the receiving client's own deduplication covers anything older.
  h.clock().Advance(Limits().retention + absl::Hours(1));
  ASSERT_TRUE(h.relay().SweepNow().ok());
  ASSERT_TRUE(h.Login(&client).ok());
  ASSERT_TRUE(h.Send(client, therapist, "once", &retry, id).ok());
  EXPECT_FALSE(retry.duplicate());
}

// Item 14: a request that is not a valid protobuf is refused and the relay keeps serving.
// gRPC 1.51's callback handlers answer it before any of our code runs (UNIMPLEMENTED, empty
// message; see server/README.md), so this pins the outcome, not our choice of code.
TEST(MalformedTest, UnparsableRequestBytesAreRefusedAndTheRelayKeepsServing) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  grpc::GenericStub generic(grpc::CreateChannel("127.0.0.1:" + std::to_string(h.relay().port()),
                                                grpc::InsecureChannelCredentials()));
  for (const char* method :
       {"/alliance.v1.Relay/Send", "/alliance.v1.Accounts/Login",
        "/alliance.v1.Clinic/CreateInvite", "/alliance.v1.Keys/PublishPreKeys"}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    const std::string garbage = "\xff\xff\xff\xff\x0f not a protobuf";
    grpc::Slice slice(garbage);
    grpc::ByteBuffer request(&slice, 1), response;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      status = std::move(s);
      done = true;
      cv.notify_one();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    EXPECT_FALSE(status.ok()) << method;
    EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << method;
  }
  EXPECT_TRUE(ListContacts(h, admin).ok());
}

}  // namespace
}  // namespace alliance::server::testing

// Accounts service: registration, login, tokens, contacts, self-deletion — success paths and
// every error code on purpose.
#include <sodium.h>

#include "gtest/gtest.h"
#include "base/bytes.h"
#include "tests/server/relay_harness.h"

namespace alliance::server::testing {
namespace {

v1::LoginRequest SignedLogin(RelayHarness& h, const TestAccount& account,
                             const v1::ChallengeResponse& challenge, const TestAccount& signer) {
  std::string message = "alliance/v1/login" + challenge.relay_id() + challenge.nonce();
  base::AppendU64BE(&message, challenge.expires_at());
  v1::LoginRequest request;
  *request.mutable_address() = account.address();
  request.set_nonce(challenge.nonce());
  request.set_expires_at(challenge.expires_at());
  request.set_signature(Sign(signer, message));
  (void)h;
  return request;
}

v1::ChallengeResponse GetChallenge(RelayHarness& h) {
  v1::ChallengeResponse challenge;
  grpc::ClientContext ctx;
  EXPECT_TRUE(h.accounts().Challenge(&ctx, v1::ChallengeRequest(), &challenge).ok());
  return challenge;
}

grpc::StatusCode LoginWith(RelayHarness& h, const v1::LoginRequest& request,
                           std::string* token = nullptr) {
  grpc::ClientContext ctx;
  v1::LoginResponse response;
  grpc::Status s = h.accounts().Login(&ctx, request, &response);
  if (token != nullptr) *token = response.token();
  return s.error_code();
}

TEST(AccountsTest, BootstrapAdminRegistersAndLogsIn) {
  RelayHarness h;
  TestAccount admin = NewIdentity();
  ASSERT_TRUE(h.Register(h.bootstrap_code(), &admin).ok());
  EXPECT_EQ(admin.account_id.size(), 16u);
  EXPECT_EQ(admin.role, v1::ROLE_ADMIN);
  ASSERT_TRUE(h.Login(&admin).ok());
  EXPECT_EQ(admin.token.size(), 32u);
  v1::ListContactsResponse contacts;
  ASSERT_TRUE(h.accounts().ListContacts(h.Ctx(admin).get(), {}, &contacts).ok());
  EXPECT_EQ(contacts.contacts_size(), 0);
}

TEST(AccountsTest, ChallengeCarriesRelayIdAndFreshNonce) {
  RelayHarness h;
  v1::ChallengeResponse a = GetChallenge(h), b = GetChallenge(h);
  EXPECT_EQ(a.relay_id(), h.relay_id());
  EXPECT_EQ(a.nonce().size(), 32u);
  EXPECT_NE(a.nonce(), b.nonce());
  EXPECT_EQ(a.expires_at(), 1'700'000'000u + 60);
}

TEST(AccountsTest, ReusedInviteIsRefused) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  TestAccount other = NewIdentity();
  EXPECT_EQ(h.Register(h.bootstrap_code(), &other).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  (void)admin;
}

TEST(AccountsTest, ExpiredInviteIsRefused) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  std::string code;
  ASSERT_TRUE(h.CreateInvite(admin, v1::ROLE_THERAPIST, &code).ok());
  h.clock().Advance(absl::Hours(24 * 7) + absl::Seconds(1));
  ASSERT_TRUE(h.Login(&admin).ok());  // the admin's token expired too
  TestAccount therapist = NewIdentity();
  EXPECT_EQ(h.Register(code, &therapist).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(AccountsTest, UnknownInviteIsNotFound) {
  RelayHarness h;
  TestAccount a = NewIdentity();
  EXPECT_EQ(h.Register(std::string(16, 'x'), &a).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(AccountsTest, RegisterRejectsMalformedAndForgedProof) {
  RelayHarness h;
  TestAccount a = NewIdentity();
  TestAccount thief = NewIdentity();
  v1::RegisterRequest request;
  request.set_invite_code(h.bootstrap_code());
  request.set_identity_key(a.public_key);
  request.set_proof("short");
  v1::RegisterResponse response;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(h.accounts().Register(&ctx, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Someone else's key with a proof made by the thief: refused, invite not consumed.
  request.set_proof(
      Sign(thief, "alliance/v1/register" + h.relay_id() + h.bootstrap_code() + a.public_key));
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(h.accounts().Register(&ctx, request, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_TRUE(h.Register(h.bootstrap_code(), &a).ok());
}

TEST(AccountsTest, IdentityKeyRegistersOnce) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  std::string code;
  ASSERT_TRUE(h.CreateInvite(admin, v1::ROLE_THERAPIST, &code).ok());
  TestAccount again = admin;
  EXPECT_EQ(h.Register(code, &again).error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST(AccountsTest, CallsWithoutTokenAreUnauthenticated) {
  RelayHarness h;
  TestAccount nobody;
  v1::ListContactsResponse contacts;
  EXPECT_EQ(h.accounts().ListContacts(h.Ctx(nobody).get(), {}, &contacts).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext bad;
  bad.AddMetadata("authorization", "Bearer nothex");
  EXPECT_EQ(h.accounts().ListContacts(&bad, {}, &contacts).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  TestAccount forged;
  forged.token = std::string(32, 'a');
  EXPECT_EQ(h.accounts().ListContacts(h.Ctx(forged).get(), {}, &contacts).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(h.Send(forged, forged, "x").error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(AccountsTest, TokenExpiresAfter24Hours) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  v1::ListContactsResponse contacts;
  h.clock().Advance(absl::Hours(24) - absl::Seconds(1));
  EXPECT_TRUE(h.accounts().ListContacts(h.Ctx(admin).get(), {}, &contacts).ok());
  h.clock().Advance(absl::Seconds(1));
  EXPECT_EQ(h.accounts().ListContacts(h.Ctx(admin).get(), {}, &contacts).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(AccountsTest, ForgedLoginSignatureIsUnauthenticated) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  TestAccount impostor = NewIdentity();
  v1::ChallengeResponse challenge = GetChallenge(h);
  EXPECT_EQ(LoginWith(h, SignedLogin(h, admin, challenge, impostor)),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(AccountsTest, ReusedNonceIsUnauthenticated) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  v1::ChallengeResponse challenge = GetChallenge(h);
  v1::LoginRequest request = SignedLogin(h, admin, challenge, admin);
  EXPECT_EQ(LoginWith(h, request), grpc::StatusCode::OK);
  EXPECT_EQ(LoginWith(h, request), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(AccountsTest, ExpiredChallengeIsUnauthenticated) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  v1::ChallengeResponse challenge = GetChallenge(h);
  h.clock().Advance(absl::Seconds(61));
  EXPECT_EQ(LoginWith(h, SignedLogin(h, admin, challenge, admin)),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(AccountsTest, TamperedExpiryIsUnauthenticated) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  v1::ChallengeResponse challenge = GetChallenge(h);
  v1::LoginRequest request = SignedLogin(h, admin, challenge, admin);
  request.set_expires_at(challenge.expires_at() + 3600);
  EXPECT_EQ(LoginWith(h, request), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(AccountsTest, FailedLoginsAreChargedToTheCallerAndAudited) {
  Limits limits;
  limits.login_failures_burst = 3;
  limits.login_failures_per_minute = 1;
  RelayHarness h(limits);
  TestAccount admin = h.NewAdmin();
  TestAccount impostor = NewIdentity();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(LoginWith(h, SignedLogin(h, admin, GetChallenge(h), impostor)),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // This caller's budget is spent: further failures are refused without an audit entry.
  EXPECT_EQ(LoginWith(h, SignedLogin(h, admin, GetChallenge(h), impostor)),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // The account they named is not locked: a correct signature always logs in, even from the
  // same address (a clinic behind one NAT).
  std::string token;
  EXPECT_EQ(LoginWith(h, SignedLogin(h, admin, GetChallenge(h), admin), &token),
            grpc::StatusCode::OK);
  admin.token = token;
  v1::ReadAuditRequest request;
  request.set_limit(1000);
  v1::ReadAuditResponse audit;
  ASSERT_TRUE(h.clinic().ReadAudit(h.Ctx(admin).get(), request, &audit).ok());
  int failed = 0;
  for (const auto& e : audit.entries()) {
    if (e.event() == v1::AUDIT_EVENT_LOGIN_FAILED) {
      ++failed;
      EXPECT_EQ(e.subject_account_id(), admin.account_id);
    }
  }
  EXPECT_EQ(failed, 3);
  EXPECT_GE(h.relay().metrics().auth_failures.value(), 4u);
}

TEST(AccountsTest, MalformedLoginIsInvalidArgument) {
  RelayHarness h;
  v1::LoginRequest request;
  request.mutable_address()->set_account_id("short");
  EXPECT_EQ(LoginWith(h, request), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(AccountsTest, LogoutRevokesTheToken) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  v1::LogoutResponse out;
  ASSERT_TRUE(h.accounts().Logout(h.Ctx(admin).get(), {}, &out).ok());
  v1::ListContactsResponse contacts;
  EXPECT_EQ(h.accounts().ListContacts(h.Ctx(admin).get(), {}, &contacts).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(AccountsTest, ContactsAreTheLinkedAccountsWithKeysAndRoles) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
  TestAccount client = h.Invite(therapist, v1::ROLE_CLIENT);
  v1::ListContactsResponse contacts;
  ASSERT_TRUE(h.accounts().ListContacts(h.Ctx(therapist).get(), {}, &contacts).ok());
  ASSERT_EQ(contacts.contacts_size(), 2);
  for (const auto& c : contacts.contacts()) {
    if (c.account_id() == admin.account_id) {
      EXPECT_EQ(c.role(), v1::ROLE_ADMIN);
      EXPECT_EQ(c.identity_key(), admin.public_key);
    } else {
      EXPECT_EQ(c.account_id(), client.account_id);
      EXPECT_EQ(c.role(), v1::ROLE_CLIENT);
      EXPECT_EQ(c.identity_key(), client.public_key);
    }
    ASSERT_EQ(c.device_ids_size(), 1);
    EXPECT_EQ(c.device_ids(0), 1u);
  }
  ASSERT_TRUE(h.accounts().ListContacts(h.Ctx(client).get(), {}, &contacts).ok());
  ASSERT_EQ(contacts.contacts_size(), 1);
  EXPECT_EQ(contacts.contacts(0).account_id(), therapist.account_id);
}

TEST(AccountsTest, DeleteAccountErasesEverything) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
  TestAccount client = h.Invite(therapist, v1::ROLE_CLIENT);
  ASSERT_TRUE(h.Send(therapist, client, "ciphertext").ok());
  v1::DeleteAccountRequest wrong;
  wrong.set_confirm_account_id(therapist.account_id);
  v1::DeleteAccountResponse out;
  EXPECT_EQ(h.accounts().DeleteAccount(h.Ctx(client).get(), wrong, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::DeleteAccountRequest request;
  request.set_confirm_account_id(client.account_id);
  ASSERT_TRUE(h.accounts().DeleteAccount(h.Ctx(client).get(), request, &out).ok());
  // Token gone, login impossible, link gone, mailbox gone.
  v1::ListContactsResponse contacts;
  EXPECT_EQ(h.accounts().ListContacts(h.Ctx(client).get(), {}, &contacts).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(h.Login(&client).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(h.accounts().ListContacts(h.Ctx(therapist).get(), {}, &contacts).ok());
  EXPECT_EQ(contacts.contacts_size(), 1);  // the admin only
  EXPECT_EQ(h.Send(therapist, client, "x").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::ListMembersResponse members;
  ASSERT_TRUE(h.clinic().ListMembers(h.Ctx(admin).get(), {}, &members).ok());
  EXPECT_EQ(members.members_size(), 2);
}

}  // namespace
}  // namespace alliance::server::testing

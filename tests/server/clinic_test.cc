// Clinic service: invitation rules and links, revocation, membership, deactivation and the
// hash-chained audit log.
#include <sodium.h>

#include "gtest/gtest.h"
#include "tests/server/relay_harness.h"

namespace alliance::server::testing {
namespace {

class ClinicTest : public ::testing::Test {
 protected:
  ClinicTest() {
    admin_ = h_.NewAdmin();
    therapist_ = h_.Invite(admin_, v1::ROLE_THERAPIST);
    client_ = h_.Invite(therapist_, v1::ROLE_CLIENT);
  }
  grpc::StatusCode InviteCode(const TestAccount& who, v1::Role role) {
    std::string code;
    return h_.CreateInvite(who, role, &code).error_code();
  }
  grpc::StatusCode Revoke(const TestAccount& who, const std::string& id) {
    v1::RevokeInviteRequest request;
    request.set_invite_id(id);
    v1::RevokeInviteResponse response;
    return h_.clinic().RevokeInvite(h_.Ctx(who).get(), request, &response).error_code();
  }
  grpc::StatusCode Deactivate(const TestAccount& who, const std::string& account_id) {
    v1::DeactivateAccountRequest request;
    request.set_account_id(account_id);
    v1::DeactivateAccountResponse response;
    return h_.clinic().DeactivateAccount(h_.Ctx(who).get(), request, &response).error_code();
  }
  std::vector<v1::AuditEntry> Audit() {
    v1::ReadAuditRequest request;
    request.set_limit(1000);
    v1::ReadAuditResponse response;
    EXPECT_TRUE(h_.clinic().ReadAudit(h_.Ctx(admin_).get(), request, &response).ok());
    return {response.entries().begin(), response.entries().end()};
  }

  RelayHarness h_;
  TestAccount admin_, therapist_, client_;
};

TEST_F(ClinicTest, WhoMayInviteWhom) {
  EXPECT_EQ(InviteCode(admin_, v1::ROLE_ADMIN), grpc::StatusCode::OK);
  EXPECT_EQ(InviteCode(admin_, v1::ROLE_THERAPIST), grpc::StatusCode::OK);
  EXPECT_EQ(InviteCode(admin_, v1::ROLE_CLIENT), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(InviteCode(therapist_, v1::ROLE_CLIENT), grpc::StatusCode::OK);
  EXPECT_EQ(InviteCode(therapist_, v1::ROLE_THERAPIST), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(InviteCode(therapist_, v1::ROLE_ADMIN), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(InviteCode(client_, v1::ROLE_CLIENT), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(InviteCode(admin_, v1::ROLE_UNSPECIFIED), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ClinicTest, InviteResponseShape) {
  v1::CreateInviteRequest request;
  request.set_role(v1::ROLE_CLIENT);
  v1::CreateInviteResponse response;
  ASSERT_TRUE(h_.clinic().CreateInvite(h_.Ctx(therapist_).get(), request, &response).ok());
  EXPECT_EQ(response.invite_code().size(), 16u);
  EXPECT_EQ(response.invite_id().size(), 32u);
  EXPECT_EQ(response.expires_at(), 1'700'000'000u + 7 * 24 * 3600);
  EXPECT_EQ(response.role(), v1::ROLE_CLIENT);
}

TEST_F(ClinicTest, RevokedInvitesCannotBeRedeemed) {
  std::string code, id;
  ASSERT_TRUE(h_.CreateInvite(therapist_, v1::ROLE_CLIENT, &code, &id).ok());
  TestAccount other_therapist = h_.Invite(admin_, v1::ROLE_THERAPIST);
  EXPECT_EQ(Revoke(other_therapist, id), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Revoke(therapist_, "short"), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Revoke(therapist_, std::string(32, 'z')), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Revoke(therapist_, id), grpc::StatusCode::OK);
  EXPECT_EQ(Revoke(admin_, id), grpc::StatusCode::FAILED_PRECONDITION);
  TestAccount late = NewIdentity();
  EXPECT_EQ(h_.Register(code, &late).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Admins may revoke anyone's invite.
  ASSERT_TRUE(h_.CreateInvite(therapist_, v1::ROLE_CLIENT, &code, &id).ok());
  EXPECT_EQ(Revoke(admin_, id), grpc::StatusCode::OK);
}

TEST_F(ClinicTest, ListMembersIsForAdminsAndPages) {
  v1::ListMembersResponse page;
  EXPECT_EQ(h_.clinic().ListMembers(h_.Ctx(therapist_).get(), {}, &page).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListMembersRequest request;
  request.set_page_size(2);
  ASSERT_TRUE(h_.clinic().ListMembers(h_.Ctx(admin_).get(), request, &page).ok());
  ASSERT_EQ(page.members_size(), 2);
  ASSERT_FALSE(page.next_page_token().empty());
  request.set_page_token(page.next_page_token());
  v1::ListMembersResponse rest;
  ASSERT_TRUE(h_.clinic().ListMembers(h_.Ctx(admin_).get(), request, &rest).ok());
  ASSERT_EQ(rest.members_size(), 1);
  EXPECT_TRUE(rest.next_page_token().empty());
  std::set<std::string> ids = {page.members(0).account_id(), page.members(1).account_id(),
                               rest.members(0).account_id()};
  EXPECT_EQ(ids,
            (std::set<std::string>{admin_.account_id, therapist_.account_id, client_.account_id}));
  request.set_page_token("bad");
  EXPECT_EQ(h_.clinic().ListMembers(h_.Ctx(admin_).get(), request, &rest).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ClinicTest, DeactivationErasesAndLocksOut) {
  ASSERT_TRUE(h_.Send(therapist_, client_, "pending").ok());
  auto ctx = h_.Ctx(client_);
  auto reader = h_.relay_stub().Receive(ctx.get(), v1::ReceiveRequest());
  v1::ReceiveResponse response;
  ASSERT_TRUE(reader->Read(&response));  // the pending envelope

  EXPECT_EQ(Deactivate(therapist_, client_.account_id), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Deactivate(admin_, "short"), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Deactivate(admin_, admin_.account_id), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Deactivate(admin_, std::string(16, 'q')), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Deactivate(admin_, client_.account_id), grpc::StatusCode::OK);
  EXPECT_EQ(Deactivate(admin_, client_.account_id), grpc::StatusCode::OK);  // idempotent

  // The live stream ended, the token is dead, login is impossible, the link is gone.
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::ListContactsResponse contacts;
  EXPECT_EQ(h_.accounts().ListContacts(h_.Ctx(client_).get(), {}, &contacts).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(h_.Login(&client_).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(h_.Send(therapist_, client_, "x").error_code(), grpc::StatusCode::PERMISSION_DENIED);

  v1::ListMembersResponse members;
  ASSERT_TRUE(h_.clinic().ListMembers(h_.Ctx(admin_).get(), {}, &members).ok());
  bool seen = false;
  for (const auto& m : members.members()) {
    if (m.account_id() != client_.account_id) continue;
    seen = true;
    EXPECT_EQ(m.state(), v1::ACCOUNT_STATE_DEACTIVATED);
    EXPECT_TRUE(m.identity_key().empty());
  }
  EXPECT_TRUE(seen);
}

TEST_F(ClinicTest, AuditIsHashChainedAndRecordsSecurityEvents) {
  std::vector<v1::AuditEntry> entries = Audit();
  ASSERT_FALSE(entries.empty());
  std::string prev(32, '\0');
  std::set<v1::AuditEvent> events;
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].sequence(), i + 1);
    EXPECT_EQ(entries[i].prev_hash(), prev);
    // hash = BLAKE2b-256 of the entry encoded without its hash.
    v1::AuditEntry copy = entries[i];
    copy.clear_hash();
    std::string encoded = copy.SerializeAsString();
    std::string hash(32, '\0');
    crypto_generichash(reinterpret_cast<unsigned char*>(hash.data()), 32,
                       reinterpret_cast<const unsigned char*>(encoded.data()), encoded.size(),
                       nullptr, 0);
    EXPECT_EQ(entries[i].hash(), hash);
    prev = entries[i].hash();
    events.insert(entries[i].event());
  }
  for (auto e :
       {v1::AUDIT_EVENT_RELAY_INITIALIZED, v1::AUDIT_EVENT_INVITE_CREATED,
        v1::AUDIT_EVENT_INVITE_REDEEMED, v1::AUDIT_EVENT_REGISTERED, v1::AUDIT_EVENT_LOGIN_OK}) {
    EXPECT_TRUE(events.count(e)) << v1::AuditEvent_Name(e);
  }
  // Messages leave no audit trace.
  size_t before = entries.size();
  ASSERT_TRUE(h_.Send(therapist_, client_, "m").ok());
  ASSERT_TRUE(h_.Ack(client_, {1}).ok());
  EXPECT_EQ(Audit().size(), before);

  v1::ReadAuditResponse denied;
  EXPECT_EQ(h_.clinic().ReadAudit(h_.Ctx(therapist_).get(), {}, &denied).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ReadAuditRequest paged;
  paged.set_after_sequence(before - 1);
  ASSERT_TRUE(h_.clinic().ReadAudit(h_.Ctx(admin_).get(), paged, &denied).ok());
  ASSERT_EQ(denied.entries_size(), 1);
  EXPECT_EQ(denied.entries(0).sequence(), before);
}

TEST_F(ClinicTest, DeactivationAndDeletionAreAudited) {
  ASSERT_EQ(Deactivate(admin_, client_.account_id), grpc::StatusCode::OK);
  v1::DeleteAccountRequest request;
  request.set_confirm_account_id(therapist_.account_id);
  v1::DeleteAccountResponse out;
  ASSERT_TRUE(h_.accounts().DeleteAccount(h_.Ctx(therapist_).get(), request, &out).ok());
  std::vector<v1::AuditEntry> entries = Audit();
  ASSERT_GE(entries.size(), 2u);
  const v1::AuditEntry& deactivated = entries[entries.size() - 2];
  const v1::AuditEntry& deleted = entries.back();
  EXPECT_EQ(deactivated.event(), v1::AUDIT_EVENT_ACCOUNT_DEACTIVATED);
  EXPECT_EQ(deactivated.actor_account_id(), admin_.account_id);
  EXPECT_EQ(deactivated.subject_account_id(), client_.account_id);
  EXPECT_EQ(deleted.event(), v1::AUDIT_EVENT_ACCOUNT_DELETED);
  EXPECT_EQ(deleted.subject_account_id(), therapist_.account_id);
}

TEST_F(ClinicTest, CheckVerifiesTheChainOfAStoppedRelay) {
  h_.Stop();
  absl::StatusOr<std::string> summary = RelayServer::Check(h_.options());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_NE(summary->find("audit chain of"), std::string::npos);
  h_.Start();
}

}  // namespace
}  // namespace alliance::server::testing

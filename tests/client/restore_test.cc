// A relay restored from a backup must not hand out one-time prekeys that were handed out after
// the backup was taken: their owners deleted the private halves when the first message came,
// so a new session built on one could never be opened (the failure Matrix's Synapse documents
// for restored one-time keys). The restore withdraws every restored one-time prekey; first
// messages fall back to the signed prekey and clients top up at their next sync.
#include <filesystem>

#include "absl/strings/match.h"
#include "server/admin/restore.h"
#include "tests/client/client_fixture.h"

namespace alliance::client::testing {
namespace {

using RestoreTest = ClientFixture;

TEST_F(RestoreTest, NoOneTimePreKeyIsReusedAfterARestore) {
  BuildClinic();
  std::unique_ptr<Client> alex = Join("Alex", Invite(*therapist_, v1::ROLE_CLIENT));
  ASSERT_NE(alex, nullptr);
  auto before = therapist_->PreKeyStatus();
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_GT(before->one_time_prekey_count(), 0u);

  const std::string backup = (root_ / "backup").string();
  auto written = relay_->Backup(backup);
  ASSERT_TRUE(written.ok()) << written.status();

  // After the backup Sam starts a session, taking one of the therapist's one-time prekeys; the
  // therapist opens it and deletes that prekey's private half.
  ASSERT_TRUE(client_->SendText("therapist", "Before the disk failed").ok());
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);

  // The relay's disk is lost; the clinic restores last night's backup on the same address.
  StopRelay();
  const std::string restored = (root_ / "restored").string();
  auto summary = server::RestoreBackup(backup, restored);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(absl::StrContains(*summary, "one-time prekeys withdrawn")) << *summary;
  relay_dir_ = restored;
  StartRelay(Address());

  // Alex's first message would take that same prekey from the restored copy; it must open.
  auto sent = alex->SendText("therapist", "Hello from Alex");
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_TRUE(sent->sent);
  auto after = therapist_->Sync();
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].body, "Hello from Alex");

  // The therapist topped up at that sync, and the existing session with Sam still works.
  auto status = therapist_->PreKeyStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_GT(status->one_time_prekey_count(), 0u);
  ASSERT_TRUE(client_->SendText("therapist", "Still there?").ok());
  auto more = therapist_->Sync();
  ASSERT_TRUE(more.ok()) << more.status();
  ASSERT_EQ(more->size(), 1u);
  EXPECT_EQ((*more)[0].body, "Still there?");
  ASSERT_TRUE(therapist_->SendText("Sam", "Yes.").ok());
  auto reply = client_->Sync();
  ASSERT_TRUE(reply.ok()) << reply.status();
  bool seen = false;
  for (const MessageView& m : *reply) seen = seen || m.body == "Yes.";
  EXPECT_TRUE(seen);
}

TEST_F(RestoreTest, TheRestoreIsInTheAuditLogWithTheNumberWithdrawn) {
  BuildClinic();
  const std::string backup = (root_ / "backup").string();
  ASSERT_TRUE(relay_->Backup(backup).ok());
  StopRelay();
  const std::string restored = (root_ / "restored").string();
  ASSERT_TRUE(server::RestoreBackup(backup, restored).ok());
  relay_dir_ = restored;
  StartRelay(Address());
  auto entries = admin_->Audit(0, 1000, /*security_only=*/true);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_FALSE(entries->empty());
  const v1::AuditEntry& last = entries->back();
  EXPECT_EQ(last.event(), v1::AUDIT_EVENT_RELAY_RESTORED);
  // The therapist and Sam each published a full set at registration (the admin publishes
  // none: nobody starts a session with an admin).
  EXPECT_GT(last.count(), 0u);
  EXPECT_TRUE(CheckAuditChain(*entries).intact);
}

}  // namespace
}  // namespace alliance::client::testing

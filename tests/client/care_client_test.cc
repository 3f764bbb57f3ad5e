// Issue 5 through the client library and a real relay: the care agreement (propose, accept, in
// force only when both signed), notices and reply-due on sending, the therapist's due list and
// digest, held notifications, crisis prompt on the device, concerns and goals on both sides,
// out-of-office and device retention.
#include <algorithm>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "client/local_store.h"
#include "tests/client/client_fixture.h"

namespace alliance::client::testing {
namespace {

v1::Weekday Today(absl::Time t) {
  const absl::Weekday w = absl::GetWeekday(absl::ToCivilDay(t, absl::UTCTimeZone()));
  return static_cast<v1::Weekday>(static_cast<int>(w) + 1);  // absl: Monday = 0.
}

v1::Weekday Shift(v1::Weekday d, int days) {
  return static_cast<v1::Weekday>((static_cast<int>(d) - 1 + days + 7) % 7 + 1);
}

// An agreement in UTC whose only window is all of `day`.
v1::CareAgreement Draft(v1::Weekday day, uint32_t retention_days = 0) {
  v1::CareAgreement a;
  a.set_time_zone("UTC");
  v1::ResponseWindow* w = a.add_windows();
  w->set_day(day);
  w->set_start_minute(0);
  w->set_duration_minutes(1440);
  a.set_reply_within_working_hours(8);
  a.set_emergency_notice("In an emergency call 112 or the crisis line 0800 111 0111.");
  a.set_device_retention_days(retention_days);
  return a;
}

class CareClientTest : public ClientFixture {
 protected:
  // Therapist proposes, client accepts; both see it in force.
  void Agree(const v1::CareAgreement& draft) {
    ASSERT_TRUE(therapist_->ProposeAgreement("client", draft).ok());
    ASSERT_TRUE(client_->Sync().ok());
    ASSERT_TRUE(client_->AcceptAgreement("therapist").ok());
    ASSERT_TRUE(therapist_->Sync().ok());
  }
};

TEST_F(CareClientTest, AgreementIsInForceOnlyOnceBothSigned) {
  BuildClinic();
  ASSERT_TRUE(therapist_->ProposeAgreement("client", Draft(Today(absl::Now()))).ok());
  ASSERT_TRUE(client_->Sync().ok());
  auto proposed = client_->Agreement("therapist");
  ASSERT_TRUE(proposed.ok()) << proposed.status();
  EXPECT_FALSE(proposed->in_force.has_value());  // One signature is never enough.
  ASSERT_TRUE(proposed->pending.has_value());
  EXPECT_EQ(proposed->pending->version(), 1u);
  EXPECT_FALSE(therapist_->Agreement("client")->in_force.has_value());
  ASSERT_TRUE(client_->AcceptAgreement("therapist").ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  EXPECT_TRUE(client_->Agreement("therapist")->in_force.has_value());
  auto t = therapist_->Agreement("client");
  ASSERT_TRUE(t->in_force.has_value());
  EXPECT_EQ(t->in_force->time_zone(), "UTC");
  EXPECT_FALSE(t->pending.has_value());
  // Only the client countersigns, only the therapist proposes.
  EXPECT_EQ(client_->ProposeAgreement("therapist", Draft(Today(absl::Now()))).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(client_->AcceptAgreement("therapist").code(), absl::StatusCode::kFailedPrecondition);
  // A zero-window draft is refused before anything is sent.
  v1::CareAgreement empty = Draft(Today(absl::Now()));
  empty.clear_windows();
  EXPECT_EQ(therapist_->ProposeAgreement("client", empty).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CareClientTest, AReplyFromTheTherapistsLaptopClearsTheDueItemOnTheDesktop) {
  BuildClinic();
  Agree(Draft(Shift(Today(absl::Now()), 2)));
  // The therapist links a laptop: the agreement comes along, sealed to the code.
  auto laptop = Client::Init(Options("Rivera-laptop"), Pass("pw-Rivera-laptop"));
  ASSERT_TRUE(laptop.ok()) << laptop.status();
  RelayOptions relay;
  relay.address = Address();
  auto code = (*laptop)->StartLink(relay);
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_TRUE(therapist_->ApproveLink(code->code, "Laptop").ok());
  ASSERT_TRUE((*laptop)->FinishLink(absl::Seconds(5)).ok());
  auto agreement = (*laptop)->Agreement("client");
  ASSERT_TRUE(agreement.ok()) << agreement.status();
  EXPECT_TRUE(agreement->in_force.has_value());

  ASSERT_TRUE(client_->SendText("therapist", "I had a rough night.").ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  ASSERT_TRUE((*laptop)->Sync().ok());
  ASSERT_EQ(therapist_->DueList()->size(), 1u);
  ASSERT_EQ((*laptop)->DueList()->size(), 1u);
  // Answered from the laptop: the desktop sees the reply as sent, and nothing is due there.
  auto reply = (*laptop)->SendText("client", "Thank you for telling me; let's talk.");
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->sent);
  EXPECT_TRUE((*laptop)->DueList()->empty());
  ASSERT_TRUE(therapist_->Sync().ok());
  EXPECT_TRUE(therapist_->DueList()->empty());
  auto desk = therapist_->History("client");
  ASSERT_TRUE(desk.ok());
  EXPECT_EQ(desk->back().body, "Thank you for telling me; let's talk.");
  EXPECT_EQ(desk->back().direction, v1::DIRECTION_OUTGOING);
  // And the client got it once.
  auto got = client_->Sync();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, "Thank you for telling me; let's talk.");
}

TEST_F(CareClientTest, OutsideHoursNoticeDueListAndReplyClearsIt) {
  BuildClinic();
  Agree(Draft(Shift(Today(absl::Now()), 2)));  // The only window is the day after tomorrow.
  auto sent = client_->SendText("therapist", "I had a rough night.");
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_FALSE(sent->notice.empty());
  EXPECT_NE(sent->notice[0].find("outside agreed hours"), std::string::npos) << sent->notice[0];
  ASSERT_TRUE(sent->reply_due.has_value());
  EXPECT_GT(*sent->reply_due, absl::Now() + absl::Hours(24));
  ASSERT_TRUE(therapist_->Sync().ok());
  auto due = therapist_->DueList();
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].body, "I had a rough night.");
  ASSERT_TRUE((*due)[0].due_at.has_value());
  EXPECT_EQ(*(*due)[0].due_at, *sent->reply_due);  // Both sides compute the same due time.
  EXPECT_FALSE((*due)[0].overdue);
  // Outside the therapist's own windows, watch holds notifications.
  auto held = therapist_->HeldUntil("client");
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE(held->has_value());
  ASSERT_TRUE(therapist_->SendText("client", "Thank you for telling me; let's talk.").ok());
  EXPECT_TRUE(therapist_->DueList()->empty());
}

TEST_F(CareClientTest, InsideHoursNoNoticeAndNextSessionGoesToDigest) {
  BuildClinic();
  Agree(Draft(Today(absl::Now())));
  auto sent = client_->SendText("therapist", "Quick question about homework.");
  ASSERT_TRUE(sent.ok());
  EXPECT_TRUE(sent->notice.empty());
  SendOptions later;
  later.intent = v1::INTENT_FOR_NEXT_SESSION;
  ASSERT_TRUE(client_->SendText("therapist", "Something for Tuesday.", later).ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  EXPECT_FALSE(therapist_->HeldUntil("client")->has_value());
  auto due = therapist_->DueList();
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].body, "Quick question about homework.");
  auto digest = therapist_->Digest("client");
  ASSERT_TRUE(digest.ok());
  ASSERT_EQ(digest->size(), 1u);
  EXPECT_EQ((*digest)[0].body, "Something for Tuesday.");
}

TEST_F(CareClientTest, UrgentAlwaysShowsEmergencyNotice) {
  BuildClinic();
  Agree(Draft(Today(absl::Now())));
  SendOptions urgent;
  urgent.urgent = true;
  auto sent = client_->SendText("therapist", "Please call me.", urgent);
  ASSERT_TRUE(sent.ok());
  ASSERT_FALSE(sent->notice.empty());
  EXPECT_NE(sent->notice.back().find("112"), std::string::npos);
}

TEST_F(CareClientTest, CrisisPhrasePromptsOnTheDeviceAndNeverBlocks) {
  BuildClinic();
  auto first = client_->SendText("therapist", "I want to kill myself tonight");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->crisis_prompt);
  EXPECT_FALSE(first->sent);
  ASSERT_FALSE(first->notice.empty());
  EXPECT_TRUE(therapist_->Sync()->empty());  // Nothing left the device.
  SendOptions ack;
  ack.crisis_acknowledged = true;
  auto second = client_->SendText("therapist", "I want to kill myself tonight", ack);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->sent);
  auto got = therapist_->Sync();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, "I want to kill myself tonight");
  // A near miss sends straight away.
  auto near = client_->SendText("therapist", "This traffic is killing me");
  ASSERT_TRUE(near.ok());
  EXPECT_FALSE(near->crisis_prompt);
  EXPECT_TRUE(near->sent);
}

TEST_F(CareClientTest, OutOfOfficeNoticeReachesTheClient) {
  BuildClinic();
  Agree(Draft(Today(absl::Now())));
  v1::OutOfOffice away;
  away.set_start_unix(absl::ToUnixSeconds(absl::Now() - absl::Hours(1)));
  away.set_end_unix(absl::ToUnixSeconds(absl::Now() + absl::Hours(24 * 7)));
  away.set_notice("Away until next week; Dr. Chen covers urgent matters.");
  ASSERT_TRUE(therapist_->SetOutOfOffice({away}).ok());
  ASSERT_TRUE(client_->Sync().ok());
  auto sent = client_->SendText("therapist", "Are you around?");
  ASSERT_TRUE(sent.ok());
  bool shown = false;
  for (const std::string& line : sent->notice) shown |= line.find("Dr. Chen") != std::string::npos;
  EXPECT_TRUE(shown);
  EXPECT_EQ(client_->SetOutOfOffice({}).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(CareClientTest, ConcernLifecycleConvergesOnBothSides) {
  BuildClinic();
  auto id = client_->OpenConcern("therapist", "Medication side effects", "Dizzy since Monday");
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(therapist_->Sync().ok());
  auto due = therapist_->DueList();
  ASSERT_EQ(due->size(), 1u);  // An open concern awaits the therapist.
  // Only the other party acknowledges.
  EXPECT_EQ(
      client_->StepConcern("therapist", id->substr(0, 8), ConcernStep::kAcknowledge, "").code(),
      absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(
      therapist_->StepConcern("client", id->substr(0, 8), ConcernStep::kAcknowledge, "Seen").ok());
  EXPECT_TRUE(therapist_->DueList()->empty());  // Acknowledging answers the thread.
  ASSERT_TRUE(therapist_->StepConcern("client", *id, ConcernStep::kDefer, "Tuesday").ok());
  ASSERT_TRUE(client_->Sync().ok());
  auto mine = client_->Concerns("therapist");
  auto theirs = therapist_->Concerns("client");
  ASSERT_TRUE(mine.ok() && theirs.ok());
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].state, "deferred");
  EXPECT_EQ((*theirs)[0].state, "deferred");
  EXPECT_EQ(therapist_->Digest("client")->size(), 1u);  // Deferred concerns join the digest.
}

TEST_F(CareClientTest, GoalsEditedFromBothSidesConverge) {
  BuildClinic();
  auto id = therapist_->AddGoal("client", "Walk three times a week", "20 minutes");
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(client_->Sync().ok());
  ASSERT_TRUE(client_->StepGoal("therapist", *id, GoalStep::kProgress, "Walked twice", 60).ok());
  ASSERT_TRUE(therapist_->StepGoal("client", *id, GoalStep::kEdit, "Walk 3x weekly", {}).ok());
  ASSERT_TRUE(client_->Sync().ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  auto a = client_->Goals("therapist");
  auto b = therapist_->Goals("client");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), 1u);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*a)[0].title, (*b)[0].title);
  EXPECT_EQ((*a)[0].title, "Walk 3x weekly");
  EXPECT_EQ((*a)[0].percent, std::optional<uint32_t>(60));
  EXPECT_EQ((*b)[0].percent, std::optional<uint32_t>(60));
  ASSERT_TRUE(client_->StepGoal("therapist", *id, GoalStep::kComplete, "Done!", {}).ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  EXPECT_TRUE(therapist_->Goals("client")->at(0).completed);
}

TEST_F(CareClientTest, DeviceRetentionDeletesOldMessagesOnBothSides) {
  BuildClinic();
  Agree(Draft(Today(absl::Now()), /*retention_days=*/7));
  ASSERT_TRUE(client_->SendText("therapist", "old message").ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  ASSERT_EQ(therapist_->History("client")->size(), 1u);
  // Eight days later, both devices drop it at their next sync.
  for (auto* who : {&client_, &therapist_}) {
    const std::string dir = (*who)->Account()->role == v1::ROLE_CLIENT ? "Sam" : "Rivera";
    who->reset();
    ClientOptions later = Options(dir);
    later.clock = [] { return absl::Now() + absl::Hours(24 * 8); };
    auto reopened = Client::Open(later, Pass("pw-" + dir));
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    ASSERT_TRUE((*reopened)->Sync().ok());
    const std::string ref = dir == "Sam" ? "therapist" : "client";
    EXPECT_TRUE((*reopened)->History(ref)->empty()) << dir;
  }
}

// Issue 8, item 15. The attack: `ooo set` with a period longer than the agreement rules allow
// (367 days). Before the fix it was announced, and every later client send came back with no
// notice at all, not even the emergency notice.
TEST_F(CareClientTest, OutOfOfficeLongerThanTheRulesAllowIsRefusedAtSet) {
  BuildClinic();
  Agree(Draft(Today(absl::Now())));
  v1::OutOfOffice away;
  away.set_start_unix(absl::ToUnixSeconds(absl::Now() + absl::Hours(24)));
  away.set_end_unix(away.start_unix() + 367 * 24 * 3600);
  away.set_notice("Sabbatical");
  absl::Status s = therapist_->SetOutOfOffice({away});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()).find('\n'), std::string::npos);
  EXPECT_NE(s.message().find("366 days"), std::string::npos) << s;
  ASSERT_TRUE(client_->Sync().ok());
  EXPECT_TRUE(client_->Agreement("therapist")->out_of_office.empty());  // Nothing announced.
}

// Replaces the client's stored care log with `bytes` (as an older or damaged profile may have).
class CareStateTest : public CareClientTest {
 protected:
  void PutCareLog(const std::string& bytes) {
    const std::string therapist = client_->ResolveContact("therapist")->id;
    client_.reset();
    {
      auto store = LocalStore::Open(Options("Sam").profile_dir, Pass("pw-Sam"));
      ASSERT_TRUE(store.ok()) << store.status();
      ASSERT_TRUE((*store)
                      ->Run([&](LocalStore::Txn& txn) {
                        return txn.PutBytes("care/" + therapist, crypto::AsBytes(bytes));
                      })
                      .ok());
    }
    auto reopened = Client::Open(Options("Sam"), Pass("pw-Sam"));
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    client_ = *std::move(reopened);
  }
};

// An invalid period that did arrive (announced by an older client) is dropped on receipt: the
// agreement stays usable and the sender sees the usual notice, emergency notice included.
TEST_F(CareStateTest, InvalidAnnouncedOutOfOfficeNeverSilencesTheEmergencyNotice) {
  BuildClinic();
  Agree(Draft(Shift(Today(absl::Now()), 2)));  // Outside hours now.
  v1::OutOfOfficeUpdate update;
  update.set_format_version(1);
  update.set_issued_at_unix(absl::ToUnixSeconds(absl::Now()));
  v1::OutOfOffice* away = update.add_periods();
  away->set_start_unix(absl::ToUnixSeconds(absl::Now() + absl::Hours(24)));  // Not begun yet.
  away->set_end_unix(away->start_unix() + 367 * 24 * 3600);
  v1::CareLog log;
  log.mutable_out_of_office()->set_document(update.SerializeAsString());
  PutCareLog(log.SerializeAsString());
  auto sent = client_->SendText("therapist", "Can we talk?");
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_TRUE(sent->care_error.ok()) << sent->care_error;
  ASSERT_FALSE(sent->notice.empty());
  EXPECT_NE(sent->notice[0].find("outside agreed hours"), std::string::npos) << sent->notice[0];
  EXPECT_NE(sent->notice.back().find("0800 111 0111"), std::string::npos) << sent->notice.back();
  EXPECT_TRUE(client_->Agreement("therapist")->out_of_office.empty());
}

// When the care state cannot be evaluated at all, the message still goes, and the sender gets
// a plain warning and the emergency notice instead of silence (or a failed send).
TEST_F(CareStateTest, UnevaluableCareStateStillSendsAndShowsEmergencyNotice) {
  BuildClinic();
  Agree(Draft(Shift(Today(absl::Now()), 2)));
  PutCareLog(std::string("\x0a\xff\xff", 3));  // Does not parse.
  auto sent = client_->SendText("therapist", "Are you there?");
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_TRUE(sent->sent);
  EXPECT_FALSE(sent->care_error.ok());
  ASSERT_EQ(sent->notice.size(), 2u);
  EXPECT_NE(sent->notice[0].find("could not be checked"), std::string::npos) << sent->notice[0];
  EXPECT_NE(sent->notice[1].find("emergency"), std::string::npos) << sent->notice[1];
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, "Are you there?");
}

}  // namespace
}  // namespace alliance::client::testing

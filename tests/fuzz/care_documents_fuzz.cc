// Fuzz target: verification of care documents (care/agreement.h, care/goals.h,
// care/concerns.h) and of out-of-office announcements.
//
// Input: mode byte ‖ body. The pinned therapist and client keys are fixed (fuzz_util.h).
//   0: body is a v1::SignedAgreement, verified as received.
//   1: body is an agreement document; the harness signs it as both parties, so verification
//      reaches the parser, the canonical-form check and ValidateAgreement. A verified document
//      must be canonical, valid, countersigned and then in force in an AgreementHistory; the
//      time rules (IsWithinWindows, ActiveOutOfOffice) run on it without error.
//   2: body is a v1::SignedGoalEvent, verified as received under the client's key.
//   3: body is a goal event; the harness signs it as the client. A verified event is valid.
//   4: body is a v1::CareLog: its concern events and (unsigned) goal events are derived into
//      lists forwards and backwards, which must agree ("the result depends only on the set").
//   5: body is a v1::SignedOutOfOffice, checked as the client checks one on receipt
//      (care::VerifyOutOfOffice, then care::UsablePeriods).
//   6: body is an out-of-office update; the harness signs it as the therapist.
#include <algorithm>
#include <cstring>

#include "alliance/v1/client_records.pb.h"
#include "care/agreement.h"
#include "care/concerns.h"
#include "care/goals.h"
#include "care/out_of_office.h"
#include "care/reply_due.h"
#include "tests/fuzz/fuzz_util.h"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::fuzz {
namespace {

using crypto::ByteSpan;

std::string Str(ByteSpan b) { return std::string(b.begin(), b.end()); }

std::string SignAs(const crypto::IdentityKeyPair& key, const std::string& message) {
  crypto::Signature sig = key.Sign(crypto::AsBytes(message));
  return std::string(sig.begin(), sig.end());
}

std::string Deterministic(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

void CheckVerifiedAgreement(const care::VerifiedAgreement& v, const std::string* document) {
  RequireOk(care::ValidateAgreement(v.agreement), "a verified agreement is valid");
  if (document != nullptr) {
    Require(Deterministic(v.agreement) == *document, "a verified agreement is canonical");
  }
  const absl::Time t = absl::FromUnixSeconds(kNow);
  RequireOk(care::IsWithinWindows(t, v.agreement).status(), "windows of a valid agreement");
  (void)care::ActiveOutOfOffice(t, v.agreement);
}

void FuzzAgreement(const v1::SignedAgreement& signed_agreement, const std::string* document) {
  const CareParties& p = CareParties::Get();
  absl::StatusOr<care::VerifiedAgreement> v = care::VerifyAgreement(
      signed_agreement, p.therapist.public_key(), p.client.public_key());
  if (!v.ok()) {
    Require(absl::IsInvalidArgument(v.status()) || absl::IsPermissionDenied(v.status()),
            "agreement errors are INVALID_ARGUMENT or PERMISSION_DENIED");
    return;
  }
  CheckVerifiedAgreement(*v, document);
  care::AgreementHistory history(p.therapist.public_key(), p.client.public_key());
  absl::StatusOr<care::AgreementHistory::AddOutcome> added = history.Add(signed_agreement);
  RequireOk(added.status(), "a verified agreement is added");
  if (v->countersigned) {
    Require(history.InForce() != nullptr &&
                history.InForce()->agreement.version() == v->agreement.version(),
            "a countersigned agreement is in force");
  }
}

void FuzzGoal(const v1::SignedGoalEvent& signed_event, const std::string* event) {
  absl::StatusOr<v1::GoalEvent> e =
      care::VerifyGoalEvent(signed_event, CareParties::Get().client.public_key());
  if (!e.ok()) {
    Require(absl::IsInvalidArgument(e.status()) || absl::IsPermissionDenied(e.status()),
            "goal errors are INVALID_ARGUMENT or PERMISSION_DENIED");
    return;
  }
  RequireOk(care::ValidateGoalEvent(*e), "a verified goal event is valid");
  if (event != nullptr) Require(Deterministic(*e) == *event, "a verified goal event is canonical");
}

std::string Summary(const care::ConcernList& list) {
  std::string s = std::to_string(list.concerns.size()) + ";";
  for (const care::Concern& c : list.concerns) {
    s += c.concern_id + "|" + c.title + "|" + std::to_string(c.opened_by) + "|" +
         std::string(care::ConcernStateName(c.state)) + "|" + std::to_string(c.opened_lamport) +
         "|" + std::to_string(c.updated_lamport) + "|" + std::to_string(c.updated_by) + "|" +
         c.reply_message_id + "|" + c.note + ";";
  }
  return s;
}

std::string Summary(const care::GoalList& list) {
  std::string s = std::to_string(list.goals.size()) + ";";
  for (const care::Goal& g : list.goals) {
    s += g.goal_id + "|" + g.title + "|" + g.description + "|" + std::to_string(g.added_by) +
         "|" + std::to_string(g.added_lamport) + "|" + std::to_string(g.updated_lamport) + "|" +
         std::to_string(g.percent.value_or(1000)) + "|" + std::to_string(g.completed) + "|" +
         g.completion_note + "|" + std::to_string(g.progress.size()) + ";";
    for (const care::GoalProgress& pr : g.progress) {
      s += std::to_string(pr.lamport) + "," + pr.note + "," + std::to_string(pr.percent.value_or(1000));
    }
  }
  return s;
}

void FuzzLog(const v1::CareLog& log) {
  std::vector<v1::ConcernEvent> concerns(log.concerns().begin(), log.concerns().end());
  for (const v1::ConcernEvent& e : concerns) (void)care::ValidateConcernEvent(e);
  care::ConcernList forward = care::DeriveConcerns(concerns);
  std::reverse(concerns.begin(), concerns.end());
  Require(Summary(forward) == Summary(care::DeriveConcerns(concerns)),
          "concerns do not depend on event order");
  Require(care::NextConcernLamport(concerns) >= 1, "next concern clock is positive");

  std::vector<v1::GoalEvent> goals;
  for (const v1::SignedGoalEvent& s : log.goals()) {
    v1::GoalEvent e;
    if (e.ParseFromString(s.event())) goals.push_back(e);
  }
  care::GoalList gforward = care::DeriveGoals(goals);
  std::reverse(goals.begin(), goals.end());
  Require(Summary(gforward) == Summary(care::DeriveGoals(goals)), "goals do not depend on event order");
}

void FuzzOutOfOffice(const v1::SignedOutOfOffice& s) {
  const CareParties& p = CareParties::Get();
  absl::StatusOr<v1::OutOfOfficeUpdate> update =
      care::VerifyOutOfOffice(s, p.therapist.public_key());
  if (!update.ok()) return;
  Require(static_cast<size_t>(update->periods_size()) <= care::kMaxAnnouncedPeriods,
          "a verified announcement has a bounded number of periods");
  for (const v1::OutOfOffice& period : care::UsablePeriods(*update)) {
    Require(period.end_unix() > period.start_unix() &&
                static_cast<uint64_t>(period.end_unix()) - static_cast<uint64_t>(period.start_unix()) <=
                    static_cast<uint64_t>(care::kMaxOutOfOfficeSeconds) &&
                period.notice().size() <= care::kMaxNoticeBytes,
            "a valid period is non-empty, at most 366 days, with a bounded notice");
  }
}

}  // namespace
}  // namespace alliance::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  alliance::fuzz::InitSodiumOrDie();
  (void)alliance::fuzz::CareParties::Get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alliance;
  if (size < 1) return 0;
  const crypto::ByteSpan body(data + 1, size - 1);
  const fuzz::CareParties& p = fuzz::CareParties::Get();
  const std::string text = fuzz::Str(body);
  switch (data[0] % 7) {
    case 0: {
      v1::SignedAgreement s;
      if (s.ParseFromString(text)) fuzz::FuzzAgreement(s, nullptr);
      break;
    }
    case 1: {
      v1::SignedAgreement s;
      const std::string m = wire::DocumentMessage(wire::kAgreementDocument, text);
      s.set_document(text);
      s.set_therapist_signature(fuzz::SignAs(p.therapist, m));
      s.set_client_signature(fuzz::SignAs(p.client, m));
      fuzz::FuzzAgreement(s, &text);
      break;
    }
    case 2: {
      v1::SignedGoalEvent s;
      if (s.ParseFromString(text)) fuzz::FuzzGoal(s, nullptr);
      break;
    }
    case 3: {
      v1::SignedGoalEvent s;
      s.set_event(text);
      s.set_signature(fuzz::SignAs(p.client, wire::DocumentMessage(wire::kGoalDocument, text)));
      fuzz::FuzzGoal(s, &text);
      break;
    }
    case 4: {
      v1::CareLog log;
      if (log.ParseFromString(text)) fuzz::FuzzLog(log);
      break;
    }
    case 5: {
      v1::SignedOutOfOffice s;
      if (s.ParseFromString(text)) fuzz::FuzzOutOfOffice(s);
      break;
    }
    case 6: {
      v1::SignedOutOfOffice s;
      s.set_document(text);
      s.set_signature(
          fuzz::SignAs(p.therapist, wire::DocumentMessage(wire::kOutOfOfficeDocument, text)));
      fuzz::FuzzOutOfOffice(s);
      break;
    }
  }
  return 0;
}

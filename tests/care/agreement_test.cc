// Tests for client/care/agreement.h: validation, propose/accept/verify, and the version history.
#include "care/agreement.h"

#include <functional>
#include <string>

#include "care/internal/canonical_bytes.h"
#include "gtest/gtest.h"
#include "tests/care/care_test_util.h"

namespace alliance::care {
namespace {

using testing::BoundAgreement;
using testing::OfficeHours;
using testing::Parties;

class AgreementTest : public ::testing::Test {
 protected:
  v1::SignedAgreement Propose(uint64_t version) {
    absl::StatusOr<v1::SignedAgreement> s =
        ProposeAgreement(BoundAgreement(p_, version), p_.therapist);
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  v1::SignedAgreement ProposeAndAccept(uint64_t version) {
    absl::StatusOr<v1::SignedAgreement> s =
        AcceptAgreement(Propose(version), p_.therapist.public_key(), p_.client);
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  AgreementHistory History() const {
    return AgreementHistory(p_.therapist.public_key(), p_.client.public_key());
  }

  Parties p_;
};

TEST(AgreementValidationTest, AcceptsOfficeHours) {
  EXPECT_TRUE(ValidateAgreement(OfficeHours("Europe/Berlin")).ok());
  EXPECT_TRUE(ValidateAgreement(OfficeHours("America/New_York")).ok());
}

TEST(AgreementValidationTest, OutOfOfficePeriodValidatorAppliesTheAgreementRules) {
  v1::OutOfOffice p;
  p.set_start_unix(1'800'000'000);
  p.set_end_unix(p.start_unix() + kMaxOutOfOfficeSeconds);
  EXPECT_TRUE(ValidateOutOfOfficePeriod(p).ok());
  p.set_end_unix(p.start_unix() + kMaxOutOfOfficeSeconds + 1);  // 366 days and a second.
  EXPECT_EQ(ValidateOutOfOfficePeriod(p).code(), absl::StatusCode::kInvalidArgument);
  p.set_end_unix(p.start_unix());
  EXPECT_EQ(ValidateOutOfOfficePeriod(p).code(), absl::StatusCode::kInvalidArgument);
  p.set_end_unix(p.start_unix() + 3600);
  p.set_notice(std::string(kMaxNoticeBytes + 1, 'x'));
  EXPECT_EQ(ValidateOutOfOfficePeriod(p).code(), absl::StatusCode::kInvalidArgument);
}

TEST(AgreementValidationTest, RejectsZeroWindowAgreement) {
  v1::CareAgreement a = OfficeHours("Europe/Berlin");
  a.clear_windows();
  EXPECT_EQ(ValidateAgreement(a).code(), absl::StatusCode::kInvalidArgument);
}

TEST(AgreementValidationTest, RejectsEachMalformedField) {
  const std::vector<std::pair<const char*, std::function<void(v1::CareAgreement*)>>> cases = {
      {"format version 2", [](v1::CareAgreement* a) { a->set_format_version(2); }},
      {"version 0", [](v1::CareAgreement* a) { a->set_version(0); }},
      {"version too high", [](v1::CareAgreement* a) { a->set_version(kMaxAgreementVersion + 1); }},
      {"short therapist key", [](v1::CareAgreement* a) { a->set_therapist_identity_key("x"); }},
      {"equal keys",
       [](v1::CareAgreement* a) { a->set_client_identity_key(a->therapist_identity_key()); }},
      {"no zone", [](v1::CareAgreement* a) { a->set_time_zone(""); }},
      {"unknown zone", [](v1::CareAgreement* a) { a->set_time_zone("Mars/Olympus_Mons"); }},
      {"window without day",
       [](v1::CareAgreement* a) { a->mutable_windows(0)->set_day(v1::WEEKDAY_UNSPECIFIED); }},
      {"start 24:00", [](v1::CareAgreement* a) { a->mutable_windows(0)->set_start_minute(1440); }},
      {"zero duration",
       [](v1::CareAgreement* a) { a->mutable_windows(0)->set_duration_minutes(0); }},
      {"duration over a day",
       [](v1::CareAgreement* a) { a->mutable_windows(0)->set_duration_minutes(1441); }},
      {"too many windows",
       [](v1::CareAgreement* a) {
         for (int i = 0; i < 60; ++i) testing::AddWindow(a, v1::WEEKDAY_SUNDAY, 1, 0, 10);
       }},
      {"no commitment", [](v1::CareAgreement* a) { a->set_reply_within_working_hours(0); }},
      {"huge commitment", [](v1::CareAgreement* a) { a->set_reply_within_working_hours(2001); }},
      {"reversed away",
       [](v1::CareAgreement* a) {
         v1::OutOfOffice* o = a->add_out_of_office();
         o->set_start_unix(200);
         o->set_end_unix(100);
       }},
      {"away over a year",
       [](v1::CareAgreement* a) {
         v1::OutOfOffice* o = a->add_out_of_office();
         o->set_start_unix(0);
         o->set_end_unix(kMaxOutOfOfficeSeconds + 1);
       }},
      {"no emergency notice", [](v1::CareAgreement* a) { a->set_emergency_notice(""); }},
      {"long emergency notice",
       [](v1::CareAgreement* a) { a->set_emergency_notice(std::string(2001, 'x')); }},
      {"retention over ten years",
       [](v1::CareAgreement* a) { a->set_device_retention_days(3651); }},
      {"wordless crisis phrase", [](v1::CareAgreement* a) { a->add_crisis_phrases("?!"); }},
  };
  for (const auto& [name, mutate] : cases) {
    v1::CareAgreement a = OfficeHours("Europe/Berlin");
    mutate(&a);
    EXPECT_EQ(ValidateAgreement(a).code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST_F(AgreementTest, ProposeSignsDomainTaggedDocumentBytes) {
  v1::SignedAgreement s = Propose(1);
  EXPECT_TRUE(s.client_signature().empty());
  const std::string message = std::string("alliance/v1/doc/agreement") + s.document();
  EXPECT_TRUE(crypto::VerifySignature(p_.therapist.public_key(), crypto::AsBytes(message),
                                      crypto::AsBytes(s.therapist_signature())));
  // Without the domain tag the signature does not verify.
  EXPECT_FALSE(crypto::VerifySignature(p_.therapist.public_key(), crypto::AsBytes(s.document()),
                                       crypto::AsBytes(s.therapist_signature())));
}

TEST_F(AgreementTest, ProposeRejectsDocumentNamingAnotherTherapist) {
  v1::CareAgreement a = BoundAgreement(p_);
  EXPECT_EQ(ProposeAgreement(a, p_.other).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AgreementTest, ProposeRejectsZeroWindowAgreement) {
  v1::CareAgreement a = BoundAgreement(p_);
  a.clear_windows();
  EXPECT_EQ(ProposeAgreement(a, p_.therapist).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AgreementTest, AcceptedAgreementVerifiesWithBothSignatures) {
  v1::SignedAgreement both = ProposeAndAccept(1);
  absl::StatusOr<VerifiedAgreement> v =
      VerifyAgreement(both, p_.therapist.public_key(), p_.client.public_key());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->countersigned);
  EXPECT_EQ(v->agreement.time_zone(), "Europe/Berlin");
  EXPECT_EQ(v->signed_agreement.document(), both.document());
}

TEST_F(AgreementTest, ProposalVerifiesAsOneSided) {
  absl::StatusOr<VerifiedAgreement> v =
      VerifyAgreement(Propose(1), p_.therapist.public_key(), p_.client.public_key());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->countersigned);
}

TEST_F(AgreementTest, AcceptRejectsTamperedProposal) {
  v1::SignedAgreement s = Propose(1);
  std::string doc = s.document();
  doc[doc.size() / 2] ^= 0x01;
  s.set_document(doc);
  EXPECT_EQ(AcceptAgreement(s, p_.therapist.public_key(), p_.client).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AgreementTest, AcceptRejectsProposalSignedByAnotherKey) {
  v1::CareAgreement a = BoundAgreement(p_);
  a.set_therapist_identity_key(testing::KeyBytes(p_.other.public_key()));
  v1::SignedAgreement s = *ProposeAgreement(a, p_.other);
  EXPECT_EQ(AcceptAgreement(s, p_.therapist.public_key(), p_.client).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AgreementTest, AcceptRejectsAgreementMeantForAnotherClient) {
  v1::CareAgreement a = BoundAgreement(p_);
  a.set_client_identity_key(testing::KeyBytes(p_.other.public_key()));
  v1::SignedAgreement s = *ProposeAgreement(a, p_.therapist);
  EXPECT_EQ(AcceptAgreement(s, p_.therapist.public_key(), p_.client).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AgreementTest, AcceptRejectsAlreadyCountersignedAgreement) {
  EXPECT_EQ(
      AcceptAgreement(ProposeAndAccept(1), p_.therapist.public_key(), p_.client).status().code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST_F(AgreementTest, VerifyRejectsTamperedDocumentWithBothSignatures) {
  v1::SignedAgreement s = ProposeAndAccept(1);
  std::string doc = s.document();
  doc.back() ^= 0x20;
  s.set_document(doc);
  EXPECT_EQ(VerifyAgreement(s, p_.therapist.public_key(), p_.client.public_key()).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AgreementTest, VerifyRejectsTamperedClientSignature) {
  v1::SignedAgreement s = ProposeAndAccept(1);
  std::string sig = s.client_signature();
  sig[0] ^= 0x01;
  s.set_client_signature(sig);
  EXPECT_EQ(VerifyAgreement(s, p_.therapist.public_key(), p_.client.public_key()).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AgreementTest, VerifyRejectsCountersignatureByAnotherKey) {
  v1::SignedAgreement s = Propose(1);
  const crypto::Signature sig = p_.other.Sign(AgreementSignedMessage(s.document()));
  s.set_client_signature(reinterpret_cast<const char*>(sig.data()), sig.size());
  EXPECT_EQ(VerifyAgreement(s, p_.therapist.public_key(), p_.client.public_key()).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AgreementTest, VerifyRejectsClientOnlySignature) {
  v1::SignedAgreement s = ProposeAndAccept(1);
  s.clear_therapist_signature();
  EXPECT_EQ(VerifyAgreement(s, p_.therapist.public_key(), p_.client.public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AgreementTest, VerifyRejectsOversizedDocumentBeforeSignatures) {
  v1::SignedAgreement s = ProposeAndAccept(1);
  s.set_document(std::string(kMaxAgreementDocumentBytes + 1, 'x'));
  EXPECT_EQ(VerifyAgreement(s, p_.therapist.public_key(), p_.client.public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AgreementTest, VerifyRejectsNonCanonicalDocumentEvenWhenSigned) {
  // Both parties sign bytes carrying an unknown field: still refused, so one agreement has one
  // encoding.
  std::string doc = care_internal::DeterministicBytes(BoundAgreement(p_));
  doc += std::string("\xF8\x06\x01", 3);  // Field 111, varint 1.
  v1::SignedAgreement s;
  s.set_document(doc);
  const crypto::Signature ts = p_.therapist.Sign(AgreementSignedMessage(doc));
  const crypto::Signature cs = p_.client.Sign(AgreementSignedMessage(doc));
  s.set_therapist_signature(reinterpret_cast<const char*>(ts.data()), ts.size());
  s.set_client_signature(reinterpret_cast<const char*>(cs.data()), cs.size());
  EXPECT_EQ(VerifyAgreement(s, p_.therapist.public_key(), p_.client.public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AgreementTest, HistoryHasNothingInForceForProposalAlone) {
  AgreementHistory h = History();
  ASSERT_EQ(*h.Add(Propose(1)), AgreementHistory::AddOutcome::kAdded);
  EXPECT_EQ(h.InForce(), nullptr);
  ASSERT_NE(h.PendingProposal(), nullptr);
  EXPECT_EQ(h.PendingProposal()->agreement.version(), 1u);
}

TEST_F(AgreementTest, HistoryPutsCountersignedProposalInForce) {
  AgreementHistory h = History();
  ASSERT_TRUE(h.Add(Propose(1)).ok());
  ASSERT_EQ(*h.Add(ProposeAndAccept(1)), AgreementHistory::AddOutcome::kCountersigned);
  ASSERT_NE(h.InForce(), nullptr);
  EXPECT_EQ(h.InForce()->agreement.version(), 1u);
  EXPECT_EQ(h.PendingProposal(), nullptr);
  // The one-sided form arriving late changes nothing.
  EXPECT_EQ(*h.Add(Propose(1)), AgreementHistory::AddOutcome::kUnchanged);
  EXPECT_TRUE(h.InForce()->countersigned);
}

TEST_F(AgreementTest, HistoryNeverPutsTamperedAgreementInForce) {
  AgreementHistory h = History();
  v1::SignedAgreement s = ProposeAndAccept(1);
  std::string doc = s.document();
  doc[3] ^= 0x04;
  s.set_document(doc);
  EXPECT_EQ(h.Add(s).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(h.InForce(), nullptr);
  EXPECT_TRUE(h.versions().empty());
}

TEST_F(AgreementTest, HistoryKeepsOlderVersionInForceWhileNewerIsOnlyProposed) {
  AgreementHistory h = History();
  ASSERT_TRUE(h.Add(ProposeAndAccept(1)).ok());
  ASSERT_TRUE(h.Add(Propose(2)).ok());
  ASSERT_NE(h.InForce(), nullptr);
  EXPECT_EQ(h.InForce()->agreement.version(), 1u);
  ASSERT_NE(h.PendingProposal(), nullptr);
  EXPECT_EQ(h.PendingProposal()->agreement.version(), 2u);
  EXPECT_EQ(h.NextVersion(), 3u);
  ASSERT_TRUE(h.Add(ProposeAndAccept(2)).ok());
  EXPECT_EQ(h.InForce()->agreement.version(), 2u);
}

TEST_F(AgreementTest, HistoryKeepsAllVersionsInOrderWhateverTheArrivalOrder) {
  AgreementHistory h = History();
  ASSERT_TRUE(h.Add(ProposeAndAccept(3)).ok());
  ASSERT_TRUE(h.Add(ProposeAndAccept(1)).ok());
  ASSERT_TRUE(h.Add(Propose(2)).ok());
  ASSERT_EQ(h.versions().size(), 3u);
  EXPECT_EQ(h.versions()[0].agreement.version(), 1u);
  EXPECT_EQ(h.versions()[1].agreement.version(), 2u);
  EXPECT_EQ(h.versions()[2].agreement.version(), 3u);
  EXPECT_EQ(h.InForce()->agreement.version(), 3u);
  EXPECT_EQ(h.PendingProposal(), nullptr);  // Version 2 is older than the one in force.
  ASSERT_NE(h.Find(2), nullptr);
  EXPECT_FALSE(h.Find(2)->countersigned);
  EXPECT_EQ(h.Find(4), nullptr);
}

TEST_F(AgreementTest, HistoryRejectsDifferentDocumentWithSameVersion) {
  AgreementHistory h = History();
  ASSERT_TRUE(h.Add(ProposeAndAccept(1)).ok());
  v1::CareAgreement other = BoundAgreement(p_, 1);
  other.set_reply_within_working_hours(40);
  v1::SignedAgreement s = *ProposeAgreement(other, p_.therapist);
  EXPECT_EQ(h.Add(s).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(h.InForce()->agreement.reply_within_working_hours(), 16u);
}

TEST_F(AgreementTest, HistoryRejectsAgreementOfAnotherRelationship) {
  AgreementHistory h(p_.therapist.public_key(), p_.other.public_key());
  EXPECT_EQ(h.Add(ProposeAndAccept(1)).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(h.InForce(), nullptr);
}

TEST_F(AgreementTest, EmptyHistoryStartsAtVersionOne) {
  EXPECT_EQ(History().NextVersion(), 1u);
  EXPECT_EQ(History().InForce(), nullptr);
  EXPECT_EQ(History().PendingProposal(), nullptr);
}

}  // namespace
}  // namespace alliance::care

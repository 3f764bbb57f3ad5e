// Care agreement validation, signing, verification and version history.
#include "care/agreement.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "care/crisis.h"
#include "care/internal/canonical_bytes.h"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::care {
namespace {

constexpr char kBadSignature[] = "agreement signature invalid";

absl::Status Invalid(const char* what) {
  return absl::InvalidArgumentError(absl::StrCat("care agreement: ", what));
}

crypto::ByteSpan Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

bool KeyEquals(const std::string& bytes, const crypto::PublicKey& key) {
  return bytes.size() == key.size() && std::memcmp(bytes.data(), key.data(), key.size()) == 0;
}

absl::Status ValidateWindows(const v1::CareAgreement& a) {
  if (a.windows().empty()) return Invalid("no response window");
  if (static_cast<size_t>(a.windows_size()) > kMaxResponseWindows) {
    return Invalid("too many response windows");
  }
  for (const v1::ResponseWindow& w : a.windows()) {
    if (w.day() < v1::WEEKDAY_MONDAY || w.day() > v1::WEEKDAY_SUNDAY) {
      return Invalid("response window without a day");
    }
    if (w.start_minute() >= 24 * 60) return Invalid("response window start beyond 23:59");
    if (w.duration_minutes() < 1 || w.duration_minutes() > 24 * 60) {
      return Invalid("response window duration outside 1..1440 minutes");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOutOfOffice(const v1::CareAgreement& a) {
  if (static_cast<size_t>(a.out_of_office_size()) > kMaxOutOfOfficePeriods) {
    return Invalid("too many out-of-office periods");
  }
  for (const v1::OutOfOffice& p : a.out_of_office()) {
    ALLIANCE_RETURN_IF_ERROR(ValidateOutOfOfficePeriod(p));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateOutOfOfficePeriod(const v1::OutOfOffice& p) {
  if (p.end_unix() <= p.start_unix()) return Invalid("out-of-office period empty or reversed");
  // Written so that it cannot overflow for any int64 pair with end > start.
  if (static_cast<uint64_t>(p.end_unix()) - static_cast<uint64_t>(p.start_unix()) >
      static_cast<uint64_t>(kMaxOutOfOfficeSeconds)) {
    return Invalid("out-of-office period longer than 366 days");
  }
  if (p.notice().size() > kMaxNoticeBytes) return Invalid("out-of-office notice too long");
  return absl::OkStatus();
}

absl::Status ValidateAgreement(const v1::CareAgreement& a) {
  if (a.format_version() != kAgreementFormatVersion) return Invalid("unknown format version");
  if (a.version() == 0 || a.version() > kMaxAgreementVersion) {
    return Invalid("version outside 1..2^32");
  }
  if (a.therapist_identity_key().size() != crypto::kKeySize ||
      a.client_identity_key().size() != crypto::kKeySize) {
    return Invalid("identity key size");
  }
  if (a.therapist_identity_key() == a.client_identity_key()) {
    return Invalid("therapist and client keys are equal");
  }
  if (a.time_zone().empty() || a.time_zone().size() > kMaxTimeZoneBytes) {
    return Invalid("time zone missing or too long");
  }
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(a.time_zone(), &zone)) return Invalid("unknown time zone");
  ALLIANCE_RETURN_IF_ERROR(ValidateWindows(a));
  if (a.reply_within_working_hours() < 1 ||
      a.reply_within_working_hours() > kMaxReplyWithinWorkingHours) {
    return Invalid("reply commitment outside 1..2000 working hours");
  }
  ALLIANCE_RETURN_IF_ERROR(ValidateOutOfOffice(a));
  if (a.emergency_notice().empty()) return Invalid("emergency notice missing");
  if (a.emergency_notice().size() > kMaxNoticeBytes) return Invalid("emergency notice too long");
  if (a.device_retention_days() > kMaxDeviceRetentionDays) {
    return Invalid("device retention beyond 3650 days");
  }
  if (static_cast<size_t>(a.crisis_phrases_size()) > kMaxCrisisPhrases) {
    return Invalid("too many crisis phrases");
  }
  for (const std::string& phrase : a.crisis_phrases()) {
    if (!IsValidCrisisPhrase(phrase)) return Invalid("unusable crisis phrase");
  }
  return absl::OkStatus();
}

std::vector<uint8_t> AgreementSignedMessage(std::string_view document) {
  const std::string bytes = wire::DocumentMessage(wire::kAgreementDocument, document);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

absl::StatusOr<v1::SignedAgreement> ProposeAgreement(const v1::CareAgreement& agreement,
                                                     const crypto::IdentityKeyPair& therapist) {
  ALLIANCE_RETURN_IF_ERROR(ValidateAgreement(agreement));
  if (!KeyEquals(agreement.therapist_identity_key(), therapist.public_key())) {
    return Invalid("therapist_identity_key is not the signer's key");
  }
  v1::SignedAgreement out;
  out.set_document(care_internal::DeterministicBytes(agreement));
  if (out.document().size() > kMaxAgreementDocumentBytes) return Invalid("document too large");
  const crypto::Signature sig = therapist.Sign(AgreementSignedMessage(out.document()));
  out.set_therapist_signature(reinterpret_cast<const char*>(sig.data()), sig.size());
  return out;
}

absl::StatusOr<VerifiedAgreement> VerifyAgreement(const v1::SignedAgreement& signed_agreement,
                                                  const crypto::PublicKey& therapist,
                                                  const crypto::PublicKey& client) {
  const std::string& document = signed_agreement.document();
  if (document.empty() || document.size() > kMaxAgreementDocumentBytes) {
    return Invalid("document empty or too large");
  }
  if (signed_agreement.therapist_signature().size() != crypto::kSignatureSize ||
      (!signed_agreement.client_signature().empty() &&
       signed_agreement.client_signature().size() != crypto::kSignatureSize)) {
    return Invalid("signature size");
  }
  const std::vector<uint8_t> message = AgreementSignedMessage(document);
  if (!crypto::VerifySignature(therapist, message, Bytes(signed_agreement.therapist_signature()))) {
    return absl::PermissionDeniedError(kBadSignature);
  }
  const bool countersigned = !signed_agreement.client_signature().empty();
  if (countersigned &&
      !crypto::VerifySignature(client, message, Bytes(signed_agreement.client_signature()))) {
    return absl::PermissionDeniedError(kBadSignature);
  }
  VerifiedAgreement out;
  if (!out.agreement.ParseFromString(document)) return Invalid("document does not parse");
  // Canonical: no unknown fields (at any depth) and the deterministic encoding.
  out.agreement.DiscardUnknownFields();
  if (care_internal::DeterministicBytes(out.agreement) != document) {
    return Invalid("document not canonical");
  }
  ALLIANCE_RETURN_IF_ERROR(ValidateAgreement(out.agreement));
  if (!KeyEquals(out.agreement.therapist_identity_key(), therapist) ||
      !KeyEquals(out.agreement.client_identity_key(), client)) {
    return absl::PermissionDeniedError("agreement names other identities");
  }
  out.signed_agreement = signed_agreement;
  out.countersigned = countersigned;
  return out;
}

absl::StatusOr<v1::SignedAgreement> AcceptAgreement(const v1::SignedAgreement& proposal,
                                                    const crypto::PublicKey& therapist,
                                                    const crypto::IdentityKeyPair& client) {
  ALLIANCE_ASSIGN_OR_RETURN(VerifiedAgreement verified,
                            VerifyAgreement(proposal, therapist, client.public_key()));
  if (verified.countersigned) {
    return absl::FailedPreconditionError("agreement already countersigned");
  }
  v1::SignedAgreement out = proposal;
  const crypto::Signature sig = client.Sign(AgreementSignedMessage(out.document()));
  out.set_client_signature(reinterpret_cast<const char*>(sig.data()), sig.size());
  return out;
}

AgreementHistory::AgreementHistory(const crypto::PublicKey& therapist,
                                   const crypto::PublicKey& client)
    : therapist_(therapist), client_(client) {}

absl::StatusOr<AgreementHistory::AddOutcome> AgreementHistory::Add(
    const v1::SignedAgreement& signed_agreement) {
  ALLIANCE_ASSIGN_OR_RETURN(VerifiedAgreement verified,
                            VerifyAgreement(signed_agreement, therapist_, client_));
  const uint64_t version = verified.agreement.version();
  auto it = std::lower_bound(
      versions_.begin(), versions_.end(), version,
      [](const VerifiedAgreement& v, uint64_t n) { return v.agreement.version() < n; });
  if (it != versions_.end() && it->agreement.version() == version) {
    if (it->signed_agreement.document() != verified.signed_agreement.document()) {
      return absl::AlreadyExistsError("another agreement document has this version number");
    }
    if (verified.countersigned && !it->countersigned) {
      *it = std::move(verified);
      return AddOutcome::kCountersigned;
    }
    return AddOutcome::kUnchanged;
  }
  versions_.insert(it, std::move(verified));
  return AddOutcome::kAdded;
}

const VerifiedAgreement* AgreementHistory::InForce() const {
  for (auto it = versions_.rbegin(); it != versions_.rend(); ++it) {
    if (it->countersigned) return &*it;
  }
  return nullptr;
}

const VerifiedAgreement* AgreementHistory::PendingProposal() const {
  if (versions_.empty() || versions_.back().countersigned) return nullptr;
  return &versions_.back();
}

const VerifiedAgreement* AgreementHistory::Find(uint64_t version) const {
  for (const VerifiedAgreement& v : versions_) {
    if (v.agreement.version() == version) return &v;
  }
  return nullptr;
}

uint64_t AgreementHistory::NextVersion() const {
  return versions_.empty() ? 1 : versions_.back().agreement.version() + 1;
}

}  // namespace alliance::care

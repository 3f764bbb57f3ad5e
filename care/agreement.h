// The care agreement as a signed document (DESIGN §1, appendix "signed documents"; issue 5).
//
// The therapist fills in a v1::CareAgreement and proposes it: the document is serialized once
// (deterministically) and signed. The client verifies the therapist's signature and
// countersigns the same bytes. Either side verifies both signatures on receipt against the two
// identity keys pinned for the relationship, and keeps every version in an AgreementHistory,
// which answers which version is in force: the highest version number both parties signed.
// A tampered, one-sided or foreign document is never in force.
//
//   // Therapist:
//   ALLIANCE_ASSIGN_OR_RETURN(v1::SignedAgreement proposal, ProposeAgreement(doc, therapist_id));
//   // Client, on receipt:
//   ALLIANCE_ASSIGN_OR_RETURN(v1::SignedAgreement signed_both,
//                             AcceptAgreement(proposal, therapist_key, client_id));
//   // Both sides:
//   AgreementHistory history(therapist_key, client_key);
//   ALLIANCE_RETURN_IF_ERROR(history.Add(signed_both).status());
//   if (const VerifiedAgreement* in_force = history.InForce()) { ... in_force->agreement ... }
//
// Signatures: Ed25519 over "alliance/v1/doc/agreement" ‖ document bytes. A document is accepted
// only in canonical form (its deterministic re-serialization equals the signed bytes), so there
// is exactly one encoding per agreement and unknown fields cannot ride along.
//
// Thread safety: free functions are pure. AgreementHistory is a value type with no internal
// locking; const methods may be called concurrently, mutations need external synchronization.
#ifndef ALLIANCE_CARE_AGREEMENT_H_
#define ALLIANCE_CARE_AGREEMENT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "alliance/v1/care.pb.h"
#include "crypto/keys.h"

namespace alliance::care {

// The domain string of agreement signatures (DESIGN appendix).
// Current CareAgreement.format_version.
inline constexpr uint32_t kAgreementFormatVersion = 1;

// Bounds checked by ValidateAgreement and VerifyAgreement (untrusted input).
inline constexpr size_t kMaxAgreementDocumentBytes = 32 * 1024;
inline constexpr uint64_t kMaxAgreementVersion = uint64_t{1} << 32;
inline constexpr size_t kMaxResponseWindows = 64;
inline constexpr size_t kMaxOutOfOfficePeriods = 64;
inline constexpr size_t kMaxNoticeBytes = 2000;
inline constexpr size_t kMaxTimeZoneBytes = 64;
inline constexpr uint32_t kMaxReplyWithinWorkingHours = 2000;
inline constexpr uint32_t kMaxDeviceRetentionDays = 3650;
inline constexpr int64_t kMaxOutOfOfficeSeconds = 366LL * 24 * 3600;

// Checks that `agreement` is a usable version-1 document. Returns INVALID_ARGUMENT, with the
// offending field in the message, when: format_version is not 1; version is outside
// 1..kMaxAgreementVersion; an identity key is not 32 bytes or both keys are equal; the time
// zone is empty, too long or does not load (absl::LoadTimeZone over the system tz database);
// there is no response window (a zero-window agreement promises nothing and is rejected) or
// more than kMaxResponseWindows; a window has no day, a start minute >= 1440 or a duration
// outside 1..1440; the reply commitment is outside 1..kMaxReplyWithinWorkingHours; an
// out-of-office period is empty, reversed or longer than 366 days, or there are too many; the
// emergency notice is empty; a notice is longer than kMaxNoticeBytes; device retention exceeds
// kMaxDeviceRetentionDays; a crisis phrase is unusable (crisis.h) or there are more than
// kMaxCrisisPhrases.
[[nodiscard]] absl::Status ValidateAgreement(const v1::CareAgreement& agreement);

// Checks one out-of-office period against the rules ValidateAgreement applies to each:
// INVALID_ARGUMENT (one line naming the rule) when it is empty or reversed, longer than
// kMaxOutOfOfficeSeconds (366 days), or its notice is longer than kMaxNoticeBytes. Used when a
// therapist sets a period, and on receipt (an invalid period is dropped, never overlaid on the
// agreement in force).
[[nodiscard]] absl::Status ValidateOutOfOfficePeriod(const v1::OutOfOffice& period);

// The exact bytes each signature covers: "alliance/v1/doc/agreement" ‖ document
// (wire::DocumentMessage).
std::vector<uint8_t> AgreementSignedMessage(std::string_view document);

// Therapist side: validates `agreement`, serializes it canonically and signs it with
// `therapist`. The result has no client signature yet.
// INVALID_ARGUMENT when ValidateAgreement fails or agreement.therapist_identity_key is not
// `therapist`'s public key.
[[nodiscard]] absl::StatusOr<v1::SignedAgreement> ProposeAgreement(
    const v1::CareAgreement& agreement, const crypto::IdentityKeyPair& therapist);

// A signed agreement whose signatures were checked.
struct VerifiedAgreement {
  // The parsed document.
  v1::CareAgreement agreement;
  // The signed form as received (document bytes and signatures), to store or forward.
  v1::SignedAgreement signed_agreement;
  // True only when both signatures are present and valid; false for a proposal that carries
  // the therapist's signature only. Only a countersigned agreement can be in force.
  bool countersigned = false;
};

// Verifies a received agreement against the identity keys pinned for the relationship, in this
// order (bounds first, then signatures, then parsing):
//  * INVALID_ARGUMENT: the document is empty or larger than kMaxAgreementDocumentBytes, or a
//    signature field has the wrong size (the client's may be empty).
//  * PERMISSION_DENIED ("agreement signature invalid", the same message for every case): the
//    therapist signature does not verify under `therapist`, or a client signature is present
//    and does not verify under `client`.
//  * INVALID_ARGUMENT: the document does not parse, is not canonical or fails
//    ValidateAgreement.
//  * PERMISSION_DENIED: the identity keys named in the document are not `therapist`/`client`.
[[nodiscard]] absl::StatusOr<VerifiedAgreement> VerifyAgreement(
    const v1::SignedAgreement& signed_agreement, const crypto::PublicKey& therapist,
    const crypto::PublicKey& client);

// Client side: verifies `proposal` (as VerifyAgreement, with `client`'s own public key pinned;
// errors as there) and countersigns the same document bytes. FAILED_PRECONDITION when the
// proposal is already countersigned.
[[nodiscard]] absl::StatusOr<v1::SignedAgreement> AcceptAgreement(
    const v1::SignedAgreement& proposal, const crypto::PublicKey& therapist,
    const crypto::IdentityKeyPair& client);

// Every version of the agreement between one therapist and one client.
class AgreementHistory {
 public:
  // What Add did.
  enum class AddOutcome {
    kAdded,          // A version not seen before (proposed or countersigned).
    kCountersigned,  // A known proposal now carries both signatures.
    kUnchanged,      // Already known in this or a stronger form (e.g. a redelivery).
  };

  // The two identity keys pinned for the relationship (copied).
  AgreementHistory(const crypto::PublicKey& therapist, const crypto::PublicKey& client);

  // Verifies `signed_agreement` (VerifyAgreement; its errors are returned and nothing is kept)
  // and records it. Version numbers identify documents: ALREADY_EXISTS when a different
  // document with the same version number is known (the therapist must propose a higher
  // number). Versions may arrive in any order; all are kept.
  [[nodiscard]] absl::StatusOr<AddOutcome> Add(const v1::SignedAgreement& signed_agreement);

  // The version in force: the highest version number with both signatures valid. nullptr when
  // none. The pointer is valid until the next Add.
  const VerifiedAgreement* InForce() const;

  // The highest proposal awaiting the client's countersignature that is newer than the version
  // in force, or nullptr. The pointer is valid until the next Add.
  const VerifiedAgreement* PendingProposal() const;

  // The version with this number, or nullptr. Valid until the next Add.
  const VerifiedAgreement* Find(uint64_t version) const;

  // The number for the therapist's next proposal: one more than the highest version known.
  uint64_t NextVersion() const;

  // All versions, ascending by version number (strictly increasing).
  const std::vector<VerifiedAgreement>& versions() const { return versions_; }

 private:
  crypto::PublicKey therapist_;
  crypto::PublicKey client_;
  std::vector<VerifiedAgreement> versions_;
};

}  // namespace alliance::care

#endif  // ALLIANCE_CARE_AGREEMENT_H_

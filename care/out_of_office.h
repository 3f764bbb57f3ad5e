// A therapist's out-of-office announcement: signed by the therapist's identity key, verified by
// every client that receives it, one definition for both sides (and the fuzzer).
//
//   ALLIANCE_ASSIGN_OR_RETURN(v1::SignedOutOfOffice s, SignOutOfOffice(update, identity));
//   ALLIANCE_ASSIGN_OR_RETURN(v1::OutOfOfficeUpdate got, VerifyOutOfOffice(s, therapist_key));
//   std::vector<v1::OutOfOffice> shown = UsablePeriods(got);
//
// Thread safety: pure functions.
#ifndef ALLIANCE_CARE_OUT_OF_OFFICE_H_
#define ALLIANCE_CARE_OUT_OF_OFFICE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "alliance/v1/care.pb.h"
#include "crypto/keys.h"

namespace alliance::care {

// At most this many periods in one announcement.
inline constexpr size_t kMaxAnnouncedPeriods = 32;

// Signs `update` as the therapist. INVALID_ARGUMENT when it has more than kMaxAnnouncedPeriods
// periods, a format version other than 1, or a period ValidateOutOfOfficePeriod refuses.
[[nodiscard]] absl::StatusOr<v1::SignedOutOfOffice> SignOutOfOffice(
    const v1::OutOfOfficeUpdate& update, const crypto::IdentityKeyPair& therapist);

// Verifies an announcement received from the therapist whose identity key is `therapist`.
// PERMISSION_DENIED when the signature does not verify; INVALID_ARGUMENT when the document does
// not parse, has a format version other than 1 or more than kMaxAnnouncedPeriods periods.
// Periods are not checked one by one here: UsablePeriods drops the ones the rules refuse.
[[nodiscard]] absl::StatusOr<v1::OutOfOfficeUpdate> VerifyOutOfOffice(
    const v1::SignedOutOfOffice& announcement, const crypto::PublicKey& therapist);

// The periods of a verified update that ValidateOutOfOfficePeriod accepts (a period it refuses,
// merged into an agreement, would make the whole care state unusable, emergency notice
// included), at most kMaxAnnouncedPeriods.
std::vector<v1::OutOfOffice> UsablePeriods(const v1::OutOfOfficeUpdate& update);

}  // namespace alliance::care

#endif  // ALLIANCE_CARE_OUT_OF_OFFICE_H_

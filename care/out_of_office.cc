#include "care/out_of_office.h"

#include <string>

#include "base/status_macros.h"
#include "care/agreement.h"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::care {
namespace {

std::string SignedBytes(const std::string& document) {
  return wire::DocumentMessage(wire::kOutOfOfficeDocument, document);
}

}  // namespace

absl::StatusOr<v1::SignedOutOfOffice> SignOutOfOffice(const v1::OutOfOfficeUpdate& update,
                                                      const crypto::IdentityKeyPair& therapist) {
  if (update.format_version() != 1) return absl::InvalidArgumentError("unknown format version");
  if (static_cast<size_t>(update.periods_size()) > kMaxAnnouncedPeriods) {
    return absl::InvalidArgumentError("too many out-of-office periods");
  }
  for (const v1::OutOfOffice& p : update.periods()) {
    ALLIANCE_RETURN_IF_ERROR(ValidateOutOfOfficePeriod(p));
  }
  v1::SignedOutOfOffice s;
  if (!update.SerializeToString(s.mutable_document())) {
    return absl::InternalError("cannot serialize out-of-office update");
  }
  const crypto::Signature sig = therapist.Sign(crypto::AsBytes(SignedBytes(s.document())));
  s.set_signature(reinterpret_cast<const char*>(sig.data()), sig.size());
  return s;
}

absl::StatusOr<v1::OutOfOfficeUpdate> VerifyOutOfOffice(const v1::SignedOutOfOffice& announcement,
                                                        const crypto::PublicKey& therapist) {
  if (!crypto::VerifySignature(therapist, crypto::AsBytes(SignedBytes(announcement.document())),
                               crypto::AsBytes(announcement.signature()))) {
    return absl::PermissionDeniedError("out-of-office signature invalid");
  }
  v1::OutOfOfficeUpdate update;
  if (!update.ParseFromString(announcement.document()) || update.format_version() != 1) {
    return absl::InvalidArgumentError("out-of-office document is malformed");
  }
  if (static_cast<size_t>(update.periods_size()) > kMaxAnnouncedPeriods) {
    return absl::InvalidArgumentError("too many out-of-office periods");
  }
  return update;
}

std::vector<v1::OutOfOffice> UsablePeriods(const v1::OutOfOfficeUpdate& update) {
  std::vector<v1::OutOfOffice> valid;
  for (const v1::OutOfOffice& p : update.periods()) {
    if (ValidateOutOfOfficePeriod(p).ok() && valid.size() < kMaxAnnouncedPeriods) {
      valid.push_back(p);
    }
  }
  return valid;
}

}  // namespace alliance::care

// Helpers of the care parts of ClientCore: care log names and bounds, party, key and id matching.
// Internal to client/ (the parts of ClientCore share it).
#ifndef ALLIANCE_CLIENT_INTERNAL_CARE_HELPERS_H_
#define ALLIANCE_CLIENT_INTERNAL_CARE_HELPERS_H_

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "care/agreement.h"
#include "care/concerns.h"
#include "care/crisis.h"
#include "care/due_list.h"
#include "care/goals.h"
#include "care/notice.h"
#include "care/out_of_office.h"
#include "care/reply_due.h"
#include "client/envelope_opener.h"
#include "client/internal/client_core.h"
#include "client/internal/core_helpers.h"
#include "client/receive_stream.h"
#include "client/store_names.h"
#include "crypto/record_io.h"
#include "crypto/safety_number.h"
#include "crypto/session.h"
#include "nlohmann/json.hpp"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::client {

inline constexpr size_t kMaxCareEvents = 10000;
// A care log (one sealed record per contact) stops growing at this size. Default: 4 MiB.
inline constexpr size_t kMaxCareLogBytes = 4 * 1024 * 1024;

inline std::string AgreementName(const std::string& hex) { return "agreements/" + hex; }
inline std::string CareName(const std::string& hex) { return "care/" + hex; }

inline v1::Party PartyOf(v1::Role role) {
  if (role == v1::ROLE_THERAPIST) return v1::PARTY_THERAPIST;
  if (role == v1::ROLE_CLIENT) return v1::PARTY_CLIENT;
  return v1::PARTY_UNSPECIFIED;
}

inline absl::StatusOr<crypto::PublicKey> Key(const std::string& bytes) {
  return crypto::ParsePublicKey(crypto::AsBytes(bytes));
}

// A concern or goal id given by the user: a unique hex prefix of an id in `ids`.
inline absl::StatusOr<std::string> MatchId(const std::string& prefix,
                                           const std::vector<std::string>& ids, const char* what) {
  std::vector<std::string> hits;
  for (const std::string& id : ids) {
    if (prefix.size() >= 4 && ToHex(id).rfind(prefix, 0) == 0) hits.push_back(id);
  }
  if (hits.size() == 1) return hits[0];
  if (hits.empty()) return absl::NotFoundError(std::string("no ") + what + " matches " + prefix);
  return absl::InvalidArgumentError(std::string(what) + " id " + prefix + " is ambiguous");
}

// The concern and goal log with a contact (empty when none yet).
inline absl::StatusOr<v1::CareLog> LoadCareLog(LocalStore& store, const std::string& hex) {
  v1::CareLog l;
  ALLIANCE_RETURN_IF_ERROR(store.Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::CareLog> log, txn.Get<v1::CareLog>(CareName(hex)));
    l = log.value_or(v1::CareLog());
    return absl::OkStatus();
  }));
  return l;
}

inline std::vector<v1::ConcernEvent> ConcernEvents(const v1::CareLog& l) {
  return std::vector<v1::ConcernEvent>(l.concerns().begin(), l.concerns().end());
}

// Goal events as signed and stored (each was verified when it was applied).
inline std::vector<v1::GoalEvent> GoalEvents(const v1::CareLog& l) {
  std::vector<v1::GoalEvent> events;
  for (const v1::SignedGoalEvent& s : l.goals()) {
    v1::GoalEvent e;
    if (e.ParseFromString(s.event())) events.push_back(std::move(e));
  }
  return events;
}

// The agreement history with a contact, rebuilt (and every signature re-verified) from the
// stored log. The therapist's key is ours when `i_am_therapist`, the contact's otherwise.
inline absl::StatusOr<care::AgreementHistory> LoadAgreementHistory(
    LocalStore::Txn& txn, const std::string& hex, const crypto::PublicKey& mine,
    const crypto::PublicKey& theirs, bool i_am_therapist, v1::AgreementLog* log = nullptr) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AgreementLog> stored,
                            txn.Get<v1::AgreementLog>(AgreementName(hex)));
  care::AgreementHistory history(i_am_therapist ? mine : theirs, i_am_therapist ? theirs : mine);
  const v1::AgreementLog all = stored.value_or(v1::AgreementLog());
  for (const v1::SignedAgreement& a : all.versions()) (void)history.Add(a);
  if (log != nullptr) *log = all;
  return history;
}

// The out-of-office periods the therapist last announced (empty when none).
inline absl::StatusOr<std::vector<v1::OutOfOffice>> AnnouncedOutOfOffice(LocalStore::Txn& txn,
                                                                         const std::string& hex) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::CareLog> care, txn.Get<v1::CareLog>(CareName(hex)));
  v1::OutOfOfficeUpdate update;
  if (!care.has_value() || !care->has_out_of_office() ||
      !update.ParseFromString(care->out_of_office().document())) {
    return std::vector<v1::OutOfOffice>();
  }
  return care::UsablePeriods(update);
}

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_INTERNAL_CARE_HELPERS_H_

// The therapist's view of what awaits a reply, and the pre-session digest (issue 5, "What each
// side sees" and "What a message asks for").
//
// The caller describes each client message not yet answered — a thread counts as answered once
// the therapist replied or acknowledged the concern after the message — and supplies the
// agreement in force per contact. Only messages that need a reply (NEEDS_REPLY, or
// UNSPECIFIED, which means the same) create a due item: one per contact, for its earliest
// unanswered such message. FOR_NEXT_SESSION messages go to the digest; JUST_LETTING_YOU_KNOW
// messages create nothing.
//
//   std::vector<ClientMessageState> pending = ...;
//   DueList list = BuildDueList(pending, [&](std::string_view contact) {
//     return agreement_in_force_for(contact);  // const v1::CareAgreement* or nullptr
//   }, now);
//   for (const DueItem& item : list.due) Print(item.contact_id, item.due_at, item.overdue);
//
// Thread safety: pure function; may be called concurrently.
#ifndef ALLIANCE_CARE_DUE_LIST_H_
#define ALLIANCE_CARE_DUE_LIST_H_

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "alliance/v1/care.pb.h"
#include "alliance/v1/content.pb.h"

namespace alliance::care {

// One message from a client, as the therapist's device knows it.
struct ClientMessageState {
  // Contact (account id, hex, or any stable key the caller uses).
  std::string contact_id;
  // Content id (hex), for display; may be empty.
  std::string message_id;
  // When it arrived (for the due time) — the relay's time or the device's receipt time.
  absl::Time arrived_at;
  v1::Intent intent = v1::INTENT_NEEDS_REPLY;
  bool urgent = false;
  // The therapist replied (or acknowledged the concern) after this message.
  bool answered = false;
};

struct DueItem {
  std::string contact_id;
  // The earliest unanswered message that needs a reply.
  std::string message_id;
  absl::Time arrived_at;
  // When the reply is due; nullopt when the contact has no agreement in force (or no due time
  // can be computed from it).
  std::optional<absl::Time> due_at;
  // now > due_at.
  bool overdue = false;
  // Any unanswered message of this contact was marked urgent.
  bool urgent = false;
  // How many unanswered messages of this contact need a reply.
  size_t waiting = 0;
};

struct DigestItem {
  std::string contact_id;
  std::string message_id;
  absl::Time arrived_at;
};

struct DueList {
  // Ordered by due time (earliest first; items without a due time last, by arrival), ties by
  // contact id.
  std::vector<DueItem> due;
  // Unanswered FOR_NEXT_SESSION messages, ordered by contact id, then arrival.
  std::vector<DigestItem> digest;
};

// The agreement in force for a contact, or nullptr. The pointer must stay valid during the
// BuildDueList call.
using AgreementLookup = std::function<const v1::CareAgreement*(std::string_view contact_id)>;

// Builds the due list and digest from `messages` (any order) at time `now`. Never fails: a
// contact without an agreement in force gets an item without a due time.
[[nodiscard]] DueList BuildDueList(std::span<const ClientMessageState> messages,
                                   const AgreementLookup& agreement_for, absl::Time now);

// The digest entries of one contact (the items of BuildDueList(...).digest with that id).
[[nodiscard]] std::vector<DigestItem> DigestFor(std::span<const ClientMessageState> messages,
                                                std::string_view contact_id);

}  // namespace alliance::care

#endif  // ALLIANCE_CARE_DUE_LIST_H_

// Due items and the pre-session digest for the therapist.
#include "care/due_list.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "care/reply_due.h"

namespace alliance::care {
namespace {

bool NeedsReply(v1::Intent intent) {
  return intent == v1::INTENT_NEEDS_REPLY || intent == v1::INTENT_UNSPECIFIED;
}

std::vector<DigestItem> Digest(std::span<const ClientMessageState> messages,
                               const std::string_view* only_contact) {
  std::vector<DigestItem> digest;
  for (const ClientMessageState& m : messages) {
    if (m.answered || m.intent != v1::INTENT_FOR_NEXT_SESSION) continue;
    if (only_contact != nullptr && m.contact_id != *only_contact) continue;
    digest.push_back({m.contact_id, m.message_id, m.arrived_at});
  }
  std::sort(digest.begin(), digest.end(), [](const DigestItem& a, const DigestItem& b) {
    return std::tie(a.contact_id, a.arrived_at, a.message_id) <
           std::tie(b.contact_id, b.arrived_at, b.message_id);
  });
  return digest;
}

}  // namespace

DueList BuildDueList(std::span<const ClientMessageState> messages,
                     const AgreementLookup& agreement_for, absl::Time now) {
  DueList list;
  std::map<std::string, DueItem> by_contact;
  for (const ClientMessageState& m : messages) {
    if (m.answered || !NeedsReply(m.intent)) continue;
    auto [it, inserted] = by_contact.try_emplace(m.contact_id);
    DueItem& item = it->second;
    if (inserted ||
        std::tie(m.arrived_at, m.message_id) < std::tie(item.arrived_at, item.message_id)) {
      item.contact_id = m.contact_id;
      item.message_id = m.message_id;
      item.arrived_at = m.arrived_at;
    }
    item.urgent = item.urgent || m.urgent;
    ++item.waiting;
  }
  for (auto& [contact, item] : by_contact) {
    const v1::CareAgreement* agreement = agreement_for ? agreement_for(contact) : nullptr;
    if (agreement != nullptr) {
      absl::StatusOr<absl::Time> due = ReplyDue(item.arrived_at, *agreement);
      if (due.ok()) {
        item.due_at = *due;
        item.overdue = now > *due;
      }
    }
    list.due.push_back(std::move(item));
  }
  std::sort(list.due.begin(), list.due.end(), [](const DueItem& a, const DueItem& b) {
    // Items with a due time first; then by due time (or arrival), then contact.
    const bool a_none = !a.due_at.has_value();
    const bool b_none = !b.due_at.has_value();
    const absl::Time a_key = a.due_at.value_or(a.arrived_at);
    const absl::Time b_key = b.due_at.value_or(b.arrived_at);
    return std::tie(a_none, a_key, a.contact_id) < std::tie(b_none, b_key, b.contact_id);
  });
  list.digest = Digest(messages, nullptr);
  return list;
}

std::vector<DigestItem> DigestFor(std::span<const ClientMessageState> messages,
                                  std::string_view contact_id) {
  return Digest(messages, &contact_id);
}

}  // namespace alliance::care

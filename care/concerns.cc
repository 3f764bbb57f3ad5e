// Concern lifecycle derived from the canonical order of events.
#include "care/concerns.h"

#include <algorithm>
#include <map>

#include "care/internal/event_order.h"

namespace alliance::care {
namespace {

bool KnownParty(v1::Party p) { return p == v1::PARTY_THERAPIST || p == v1::PARTY_CLIENT; }

// Applies one well-formed event to `concern`; returns false when it does not fit.
bool Apply(const v1::ConcernEvent& e, Concern* concern) {
  const bool responder = e.author() != concern->opened_by;
  ConcernState next;
  switch (e.action()) {
    case v1::CONCERN_ACTION_ACKNOWLEDGE:
      if (!responder || concern->state != ConcernState::kOpen) return false;
      next = ConcernState::kAcknowledged;
      break;
    case v1::CONCERN_ACTION_DEFER:
      if (!responder || (concern->state != ConcernState::kOpen &&
                         concern->state != ConcernState::kAcknowledged)) {
        return false;
      }
      next = ConcernState::kDeferred;
      break;
    case v1::CONCERN_ACTION_ADDRESS:
      if (!responder ||
          (concern->state != ConcernState::kOpen && concern->state != ConcernState::kAcknowledged &&
           concern->state != ConcernState::kDeferred)) {
        return false;
      }
      next = ConcernState::kAddressed;
      concern->reply_message_id = e.reply_message_id();
      break;
    case v1::CONCERN_ACTION_CLOSE:
      if (concern->state == ConcernState::kClosed) return false;
      next = ConcernState::kClosed;
      break;
    default:
      return false;  // OPEN of a known concern, or unknown.
  }
  concern->state = next;
  concern->updated_lamport = e.lamport();
  concern->updated_by = e.author();
  if (!e.note().empty()) concern->note = e.note();
  return true;
}

}  // namespace

std::string_view ConcernStateName(ConcernState state) {
  switch (state) {
    case ConcernState::kOpen:
      return "open";
    case ConcernState::kAcknowledged:
      return "acknowledged";
    case ConcernState::kDeferred:
      return "deferred";
    case ConcernState::kAddressed:
      return "addressed";
    case ConcernState::kClosed:
      return "closed";
  }
  return "unknown";
}

absl::Status ValidateConcernEvent(const v1::ConcernEvent& e) {
  if (e.event_id().size() != kCareIdBytes || e.concern_id().size() != kCareIdBytes) {
    return absl::InvalidArgumentError("concern event: id size");
  }
  if (e.action() < v1::CONCERN_ACTION_OPEN || e.action() > v1::CONCERN_ACTION_CLOSE) {
    return absl::InvalidArgumentError("concern event: unknown action");
  }
  if (!KnownParty(e.author())) return absl::InvalidArgumentError("concern event: unknown author");
  if (e.lamport() < 1 || e.lamport() > kMaxLamport) {
    return absl::InvalidArgumentError("concern event: lamport out of range");
  }
  if (e.action() == v1::CONCERN_ACTION_OPEN) {
    if (e.title().empty() || e.title().size() > kMaxTitleBytes) {
      return absl::InvalidArgumentError("concern event: title size");
    }
  } else if (!e.title().empty()) {
    return absl::InvalidArgumentError("concern event: title on a non-open event");
  }
  if (e.note().size() > kMaxNoteBytes) return absl::InvalidArgumentError("concern event: note");
  if (!e.reply_message_id().empty() &&
      (e.action() != v1::CONCERN_ACTION_ADDRESS || e.reply_message_id().size() > kCareIdBytes)) {
    return absl::InvalidArgumentError("concern event: reply_message_id");
  }
  return absl::OkStatus();
}

ConcernList DeriveConcerns(std::span<const v1::ConcernEvent> events) {
  ConcernList list;
  std::map<std::string, size_t> index;  // concern_id → position in list.concerns
  size_t applied = 0;
  for (const v1::ConcernEvent* e : care_internal::CanonicalOrder(
           events, [](const auto& e) { return ValidateConcernEvent(e).ok(); })) {
    auto it = index.find(e->concern_id());
    if (it == index.end()) {
      if (e->action() != v1::CONCERN_ACTION_OPEN) continue;  // Unknown concern.
      Concern c;
      c.concern_id = e->concern_id();
      c.title = e->title();
      c.opened_by = e->author();
      c.opened_lamport = c.updated_lamport = e->lamport();
      c.updated_by = e->author();
      c.note = e->note();
      index.emplace(c.concern_id, list.concerns.size());
      list.concerns.push_back(std::move(c));
      ++applied;
      continue;
    }
    if (Apply(*e, &list.concerns[it->second])) ++applied;
  }
  // Opens are applied in canonical order, so the list is already ordered by
  // (opened_lamport, opened_by, event_id); make the documented order exact.
  std::stable_sort(
      list.concerns.begin(), list.concerns.end(), [](const Concern& a, const Concern& b) {
        return std::forward_as_tuple(a.opened_lamport, static_cast<int>(a.opened_by),
                                     a.concern_id) <
               std::forward_as_tuple(b.opened_lamport, static_cast<int>(b.opened_by), b.concern_id);
      });
  list.ignored_events = events.size() - applied;
  return list;
}

uint64_t NextConcernLamport(std::span<const v1::ConcernEvent> events) {
  return care_internal::NextLamport(events);
}

}  // namespace alliance::care

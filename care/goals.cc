// Goal list derived from the canonical order of events.
#include "care/goals.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "base/status_macros.h"
#include "care/internal/canonical_bytes.h"
#include "care/internal/event_order.h"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::care {
namespace {

absl::Status Invalid(const char* what) {
  return absl::InvalidArgumentError(std::string("goal event: ") + what);
}

// Applies one well-formed event to an existing goal; false when it does not fit.
bool Apply(const v1::GoalEvent& e, Goal* goal) {
  if (goal->completed) return false;
  switch (e.action()) {
    case v1::GOAL_ACTION_EDIT:
      if (!e.title().empty()) goal->title = e.title();
      if (!e.description().empty()) goal->description = e.description();
      break;
    case v1::GOAL_ACTION_PROGRESS: {
      GoalProgress p{.lamport = e.lamport(), .author = e.author(), .note = e.note()};
      if (e.has_percent()) {
        p.percent = e.percent();
        goal->percent = e.percent();
      }
      goal->progress.push_back(std::move(p));
      break;
    }
    case v1::GOAL_ACTION_COMPLETE:
      goal->completed = true;
      goal->completed_by = e.author();
      goal->completion_note = e.note();
      break;
    default:
      return false;  // A second ADD of the same goal id.
  }
  goal->updated_lamport = e.lamport();
  goal->updated_by = e.author();
  return true;
}

}  // namespace

absl::Status ValidateGoalEvent(const v1::GoalEvent& e) {
  if (e.event_id().size() != kCareIdBytes || e.goal_id().size() != kCareIdBytes) {
    return Invalid("id size");
  }
  if (e.action() < v1::GOAL_ACTION_ADD || e.action() > v1::GOAL_ACTION_COMPLETE) {
    return Invalid("unknown action");
  }
  if (e.author() != v1::PARTY_THERAPIST && e.author() != v1::PARTY_CLIENT) {
    return Invalid("unknown author");
  }
  if (e.lamport() < 1 || e.lamport() > kMaxLamport) return Invalid("lamport out of range");
  if (e.title().size() > kMaxTitleBytes || e.description().size() > kMaxNoteBytes ||
      e.note().size() > kMaxNoteBytes) {
    return Invalid("field too long");
  }
  const bool has_text = !e.title().empty() || !e.description().empty();
  if ((e.has_percent() || e.percent() != 0) && e.action() != v1::GOAL_ACTION_PROGRESS) {
    return Invalid("percent outside progress");
  }
  if (e.percent() > 100) return Invalid("percent over 100");
  switch (e.action()) {
    case v1::GOAL_ACTION_ADD:
      if (e.title().empty()) return Invalid("add without title");
      break;
    case v1::GOAL_ACTION_EDIT:
      if (!has_text) return Invalid("edit changes nothing");
      break;
    case v1::GOAL_ACTION_PROGRESS:
      if (has_text) return Invalid("title or description on progress");
      if (e.note().empty() && !e.has_percent()) return Invalid("empty progress");
      if (!e.has_percent() && e.percent() != 0) return Invalid("percent without has_percent");
      break;
    default:  // COMPLETE
      if (has_text) return Invalid("title or description on complete");
      break;
  }
  return absl::OkStatus();
}

GoalList DeriveGoals(std::span<const v1::GoalEvent> events) {
  GoalList list;
  std::map<std::string, size_t> index;  // goal_id → position in list.goals
  size_t applied = 0;
  for (const v1::GoalEvent* e : care_internal::CanonicalOrder(
           events, [](const auto& e) { return ValidateGoalEvent(e).ok(); })) {
    auto it = index.find(e->goal_id());
    if (it == index.end()) {
      if (e->action() != v1::GOAL_ACTION_ADD) continue;  // Unknown goal.
      Goal g;
      g.goal_id = e->goal_id();
      g.title = e->title();
      g.description = e->description();
      g.added_by = g.updated_by = e->author();
      g.added_lamport = g.updated_lamport = e->lamport();
      index.emplace(g.goal_id, list.goals.size());
      list.goals.push_back(std::move(g));
      ++applied;
      continue;
    }
    if (Apply(*e, &list.goals[it->second])) ++applied;
  }
  std::stable_sort(list.goals.begin(), list.goals.end(), [](const Goal& a, const Goal& b) {
    return std::forward_as_tuple(a.added_lamport, static_cast<int>(a.added_by), a.goal_id) <
           std::forward_as_tuple(b.added_lamport, static_cast<int>(b.added_by), b.goal_id);
  });
  list.ignored_events = events.size() - applied;
  return list;
}

uint64_t NextGoalLamport(std::span<const v1::GoalEvent> events) {
  return care_internal::NextLamport(events);
}

namespace {

std::vector<uint8_t> GoalSignedMessage(const std::string& event) {
  const std::string bytes = wire::DocumentMessage(wire::kGoalDocument, event);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace

absl::StatusOr<v1::SignedGoalEvent> SignGoalEvent(const v1::GoalEvent& event,
                                                  const crypto::IdentityKeyPair& author) {
  ALLIANCE_RETURN_IF_ERROR(ValidateGoalEvent(event));
  v1::SignedGoalEvent out;
  out.set_event(care_internal::DeterministicBytes(event));
  if (out.event().size() > kMaxSignedGoalEventBytes) return Invalid("too large");
  const crypto::Signature sig = author.Sign(GoalSignedMessage(out.event()));
  out.set_signature(reinterpret_cast<const char*>(sig.data()), sig.size());
  return out;
}

absl::StatusOr<v1::GoalEvent> VerifyGoalEvent(const v1::SignedGoalEvent& signed_event,
                                              const crypto::PublicKey& author_key) {
  const std::string& bytes = signed_event.event();
  if (bytes.empty() || bytes.size() > kMaxSignedGoalEventBytes) return Invalid("size");
  if (signed_event.signature().size() != crypto::kSignatureSize) return Invalid("signature size");
  const crypto::ByteSpan sig(reinterpret_cast<const uint8_t*>(signed_event.signature().data()),
                             signed_event.signature().size());
  if (!crypto::VerifySignature(author_key, GoalSignedMessage(bytes), sig)) {
    return absl::PermissionDeniedError("goal signature invalid");
  }
  v1::GoalEvent event;
  if (!event.ParseFromString(bytes)) return Invalid("does not parse");
  event.DiscardUnknownFields();
  if (care_internal::DeterministicBytes(event) != bytes) return Invalid("not canonical");
  ALLIANCE_RETURN_IF_ERROR(ValidateGoalEvent(event));
  return event;
}

}  // namespace alliance::care

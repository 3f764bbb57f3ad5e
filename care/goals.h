// The shared goal list, derived from an unordered event log (issue 5, "Concerns and goals").
//
// Either party may add a goal, edit its title or description, record progress (a note and/or
// a percentage) and complete it. Concurrent edits converge: events are applied in the
// canonical order (lamport, author, event_id), so the later edit in that order wins on both
// devices, whatever order the messages were delivered in; a repeated event_id counts once.
// Events that do not fit — an edit of an unknown or completed goal, a second ADD of the same
// goal id, a malformed event — are ignored.
//
// Goal events are signed documents (DESIGN appendix): SignGoalEvent / VerifyGoalEvent sign and
// check the exact event bytes under "alliance/v1/doc/goal" with the author's identity key.
//
//   std::vector<v1::GoalEvent> log = ...;  // every goal event seen, both directions
//   GoalList list = DeriveGoals(log);
//   v1::GoalEvent progress;  // ... progress.set_lamport(NextGoalLamport(log)); ...
//
// Thread safety: pure functions; may be called concurrently.
#ifndef ALLIANCE_CARE_GOALS_H_
#define ALLIANCE_CARE_GOALS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "alliance/v1/care.pb.h"
#include "care/concerns.h"  // kCareIdBytes, kMaxTitleBytes, kMaxNoteBytes, kMaxLamport
#include "crypto/keys.h"

namespace alliance::care {

struct GoalProgress {
  uint64_t lamport = 0;
  v1::Party author = v1::PARTY_UNSPECIFIED;
  std::string note;
  std::optional<uint32_t> percent;
};

struct Goal {
  std::string goal_id;  // 16 bytes.
  std::string title;
  std::string description;
  v1::Party added_by = v1::PARTY_UNSPECIFIED;
  uint64_t added_lamport = 0;
  // Clock and party of the last event applied to it.
  uint64_t updated_lamport = 0;
  v1::Party updated_by = v1::PARTY_UNSPECIFIED;
  // The latest percentage recorded, if any.
  std::optional<uint32_t> percent;
  // Progress entries in canonical order.
  std::vector<GoalProgress> progress;
  bool completed = false;
  v1::Party completed_by = v1::PARTY_UNSPECIFIED;
  std::string completion_note;
};

struct GoalList {
  // Ordered by (added_lamport, added_by, goal_id).
  std::vector<Goal> goals;
  // Events not applied: malformed, duplicate, or not fitting.
  size_t ignored_events = 0;
};

// Checks the form of one event. INVALID_ARGUMENT when: event_id or goal_id is not 16 bytes;
// the action or author is unspecified/unknown; lamport is outside 1..kMaxLamport; ADD has no
// title; a title exceeds kMaxTitleBytes or a description/note kMaxNoteBytes; EDIT changes
// nothing; PROGRESS has neither note nor percent; a percent is over 100 or set on an action
// other than PROGRESS; title/description are set on PROGRESS or COMPLETE.
[[nodiscard]] absl::Status ValidateGoalEvent(const v1::GoalEvent& event);

// Derives the goal list from every goal event seen (any order, duplicates allowed). Never
// fails; the result depends only on the set of events.
[[nodiscard]] GoalList DeriveGoals(std::span<const v1::GoalEvent> events);

// The clock for a party's next event: one more than the highest clock in `events` (1 if none).
uint64_t NextGoalLamport(std::span<const v1::GoalEvent> events);

// The domain string of goal-event signatures (DESIGN appendix).
inline constexpr size_t kMaxSignedGoalEventBytes = 8 * 1024;

// Serializes `event` canonically and signs it with the author's identity key.
// INVALID_ARGUMENT when ValidateGoalEvent fails.
[[nodiscard]] absl::StatusOr<v1::SignedGoalEvent> SignGoalEvent(
    const v1::GoalEvent& event, const crypto::IdentityKeyPair& author);

// Verifies a signed goal event against the identity key of the party it claims as author
// (the caller maps event.author to that party's pinned key after parsing, or tries the
// sender's key). Checks, in order: INVALID_ARGUMENT for an empty or oversized event or a
// signature that is not 64 bytes; PERMISSION_DENIED ("goal signature invalid") when the
// signature does not verify under `author_key`; INVALID_ARGUMENT when the event does not parse,
// is not canonical or fails ValidateGoalEvent.
[[nodiscard]] absl::StatusOr<v1::GoalEvent> VerifyGoalEvent(const v1::SignedGoalEvent& signed_event,
                                                            const crypto::PublicKey& author_key);

}  // namespace alliance::care

#endif  // ALLIANCE_CARE_GOALS_H_

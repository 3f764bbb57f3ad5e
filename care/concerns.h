// Concerns: messages with a lifecycle, derived from an unordered event log (issue 5).
//
// A concern is opened by one party (usually the client) and then handled by the other:
//
//   open                               ──acknowledge──▶ acknowledged
//   open | acknowledged                ──defer────────▶ deferred (to the next session)
//   open | acknowledged | deferred     ──address──────▶ addressed (by a reply)
//   any state but closed               ──close────────▶ closed
//
// ACKNOWLEDGE, DEFER and ADDRESS must come from the party that did not open the concern;
// CLOSE may come from either and ends the lifecycle. Events that do not fit — unknown concern,
// wrong party, a transition from the wrong state, a malformed event — are ignored.
//
// The list is a pure function of the *set* of events: they are applied in the canonical order
// (lamport, author, event_id) and a repeated event_id counts once, so both parties derive the
// same list whatever order the messages were delivered in.
//
//   std::vector<v1::ConcernEvent> log = ...;  // every concern event seen, both directions
//   ConcernList list = DeriveConcerns(log);
//   v1::ConcernEvent ack;  // ... ack.set_lamport(NextConcernLamport(log)); ...
//
// Thread safety: pure functions; may be called concurrently.
#ifndef ALLIANCE_CARE_CONCERNS_H_
#define ALLIANCE_CARE_CONCERNS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "alliance/v1/care.pb.h"

namespace alliance::care {

// Sizes and ranges for care events (concerns and goals).
inline constexpr size_t kCareIdBytes = 16;
inline constexpr size_t kMaxTitleBytes = 200;
inline constexpr size_t kMaxNoteBytes = 2000;
inline constexpr uint64_t kMaxLamport = uint64_t{1} << 62;

enum class ConcernState { kOpen, kAcknowledged, kDeferred, kAddressed, kClosed };

// "open", "acknowledged", "deferred", "addressed", "closed" (for --json and display).
std::string_view ConcernStateName(ConcernState state);

struct Concern {
  std::string concern_id;  // 16 bytes.
  std::string title;
  v1::Party opened_by = v1::PARTY_UNSPECIFIED;
  ConcernState state = ConcernState::kOpen;
  uint64_t opened_lamport = 0;
  // Clock of the last event applied to it.
  uint64_t updated_lamport = 0;
  // The party of the last event applied.
  v1::Party updated_by = v1::PARTY_UNSPECIFIED;
  // The Content.id of the message that addressed it, when ADDRESS named one.
  std::string reply_message_id;
  // The note of the last applied event that carried one.
  std::string note;
};

struct ConcernList {
  // Ordered by (opened_lamport, opened_by, concern_id).
  std::vector<Concern> concerns;
  // Events not applied: malformed, duplicate, or not fitting the lifecycle.
  size_t ignored_events = 0;
};

// Checks the form of one event (not whether it fits the lifecycle). INVALID_ARGUMENT when:
// event_id or concern_id is not 16 bytes; the action or author is unspecified/unknown;
// lamport is outside 1..kMaxLamport; OPEN has a title outside 1..kMaxTitleBytes or another
// action has a title; the note exceeds kMaxNoteBytes; reply_message_id is set on an action
// other than ADDRESS or is longer than 16 bytes.
[[nodiscard]] absl::Status ValidateConcernEvent(const v1::ConcernEvent& event);

// Derives the concern list from every concern event seen (any order, duplicates allowed).
// Never fails; the result depends only on the set of events.
[[nodiscard]] ConcernList DeriveConcerns(std::span<const v1::ConcernEvent> events);

// The clock for a party's next event: one more than the highest clock in `events` (1 if none).
uint64_t NextConcernLamport(std::span<const v1::ConcernEvent> events);

// True while a concern still waits on the party that did not open it (state open).
inline bool AwaitsResponse(const Concern& concern) { return concern.state == ConcernState::kOpen; }

}  // namespace alliance::care

#endif  // ALLIANCE_CARE_CONCERNS_H_

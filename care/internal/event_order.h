// Canonical order for care events (concerns and goals), shared by concerns.cc and goals.cc.
//
// Both parties must derive identical lists from the same set of events, whatever order they
// arrived in. The events are sorted by (lamport, author, event_id, serialized bytes) — a total
// order that does not depend on arrival — and a repeated event_id keeps only its first
// occurrence in that order.
//
//   std::vector<const v1::GoalEvent*> ordered = care_internal::CanonicalOrder(events, is_valid);
//
// Internal to alliance_care; not part of its API.
#ifndef ALLIANCE_CARE_INTERNAL_EVENT_ORDER_H_
#define ALLIANCE_CARE_INTERNAL_EVENT_ORDER_H_

#include <algorithm>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "care/internal/canonical_bytes.h"

namespace alliance::care_internal {

// Returns pointers into `events` (which must outlive the result) for which `keep(event)` is
// true, in canonical order, with events whose event_id was already seen earlier in that order
// removed. Filtering first means a malformed event cannot shadow a well-formed one.
template <typename Event, typename Keep>
std::vector<const Event*> CanonicalOrder(std::span<const Event> events, Keep&& keep) {
  struct Keyed {
    const Event* event;
    std::string bytes;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(events.size());
  for (const Event& e : events) {
    if (keep(e)) keyed.push_back({&e, DeterministicBytes(e)});
  }
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    return std::forward_as_tuple(a.event->lamport(), static_cast<int>(a.event->author()),
                                 a.event->event_id(), a.bytes) <
           std::forward_as_tuple(b.event->lamport(), static_cast<int>(b.event->author()),
                                 b.event->event_id(), b.bytes);
  });
  std::vector<const Event*> ordered;
  ordered.reserve(keyed.size());
  std::set<std::string> seen_ids;
  for (const Keyed& k : keyed) {
    if (!seen_ids.insert(k.event->event_id()).second) continue;
    ordered.push_back(k.event);
  }
  return ordered;
}

// The Lamport clock for a new event: one more than the highest clock in `events` (1 if none).
template <typename Event>
uint64_t NextLamport(std::span<const Event> events) {
  uint64_t highest = 0;
  for (const Event& e : events) highest = std::max<uint64_t>(highest, e.lamport());
  return highest + 1;
}

}  // namespace alliance::care_internal

#endif  // ALLIANCE_CARE_INTERNAL_EVENT_ORDER_H_

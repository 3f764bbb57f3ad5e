// Test-only fault injection: named points in the client's send and receive paths where a test
// can make the process die exactly as under `kill -9`, to prove that a restart loses nothing
// and shows nothing twice (tests/e2e/client_crash_drill_test.cc).
//
//   ALLIANCE_CRASH_POINT=outbox-stored alliance send therapist "hello"   # dies there
//
// Points (in the order a message meets them):
//   outbox-stored   a message (and the ratchet step that encrypted it) is committed to the
//                   outbox, not yet sent
//   sent-unmarked   the relay answered OK to Send; the outbox entry is not yet removed and the
//                   history still says queued
//   stored-unacked  received envelopes are committed to the local store, not yet acknowledged
//
// Harmless otherwise: with the variable unset (every real deployment) CrashPoint only reads the
// environment. The app (app/) runs the same ClientCore, so the points cover it too.
#ifndef ALLIANCE_CLIENT_INTERNAL_CRASH_POINT_H_
#define ALLIANCE_CLIENT_INTERNAL_CRASH_POINT_H_

#include <signal.h>
#include <stdlib.h>

#include <string_view>

namespace alliance::client {

// Raises SIGKILL when the environment variable ALLIANCE_CRASH_POINT equals `name`.
inline void CrashPoint(std::string_view name) {
  const char* wanted = ::getenv("ALLIANCE_CRASH_POINT");
  if (wanted != nullptr && name == wanted) ::raise(SIGKILL);
}

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_INTERNAL_CRASH_POINT_H_

// Mailbox statistics for monitoring, read straight from the mailbox column family.
//
//   ALLIANCE_ASSIGN_OR_RETURN(std::optional<absl::Time> oldest, OldestPendingEnvelopeTime(db));
//   double age = oldest ? absl::ToDoubleSeconds(clock->Now() - *oldest) : 0;
//
// Thread-safe (RocksDB reads only). `db` must stay open for the call.
#ifndef ALLIANCE_SERVER_STORE_MAILBOX_STATS_H_
#define ALLIANCE_SERVER_STORE_MAILBOX_STATS_H_

#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/infra/db.h"

namespace alliance::server {

// The server time of the oldest envelope still waiting in any mailbox (stored, not yet acked or
// expired), or std::nullopt when every mailbox is empty. Reads each mailbox's first envelope
// only (sequences grow with time), so the cost is O(mailboxes), never O(envelopes) — plus any
// not yet compacted deletions in front of a mailbox's first envelope. Errors: INTERNAL (I/O).
[[nodiscard]] absl::StatusOr<std::optional<absl::Time>> OldestPendingEnvelopeTime(RelayDb* db);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_STORE_MAILBOX_STATS_H_

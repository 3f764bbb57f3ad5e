// Restoring a relay database from a backup made by `alliance-relay backup` (a RocksDB
// checkpoint directory), into a new directory that a relay can then serve.
//
//   ALLIANCE_ASSIGN_OR_RETURN(std::string summary,
//                             RestoreBackup("/var/backups/alliance/2026-01-31",
//                                           "/var/lib/alliance-relay.restored"));
//
// The backup is verified read-only first (schema version, audit hash chain), then copied file by
// file (real copies, never hard links, so the restored relay cannot alter the backup) into
// `<to>.restoring`, synced, renamed to `to`, its one-time prekeys are withdrawn (some may have
// been handed out after the backup; see restore.cc), and it is checked as the relay will open it.
// Nothing is written to `to` unless all of that succeeds. Thread-compatible.
#ifndef ALLIANCE_SERVER_ADMIN_RESTORE_H_
#define ALLIANCE_SERVER_ADMIN_RESTORE_H_

#include <string>

#include "absl/status/statusor.h"

namespace alliance::server {

// Returns the `check` summary of the restored database. Errors: INVALID_ARGUMENT (empty
// path), ALREADY_EXISTS (`to` exists and is not an empty directory), NOT_FOUND (no database in
// `from`), FAILED_PRECONDITION (schema), DATA_LOSS (audit chain), INTERNAL (I/O).
[[nodiscard]] absl::StatusOr<std::string> RestoreBackup(const std::string& from,
                                                        const std::string& to);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_ADMIN_RESTORE_H_

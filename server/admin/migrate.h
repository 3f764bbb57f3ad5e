// Upgrading a relay database to this relay's schema version (`alliance-relay migrate`).
//
//   ALLIANCE_ASSIGN_OR_RETURN(std::string summary,
//                             MigrateDatabase("/var/lib/alliance-relay", ""));
//
// The database records its schema version in meta (RelayDb::SchemaVersion). A relay refuses to
// serve an older one (it names this command) and a newer one (it names the upgrade). Migration
// runs with the relay stopped: it takes a checkpoint of the database first (by default into
// `<dir>.before-migrate-v<from>`; a migration that goes wrong is undone by `restore`), then
// applies one step per version, each step and its new version number in one synced batch, so a
// crash between steps leaves a database at a known version that `migrate` picks up again.
// Finally the audit hash chain is verified. On PostgreSQL (MigrateStorage) the tables are
// brought up to date first and no checkpoint is taken: each step is one transaction.
// Thread-compatible.
#ifndef ALLIANCE_SERVER_ADMIN_MIGRATE_H_
#define ALLIANCE_SERVER_ADMIN_MIGRATE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/infra/config.h"
#include "server/infra/db.h"

namespace alliance::server {

// One step: from schema version `from` to `from + 1`. `apply` adds its writes to `batch` (it may
// read `db`); the version number is added by the caller.
struct Migration {
  uint32_t from = 0;
  std::string description;
  std::function<absl::Status(RelayDb* db, KvBatch* batch)> apply;
};

// The steps this relay knows, oldest first; they end at kSchemaVersion (1 -> 2: accounts list
// their devices; 2 -> 3: the attachments' blob store).
const std::vector<Migration>& KnownMigrations();

// Brings the database in `dir` to `target` with `steps` (tests pass synthetic steps and a
// target beyond kSchemaVersion; `alliance-relay migrate` passes KnownMigrations() and
// kSchemaVersion). `backup_to` empty means the default next to `dir`. Returns a summary.
// Errors: NOT_FOUND (no database), FAILED_PRECONDITION (relay running, version newer than
// `target`, a step missing), ALREADY_EXISTS (backup directory exists), DATA_LOSS (audit chain),
// INTERNAL (I/O).
[[nodiscard]] absl::StatusOr<std::string> MigrateDatabase(const std::string& dir,
                                                          const std::string& backup_to,
                                                          absl::Span<const Migration> steps,
                                                          uint32_t target);
[[nodiscard]] absl::StatusOr<std::string> MigrateDatabase(const std::string& dir,
                                                          const std::string& backup_to);

// `alliance-relay migrate` on the storage `options` name: MigrateDatabase for RocksDB; for
// PostgreSQL, the table migrations (PgRelayDb) and then the same steps, each one transaction
// (back the database up with its own tools first). Errors: as MigrateDatabase, UNAVAILABLE.
[[nodiscard]] absl::StatusOr<std::string> MigrateStorage(const RelayOptions& options,
                                                         const std::string& backup_to);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_ADMIN_MIGRATE_H_

// Opens the relay's database on the backend the options name (RelayOptions::storage):
// RocksRelayDb in data_dir, or PgRelayDb at database_url.
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto db, OpenStorage(options, StorageMode::kServe));
#ifndef ALLIANCE_SERVER_INFRA_STORAGE_H_
#define ALLIANCE_SERVER_INFRA_STORAGE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "server/infra/config.h"
#include "server/infra/db.h"

namespace alliance::server {

enum class StorageMode {
  kCreate,        // `init`: a new database (ALREADY_EXISTS when one is there)
  kServe,         // `serve`: current schema only
  kCheck,         // `check`
  kCheckReadOnly, // `check` of a backup (RocksDB only; PostgreSQL opens as kCheck)
  kMigrate,       // `migrate`: older schema versions accepted
};

// Errors: as RocksRelayDb's and PgRelayDb's Create/Open; INVALID_ARGUMENT (unknown storage).
[[nodiscard]] absl::StatusOr<std::unique_ptr<RelayDb>> OpenStorage(const RelayOptions& options,
                                                                   StorageMode mode);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_STORAGE_H_

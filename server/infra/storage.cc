#include "server/infra/storage.h"

#include "server/infra/pg_db.h"

namespace alliance::server {

absl::StatusOr<std::unique_ptr<RelayDb>> OpenStorage(const RelayOptions& options,
                                                     StorageMode mode) {
  if (options.storage == "postgres") {
    PgRelayDb::Options pg{.url = options.database_url,
                          .connections = options.database_connections};
    switch (mode) {
      case StorageMode::kCreate: return PgRelayDb::Create(pg);
      case StorageMode::kMigrate: return PgRelayDb::OpenForMigration(pg);
      case StorageMode::kServe:
      case StorageMode::kCheck:
      case StorageMode::kCheckReadOnly: return PgRelayDb::Open(pg);
    }
  }
  if (options.storage != "rocksdb") {
    return absl::InvalidArgumentError("--storage must be rocksdb or postgres");
  }
  if (options.data_dir.empty()) return absl::InvalidArgumentError("no data directory (--data)");
  switch (mode) {
    case StorageMode::kCreate: return RocksRelayDb::Create(options.data_dir);
    case StorageMode::kMigrate: return RocksRelayDb::OpenForMigration(options.data_dir);
    case StorageMode::kCheckReadOnly: return RocksRelayDb::OpenReadOnly(options.data_dir);
    case StorageMode::kServe:
    case StorageMode::kCheck: break;
  }
  return RocksRelayDb::Open(options.data_dir);
}

}  // namespace alliance::server

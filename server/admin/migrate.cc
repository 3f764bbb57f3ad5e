#include "server/admin/migrate.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "rocksdb/utilities/checkpoint.h"
#include "server/relay_records.pb.h"
#include "server/infra/storage.h"
#include "server/store/audit_log.h"
#include "server/store/devices.h"

namespace alliance::server {
namespace {

namespace fs = std::filesystem;

absl::Status TakeCheckpoint(RelayDb* db, const std::string& to) {
  std::error_code ec;
  if (fs::exists(to, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "a backup directory ", to, " already exists; move it away or give --backup-to"));
  }
  rocksdb::Checkpoint* raw = nullptr;
  ALLIANCE_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db->rocks()->db(), &raw)));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return FromRocks(checkpoint->CreateCheckpoint(to, /*log_size_for_flush=*/0));
}

// Applies the steps from `from` to `target`, each step and its version number in one synced
// write. `before` runs once every step is known and before anything is written (the backup).
absl::Status ApplySteps(RelayDb* db, uint32_t from, uint32_t target,
                        absl::Span<const Migration> steps,
                        const std::function<absl::Status()>& before, std::string* summary) {
  // Every step must be known before anything is written.
  std::vector<const Migration*> plan;
  for (uint32_t v = from; v < target; ++v) {
    const Migration* step = nullptr;
    for (const Migration& m : steps) {
      if (m.from == v) step = &m;
    }
    if (step == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("no migration from schema version ", v, " to ", v + 1));
    }
    plan.push_back(step);
  }
  ALLIANCE_RETURN_IF_ERROR(before());
  for (const Migration* step : plan) {
    KvBatch batch;
    ALLIANCE_RETURN_IF_ERROR(step->apply(db, &batch))
        << "migration " << step->from << " -> " << step->from + 1 << " failed; the database "
        << "is still at version " << step->from;
    db->PutSchemaVersion(&batch, step->from + 1);
    ALLIANCE_RETURN_IF_ERROR(db->Write(&batch, /*sync=*/true));
    absl::StrAppend(summary, "migrated ", step->from, " -> ", step->from + 1, ": ",
                    step->description, "\n");
  }
  return absl::OkStatus();
}

}  // namespace

// Schema 1 -> 2: every account lists its devices (server/store/devices.h).
absl::Status ListAccountDevices(RelayDb* db, KvBatch* batch) {
  std::unique_ptr<KvIterator> it = db->NewIterator(Cf::kAccounts);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    AccountRecord account;
    if (!account.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("unreadable account record (",
                                              it->key().size(), "-byte key)"));
    }
    if (UpgradeDevicesToSchema2(&account)) {
      batch->Put(Cf::kAccounts, it->key(), account.SerializeAsString());
    }
  }
  return it->status();
}

const std::vector<Migration>& KnownMigrations() {
  static const std::vector<Migration>* const kSteps = new std::vector<Migration>{
      {1, "accounts list their devices", &ListAccountDevices},
      // The column family itself is created when the database opens for writing.
      {2, "attachments get a blob store",
       [](RelayDb* /*db*/, KvBatch* /*batch*/) { return absl::OkStatus(); }},
  };
  return *kSteps;
}

absl::StatusOr<std::string> MigrateDatabase(const std::string& dir, const std::string& backup_to,
                                            absl::Span<const Migration> steps, uint32_t target) {
  if (dir.empty()) return absl::InvalidArgumentError("give --data");
  auto opened = RocksRelayDb::OpenForMigration(dir);
  if (!opened.ok()) {
    // RocksDB holds an exclusive lock on the directory while a relay serves it.
    if (absl::StrContains(opened.status().message(), "lock")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database in ", dir, " is in use: stop the relay before migrating it"));
    }
    return opened.status();
  }
  std::unique_ptr<RelayDb> db = *std::move(opened);
  ALLIANCE_ASSIGN_OR_RETURN(const uint32_t from, db->SchemaVersion());
  if (from > target) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database has schema version ", from, ", newer than ", target,
        ": install the newer relay (nothing was changed)"));
  }
  if (from == target) {
    ALLIANCE_RETURN_IF_ERROR(db->Close());
    return absl::StrCat("schema version ", from, " is current; nothing to do");
  }
  const std::string backup =
      backup_to.empty()
          ? absl::StrCat(fs::absolute(dir).lexically_normal().string(), ".before-migrate-v", from)
          : backup_to;
  std::string summary;
  ALLIANCE_RETURN_IF_ERROR(ApplySteps(
      db.get(), from, target, steps,
      [&]() -> absl::Status {
        ALLIANCE_RETURN_IF_ERROR(TakeCheckpoint(db.get(), backup))
            << "no migration was done: the backup to " << backup << " failed";
        absl::StrAppend(&summary, "backup of schema version ", from, " in ", backup, "\n");
        return absl::OkStatus();
      },
      &summary))
      << "(the backup is in " << backup << ")";
  ALLIANCE_ASSIGN_OR_RETURN(const uint64_t entries, AuditLog::Verify(db.get()));
  ALLIANCE_RETURN_IF_ERROR(db->Close());
  absl::StrAppend(&summary, "ok: schema version ", target, ", audit chain of ", entries,
                  " entries verified");
  return summary;
}

absl::StatusOr<std::string> MigrateDatabase(const std::string& dir,
                                            const std::string& backup_to) {
  return MigrateDatabase(dir, backup_to, KnownMigrations(), kSchemaVersion);
}

absl::StatusOr<std::string> MigrateStorage(const RelayOptions& options,
                                           const std::string& backup_to) {
  if (options.storage != "postgres") return MigrateDatabase(options.data_dir, backup_to);
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<RelayDb> db,
                            OpenStorage(options, StorageMode::kMigrate));
  ALLIANCE_ASSIGN_OR_RETURN(const uint32_t from, db->SchemaVersion());
  if (from > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database has schema version ", from, ", newer than ", kSchemaVersion,
        ": install the newer relay (nothing was changed)"));
  }
  std::string summary = "PostgreSQL tables are current\n";
  ALLIANCE_RETURN_IF_ERROR(ApplySteps(
      db.get(), from, kSchemaVersion, KnownMigrations(), [] { return absl::OkStatus(); },
      &summary));
  ALLIANCE_ASSIGN_OR_RETURN(const uint64_t entries, AuditLog::Verify(db.get()));
  ALLIANCE_RETURN_IF_ERROR(db->Close());
  absl::StrAppend(&summary, "ok: schema version ", kSchemaVersion, ", audit chain of ", entries,
                  " entries verified");
  return summary;
}

}  // namespace alliance::server

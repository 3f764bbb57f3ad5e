#include "server/admin/restore.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/infra/clock.h"
#include "server/infra/db.h"
#include "server/relay_server.h"
#include "server/store/audit_log.h"

namespace alliance::server {
namespace {

namespace fs = std::filesystem;

absl::Status SyncPath(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path.string()));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("cannot sync ", path.string()));
  return absl::OkStatus();
}

// Copies the regular files of `from` (a checkpoint has no subdirectories) into a new `to`.
absl::Status CopyFiles(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directory(to, ec);
  if (!ec) fs::permissions(to, fs::perms::owner_all, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", to.string(), ": ", ec.message()));
  for (const fs::directory_entry& entry : fs::directory_iterator(from, ec)) {
    if (!entry.is_regular_file()) continue;
    const fs::path dest = to / entry.path().filename();
    fs::copy_file(entry.path(), dest, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot copy ", entry.path().string(), ": ", ec.message()));
    }
    ALLIANCE_RETURN_IF_ERROR(SyncPath(dest));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", from.string(), ": ", ec.message()));
  return SyncPath(to);
}

// A backup holds the one-time prekeys that were unused when it was taken, but the live relay
// may have handed some of them out since, and their owners deleted the private halves once the
// first message arrived. Served again, they would make new sessions fail to decrypt (the
// failure Matrix's Synapse documents for restored one-time keys). So every restored one-time
// prekey is withdrawn: first messages fall back to the signed prekey, which X3DH allows, and
// every client tops its one-time prekeys up at its next sync (ClientCore::MaintainPreKeys sees a
// count of zero). Recorded in the audit log with the number withdrawn.
absl::StatusOr<uint64_t> WithdrawOneTimePreKeys(const fs::path& dir) {
  ALLIANCE_ASSIGN_OR_RETURN(auto db, RocksRelayDb::Open(dir.string()));
  SystemClock clock;
  ALLIANCE_ASSIGN_OR_RETURN(auto audit, AuditLog::Open(db.get(), &clock));
  KvBatch batch;
  uint64_t withdrawn = 0;
  {
    std::unique_ptr<KvIterator> it = db->NewIterator(Cf::kOneTime);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      batch.Delete(Cf::kOneTime, it->key());
      ++withdrawn;
    }
    ALLIANCE_RETURN_IF_ERROR(it->status());
  }
  // Every session token goes too: the backup may predate a device's removal (or its key), so
  // every device logs in again against the restored account records; a client that sees the
  // restored device list below the version it last published publishes it again.
  {
    std::unique_ptr<KvIterator> it = db->NewIterator(Cf::kSessions);
    for (it->SeekToFirst(); it->Valid(); it->Next()) batch.Delete(Cf::kSessions, it->key());
    ALLIANCE_RETURN_IF_ERROR(it->status());
  }
  AuditLog::Event e;
  e.event = v1::AUDIT_EVENT_RELAY_RESTORED;
  e.count = static_cast<uint32_t>(std::min<uint64_t>(withdrawn, UINT32_MAX));
  ALLIANCE_RETURN_IF_ERROR(audit->Commit(&batch, e));
  ALLIANCE_RETURN_IF_ERROR(db->Close());
  return withdrawn;
}

}  // namespace

absl::StatusOr<std::string> RestoreBackup(const std::string& from, const std::string& to) {
  if (from.empty() || to.empty()) return absl::InvalidArgumentError("give --from and --data");
  const fs::path target = fs::absolute(to);
  std::error_code ec;
  if (fs::exists(target, ec) && (!fs::is_directory(target, ec) || !fs::is_empty(target, ec))) {
    return absl::AlreadyExistsError(
        absl::StrCat("refusing to restore into ", to, ": it exists and is not empty"));
  }
  ALLIANCE_RETURN_IF_ERROR(RelayServer::Check(from, /*read_only=*/true).status())
      << "the backup in " << from << " failed verification";
  const fs::path staging = target.string() + ".restoring";
  fs::remove_all(staging, ec);
  absl::Status copied = CopyFiles(from, staging);
  if (copied.ok()) {
    fs::remove(target, ec);  // Only ever an empty directory here.
    fs::rename(staging, target, ec);
    if (ec) copied = absl::InternalError(absl::StrCat("cannot rename into ", to, ": ", ec.message()));
  }
  if (!copied.ok()) {
    fs::remove_all(staging, ec);
    return copied;
  }
  if (target.has_parent_path()) (void)SyncPath(target.parent_path());
  absl::StatusOr<uint64_t> withdrawn = WithdrawOneTimePreKeys(target);
  ALLIANCE_RETURN_IF_ERROR(withdrawn.status())
      << "restored into " << to << " but could not withdraw its one-time prekeys; do not "
      << "serve it";
  ALLIANCE_ASSIGN_OR_RETURN(std::string checked, RelayServer::Check(target.string()));
  return absl::StrCat(checked, "\n", *withdrawn,
                      " one-time prekeys withdrawn (clients publish new ones at their next sync)");
}

}  // namespace alliance::server

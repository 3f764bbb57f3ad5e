#include "server/admin/restore.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/relay_server.h"

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
  return RelayServer::Check(target.string());
}

}  // namespace alliance::server

// What an operator watches about the data directory: the bytes it holds, the space left on its
// filesystem, and when the last successful backup was taken.
//
//   uint64_t bytes = DirectoryBytes("/var/lib/alliance-relay");
//   ALLIANCE_RETURN_IF_ERROR(RecordBackupTime(data_dir, clock->Now()));   // after a backup
//   ALLIANCE_ASSIGN_OR_RETURN(std::optional<absl::Time> last, ReadBackupTime(data_dir));
//
// The backup time lives in `<data>/last-backup` (Unix seconds, one line, written to a
// temporary file and renamed), outside the database, so a checkpoint never carries it: a
// restored database starts with no backup recorded. Thread-compatible: one writer at a time.
#ifndef ALLIANCE_SERVER_INFRA_DATA_DIR_STATS_H_
#define ALLIANCE_SERVER_INFRA_DATA_DIR_STATS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace alliance::server {

// Name of the backup time file inside the data directory.
inline constexpr char kLastBackupFileName[] = "last-backup";

// Total size of the regular files under `dir`, subdirectories included (sockets, links and
// unreadable entries are skipped). 0 when `dir` cannot be read. O(files).
uint64_t DirectoryBytes(const std::string& dir);

// Bytes available to the relay's user on the filesystem holding `dir`.
// Errors: NOT_FOUND / INTERNAL (statvfs failed).
[[nodiscard]] absl::StatusOr<uint64_t> AvailableBytes(const std::string& dir);

// Records `when` as the time of the last successful backup. Errors: INTERNAL (I/O).
[[nodiscard]] absl::Status RecordBackupTime(const std::string& data_dir, absl::Time when);

// The time recorded by RecordBackupTime, or std::nullopt when no backup has been recorded.
// Errors: DATA_LOSS (the file exists but does not hold a time), INTERNAL (unreadable).
[[nodiscard]] absl::StatusOr<std::optional<absl::Time>> ReadBackupTime(const std::string& data_dir);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_DATA_DIR_STATS_H_

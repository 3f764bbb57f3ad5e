// Free-space checks that keep a RocksDB database off a full disk.
//
// RocksDB fails badly at ENOSPC: a failed WAL write leaves its file writer in an error state,
// and Debian's build (assertions on) aborts the process on the next write to it. So the relay
// and the client refuse a write while the filesystem holding their database is nearly full,
// with a clear RESOURCE_EXHAUSTED, and start writing again by themselves once space is freed.
//
//   if (base::BelowReserve(dir, kMaxReserve)) return absl::ResourceExhaustedError("disk full");
#ifndef ALLIANCE_BASE_DISK_SPACE_H_
#define ALLIANCE_BASE_DISK_SPACE_H_

#include <cstdint>
#include <string>

namespace alliance::base {

// Bytes a write must leave free on the filesystem holding `path`: 5% of its size, at most
// `max_reserve` (small filesystems keep a proportionate reserve, large ones a fixed one).
// False when the filesystem cannot be queried: the write is then attempted, and its own error
// decides.
bool BelowReserve(const std::string& path, uint64_t max_reserve);

}  // namespace alliance::base

#endif  // ALLIANCE_BASE_DISK_SPACE_H_

#include "base/disk_space.h"

#include <sys/statvfs.h>

#include <algorithm>

namespace alliance::base {

bool BelowReserve(const std::string& path, uint64_t max_reserve) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0) return false;
  const uint64_t total = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
  // f_bavail: what an unprivileged writer may use (root's reserved blocks are not ours to
  // count on).
  const uint64_t available = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  return available < std::min(max_reserve, total / 20);
}

}  // namespace alliance::base

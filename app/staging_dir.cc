#include "app/staging_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace alliance::app {
namespace {

namespace fs = std::filesystem;

constexpr char kStagingDir[] = "app-staging";
constexpr char kPrefix[] = "t-";
// A directory older than this is left over from a crash: no request runs that long.
constexpr auto kStale = std::chrono::hours(24);

absl::Status MakeError(const std::string& what, int e) {
  if (e == ENOSPC || e == EDQUOT) {
    return absl::FailedPreconditionError(
        "there is not enough free space on this computer for these files");
  }
  return absl::InternalError(absl::StrCat("cannot create ", what, ": ", std::strerror(e)));
}

void RemoveStale(const fs::path& root) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    if (!absl::StartsWith(p.filename().string(), kPrefix)) continue;
    std::error_code time_ec;
    const auto t = fs::last_write_time(p, time_ec);
    if (!time_ec && now - t > kStale) {
      std::error_code rm_ec;
      fs::remove_all(p, rm_ec);
    }
  }
}

}  // namespace

absl::StatusOr<StagingDir> StagingDir::Create(const std::string& profile_dir) {
  const fs::path root = fs::path(profile_dir) / kStagingDir;
  if (::mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) return MakeError(root.string(), errno);
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
    return absl::InternalError(absl::StrCat(root.string(), " is not a private directory"));
  }
  if ((st.st_mode & 0077) != 0 && ::chmod(root.c_str(), 0700) != 0) {
    return MakeError(root.string(), errno);
  }
  RemoveStale(root);
  std::string pattern = (root / absl::StrCat(kPrefix, "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) return MakeError(root.string(), errno);  // 0700
  return StagingDir(std::move(pattern));
}

StagingDir::StagingDir(StagingDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}

StagingDir& StagingDir::operator=(StagingDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::exchange(other.path_, "");
  }
  return *this;
}

StagingDir::~StagingDir() { Remove(); }

void StagingDir::Remove() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
  path_.clear();
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() { Close(); }

int UniqueFd::release() { return std::exchange(fd_, -1); }

bool UniqueFd::Close() {
  if (fd_ < 0) return true;
  return ::close(std::exchange(fd_, -1)) == 0;
}

}  // namespace alliance::app

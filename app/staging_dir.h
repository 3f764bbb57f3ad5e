// A private directory for files passing through the app in plaintext: uploads from the page
// before the library encrypts them, and attachments the library decrypted before they are
// streamed to the page. It lives in the profile directory (private, on the same disk), has mode
// 0700, and is removed with everything in it when the StagingDir goes away, whatever happened.
// Directories a crash left behind are removed by a later Create once they are a day old.
//
//   ALLIANCE_ASSIGN_OR_RETURN(StagingDir dir, StagingDir::Create(session.profile_dir()));
//   ALLIANCE_ASSIGN_OR_RETURN(std::string path, c.SaveAttachment(id, 0, dir.path()));
//   // ... dir and path are gone at the end of the scope.
//
// Thread safety: a StagingDir belongs to one request; Create may run on many threads at once.
#ifndef ALLIANCE_APP_STAGING_DIR_H_
#define ALLIANCE_APP_STAGING_DIR_H_

#include <string>

#include "absl/status/statusor.h"

namespace alliance::app {

class StagingDir {
 public:
  // A new directory under <profile_dir>/app-staging/. INTERNAL when it cannot be made;
  // FAILED_PRECONDITION ("there is not enough free space ...") when the disk is full.
  [[nodiscard]] static absl::StatusOr<StagingDir> Create(const std::string& profile_dir);

  StagingDir(StagingDir&& other) noexcept;
  StagingDir& operator=(StagingDir&& other) noexcept;
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  ~StagingDir();

  const std::string& path() const { return path_; }

 private:
  explicit StagingDir(std::string path) : path_(std::move(path)) {}
  void Remove();

  std::string path_;  // Empty once moved from.
};

// A file descriptor closed on destruction.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  int release();
  // Closes now; false when close reports an error (a write that did not reach the disk).
  bool Close();

 private:
  int fd_;
};

}  // namespace alliance::app

#endif  // ALLIANCE_APP_STAGING_DIR_H_

#include "server/infra/data_dir_stats.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace alliance::server {

namespace fs = std::filesystem;

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code entry_ec;
    if (!it->is_regular_file(entry_ec) || it->is_symlink(entry_ec)) continue;
    const uintmax_t size = it->file_size(entry_ec);
    if (!entry_ec) total += size;  // a file deleted during the walk (compaction) counts 0
  }
  return total;
}

absl::StatusOr<uint64_t> AvailableBytes(const std::string& dir) {
  std::error_code ec;
  fs::space_info space = fs::space(dir, ec);
  if (ec) {
    return ec == std::errc::no_such_file_or_directory
               ? absl::NotFoundError(absl::StrCat("no directory ", dir))
               : absl::InternalError(absl::StrCat("statvfs ", dir, ": ", ec.message()));
  }
  return static_cast<uint64_t>(space.available);
}

absl::Status RecordBackupTime(const std::string& data_dir, absl::Time when) {
  const fs::path target = fs::path(data_dir) / kLastBackupFileName;
  const fs::path temporary = fs::path(data_dir) / absl::StrCat(kLastBackupFileName, ".tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << absl::ToUnixSeconds(when) << "\n";
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", temporary.string()));
  }
  std::error_code ec;
  fs::rename(temporary, target, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot rename to ", target.string(), ": ",
                                            ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<absl::Time>> ReadBackupTime(const std::string& data_dir) {
  const fs::path path = fs::path(data_dir) / kLastBackupFileName;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (ec) return absl::InternalError(absl::StrCat("cannot read ", path.string()));
    return std::nullopt;
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::InternalError(absl::StrCat("cannot read ", path.string()));
  }
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &seconds)) {
    return absl::DataLossError(absl::StrCat(path.string(), " does not hold a time"));
  }
  return absl::FromUnixSeconds(seconds);
}

}  // namespace alliance::server

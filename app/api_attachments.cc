// `GET /api/attachments/MESSAGE_ID/INDEX` (app/API.md): a file that came with a message,
// fetched, checked and decrypted by the library into a private staging directory, then streamed
// to the page as a download. The decrypted copy is unlinked as soon as it is open, so nothing is
// left on disk however the download ends; the page saves it where the browser saves downloads.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "app/api.h"
#include "app/staging_dir.h"

namespace alliance::app {
namespace {

constexpr char kAttachment[] = "/api/attachments/([0-9a-f]{6,64})/([0-9]{1,3})";
constexpr size_t kStreamPiece = 64 * 1024;

// RFC 6266 / RFC 8187: a quoted ASCII name for old browsers, then the UTF-8 name
// percent-encoded. SafeFileName already removed control characters, quotes and slashes; this
// does not rely on it.
std::string ContentDisposition(absl::string_view name) {
  std::string ascii;
  std::string encoded;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    const bool printable = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    ascii.push_back(printable ? static_cast<char>(c) : '_');
    const bool attr_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') ||
                           absl::string_view("!#$&+-.^_`|~").find(ch) != absl::string_view::npos;
    if (attr_char) {
      encoded.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&encoded, absl::StrFormat("%%%02X", c));
    }
  }
  if (ascii.empty()) ascii = "attachment";
  return absl::StrCat("attachment; filename=\"", ascii, "\"; filename*=UTF-8''", encoded);
}

// The library's errors as sentences about this file (the page shows them under its card).
void FailDownload(httplib::Response& res, const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return FailWith(res, 404, "This file is no longer available from the clinic's server.");
    case absl::StatusCode::kDataLoss:
      return FailWith(res, 502,
                      "This file was damaged or changed on the way, so it was not saved; please "
                      "ask for it to be sent again.");
    case absl::StatusCode::kPermissionDenied:
      return FailWith(res, 403, "This file can no longer be opened on this device.");
    default:
      return Fail(res, s);
  }
}

void Download(AppSession& session, const httplib::Request& req, httplib::Response& res) {
  session.Touch();
  absl::StatusOr<std::shared_ptr<client::Client>> c = session.Client();
  if (!c.ok()) return Fail(res, c.status());
  size_t index = 0;
  if (req.matches.size() < 3 || !absl::SimpleAtoi(std::string(req.matches[2]), &index)) {
    return FailWith(res, 404, "That file could not be found.");
  }
  absl::StatusOr<StagingDir> dir = StagingDir::Create(session.profile_dir());
  if (!dir.ok()) return Fail(res, dir.status());
  absl::StatusOr<std::string> path =
      (*c)->SaveAttachment(std::string(req.matches[1]), index, dir->path());
  if (!path.ok()) return FailDownload(res, path.status());

  auto file = std::make_shared<UniqueFd>(::open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (!file->ok() || ::fstat(file->get(), &st) != 0) {
    return Fail(res, absl::InternalError("cannot read a saved attachment"));
  }
  ::unlink(path->c_str());  // The open descriptor keeps the bytes until the download ends.
  const std::string name = std::filesystem::path(*path).filename().string();
  res.set_header("Content-Disposition", ContentDisposition(name));
  // X-Content-Type-Options: nosniff, no-store and the CSP come with every response (app_server).
  const auto size = static_cast<size_t>(st.st_size);
  if (size == 0) return res.set_content("", "application/octet-stream");
  auto buffer = std::make_shared<std::vector<char>>(kStreamPiece);
  auto provider = [file, buffer](size_t offset, size_t length, httplib::DataSink& sink) {
    const size_t want = std::min(length, buffer->size());
    ssize_t n;
    do {
      n = ::pread(file->get(), buffer->data(), want, static_cast<off_t>(offset));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    return sink.write(buffer->data(), static_cast<size_t>(n));
  };
  res.set_content_provider(size, "application/octet-stream", std::move(provider));
}

}  // namespace

void AddAttachmentRoutes(Routes& r) {
  r.server().Get(kAttachment,
                 [&session = r.session()](const httplib::Request& req, httplib::Response& res) {
                   Download(session, req, res);
                 });
}

}  // namespace alliance::app

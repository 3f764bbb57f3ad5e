#include "app/send_form.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "app/api.h"
#include "app/staging_dir.h"
#include "wire/protocol.h"

namespace alliance::app {
namespace {

// Text fields, in bytes. The body's bound is the library's (SendText); the others are short.
constexpr size_t kMaxBodyField = 60000;
constexpr size_t kMaxShortField = 32;
constexpr char kThumbnailPrefix[] = "thumbnail_";

absl::Status Unreadable() { return absl::InvalidArgumentError("that request could not be read"); }

absl::Status WriteError(int e) {
  if (e == ENOSPC || e == EDQUOT) {
    return absl::FailedPreconditionError(
        "there is not enough free space on this computer to send these files");
  }
  return absl::InternalError(absl::StrCat("cannot stage an upload: ", std::strerror(e)));
}

bool Truthy(const std::string& v) { return v == "1" || v == "true" || v == "on"; }

// Collects the parts of a multipart body as httplib hands them over: a header, then its data in
// pieces. After the first problem it keeps reading and drops everything.
class FormCollector {
 public:
  FormCollector(std::string dir, absl::Status error)
      : dir_(std::move(dir)), error_(std::move(error)) {}

  bool OnHeader(const httplib::MultipartFormData& part) {
    EndPart();
    kind_ = Kind::kIgnored;
    if (!error_.ok()) return true;
    if (part.name == "file") {
      if (part.filename.empty()) return true;  // An empty file input.
      if (form_.files.size() == wire::kMaxAttachmentsPerMessage) {
        error_ = absl::InvalidArgumentError(absl::StrCat(
            "you can send up to ", wire::kMaxAttachmentsPerMessage, " files with one message"));
        return true;
      }
      StartFile(part);
    } else if (absl::StartsWith(part.name, kThumbnailPrefix)) {
      size_t index = 0;
      if (absl::SimpleAtoi(part.name.substr(sizeof kThumbnailPrefix - 1), &index) &&
          index < wire::kMaxAttachmentsPerMessage && !thumbnails_.contains(index)) {
        kind_ = Kind::kThumbnail;
        thumbnail_ = &thumbnails_[index];
      }
    } else if (std::string* field = FieldFor(part.name, &field_max_); field != nullptr) {
      kind_ = Kind::kField;
      field_ = field;
      field_->clear();
    }
    return true;
  }

  bool OnData(const char* data, size_t n) {
    if (!error_.ok()) return true;
    switch (kind_) {
      case Kind::kIgnored:
        break;
      case Kind::kField:
        if (field_->size() + n > field_max_) {
          error_ = absl::InvalidArgumentError(
              field_ == &form_.body ? "the message is too long" : "that request could not be read");
          break;
        }
        field_->append(data, n);
        break;
      case Kind::kThumbnail:
        if (thumbnail_->size() + n > wire::kMaxThumbnailSize) {
          error_ = absl::InvalidArgumentError("a preview image is too large");
          break;
        }
        thumbnail_->append(data, n);
        break;
      case Kind::kFile:
        Write(data, n);
        break;
    }
    return true;
  }

  // After the last part. `read` is what httplib's reader returned.
  absl::StatusOr<SendForm> Finish(bool read) {
    EndPart();
    if (!error_.ok()) return error_;
    if (!read) return Unreadable();
    for (auto& [index, bytes] : thumbnails_) {
      if (index < form_.files.size()) form_.files[index].thumbnail = std::move(bytes);
    }
    return std::move(form_);
  }

 private:
  enum class Kind { kIgnored, kField, kThumbnail, kFile };

  std::string* FieldFor(const std::string& name, size_t* max) {
    *max = kMaxShortField;
    if (name == "body") {
      *max = kMaxBodyField;
      return &form_.body;
    }
    if (name == "intent") return &form_.intent;
    if (name == "urgent") return &urgent_;
    if (name == "crisis_acknowledged") return &acknowledged_;
    return nullptr;
  }

  void StartFile(const httplib::MultipartFormData& part) {
    const std::string path =
        (std::filesystem::path(dir_) / std::to_string(form_.files.size())).string();
    fd_ =
        UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd_.ok()) {
      error_ = WriteError(errno);
      return;
    }
    client::AttachmentSource source;
    source.path = path;
    source.file_name = part.filename;
    const std::string type = absl::AsciiStrToLower(part.content_type);
    if (type != "application/octet-stream") source.media_type = type;
    form_.files.push_back(std::move(source));
    kind_ = Kind::kFile;
  }

  void Write(const char* data, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_.get(), data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        error_ = WriteError(w < 0 ? errno : EIO);
        fd_.Close();
        kind_ = Kind::kIgnored;
        return;
      }
      data += w;
      n -= static_cast<size_t>(w);
    }
  }

  void EndPart() {
    if (kind_ == Kind::kFile && !fd_.Close() && error_.ok()) error_ = WriteError(errno);
    if (kind_ == Kind::kField) {
      form_.urgent = Truthy(urgent_);
      form_.crisis_acknowledged = Truthy(acknowledged_);
    }
    kind_ = Kind::kIgnored;
  }

  const std::string dir_;
  SendForm form_;
  std::string urgent_, acknowledged_;
  std::map<size_t, std::string> thumbnails_;
  absl::Status error_;
  Kind kind_ = Kind::kIgnored;
  std::string* field_ = nullptr;
  size_t field_max_ = 0;
  std::string* thumbnail_ = nullptr;
  UniqueFd fd_;
};

absl::StatusOr<SendForm> ReadJson(const httplib::ContentReader& reader) {
  std::string text;
  bool too_long = false;
  const bool read = reader([&](const char* data, size_t n) {
    if (text.size() + n > kMaxJsonBody) too_long = true;
    if (!too_long) text.append(data, n);
    return true;
  });
  if (!read || too_long) return Unreadable();
  const Json body = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return Unreadable();
  SendForm form;
  absl::StatusOr<std::string> s = Str(body, "body", kMaxBodyField, "the message");
  if (!s.ok()) return s.status();
  form.body = *std::move(s);
  s = Str(body, "intent", kMaxShortField, "the intent", /*required=*/false);
  if (!s.ok()) return s.status();
  form.intent = *std::move(s);
  form.urgent = Flag(body, "urgent");
  form.crisis_acknowledged = Flag(body, "crisis_acknowledged");
  return form;
}

}  // namespace

absl::StatusOr<SendForm> ReadSendForm(const httplib::Request& req,
                                      const httplib::ContentReader& reader,
                                      const std::string& profile_dir) {
  if (!req.is_multipart_form_data()) return ReadJson(reader);
  absl::StatusOr<StagingDir> staging = StagingDir::Create(profile_dir);
  // Without a directory the body is still read (and dropped): the error is reported after it.
  FormCollector collector(staging.ok() ? staging->path() : "", staging.status());
  const bool read =
      reader([&](const httplib::MultipartFormData& part) { return collector.OnHeader(part); },
             [&](const char* data, size_t n) { return collector.OnData(data, n); });
  absl::StatusOr<SendForm> form = collector.Finish(read);
  if (form.ok()) form->staging = *std::move(staging);
  return form;
}

}  // namespace alliance::app

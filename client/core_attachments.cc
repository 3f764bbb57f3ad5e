// Attachments (docs/attachments.md): a file is encrypted on this device into the profile's
// attachment cache (ciphertext only), uploaded to the relay's blob store with resumption, and
// described end to end in the message (blob id, key, hash, name, type). Receiving fetches the
// ciphertext into the cache (resuming from what is held), then decrypts it chunk by chunk into
// a hidden temporary file beside the destination, which takes the real name only once every
// chunk, the final tag and the hash have checked out. Memory stays bounded by a few chunks
// whatever the file size.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/attachment_files.h"
#include "client/internal/client_core.h"
#include "client/internal/core_helpers.h"
#include "crypto/attachment.h"
#include "wire/protocol.h"

namespace alliance::client {
namespace {

namespace fs = std::filesystem;

constexpr size_t kUploadPiece = 256 << 10;  // the relay's largest upload request
constexpr int kTransferAttempts = 6;

// A file descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

absl::Status ErrnoError(const std::string& what) {
  const int e = errno;
  const std::string message = absl::StrCat(what, ": ", std::strerror(e));
  if (e == ENOENT) return absl::NotFoundError(message);
  if (e == EACCES || e == EPERM) return absl::PermissionDeniedError(message);
  if (e == ENOSPC || e == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// Reads up to `size` bytes (fewer only at the end of the file).
absl::StatusOr<size_t> ReadFull(int fd, uint8_t* out, size_t size, const std::string& name) {
  size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, out + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot read " + name);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

absl::Status WriteFull(int fd, const void* data, size_t size, const std::string& name) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write " + name);
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

bool Retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsCancelled(s) || absl::IsDeadlineExceeded(s) ||
         absl::IsUnauthenticated(s) || absl::IsAborted(s);
}

std::string Damaged(const std::string& name) {
  return absl::StrCat(name, " is damaged or was altered; nothing was saved");
}

// The first free name in `dir` for `name`: "worksheet.pdf", then "worksheet (1).pdf", ...
absl::StatusOr<fs::path> FreeName(const fs::path& dir, const std::string& name) {
  const size_t dot = name.find_last_of('.');
  const std::string stem = dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
  const std::string ext = dot == std::string::npos || dot == 0 ? "" : name.substr(dot);
  for (int i = 0; i < 1000; ++i) {
    std::string candidate = name;
    if (i > 0) {
      const std::string suffix = absl::StrCat(" (", i, ")", ext);
      std::string cut = stem.substr(0, std::min(stem.size(), 255 - std::min<size_t>(255, suffix.size())));
      while (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xc0) == 0x80) cut.pop_back();
      if (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xc0) == 0xc0) cut.pop_back();
      candidate = cut + suffix;
    }
    fs::path p = dir / candidate;
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(p, ec))) return p;
  }
  return absl::AlreadyExistsError(absl::StrCat("too many files named ", name, " in ", dir.string()));
}

}  // namespace

std::string ClientCore::AttachmentCacheDir() const {
  return (fs::path(options_.profile_dir) / "attachments").string();
}

absl::StatusOr<v1::Attachment> ClientCore::UploadAttachment(const v1::AccountRecord& account,
                                                            const v1::ContactRecord& contact,
                                                            const AttachmentSource& source) {
  const std::string shown = source.path;
  Fd in(::open(source.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.ok()) return ErrnoError("cannot open " + shown);
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return ErrnoError("cannot read " + shown);
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(shown + " is not a regular file");

  v1::Attachment a;
  a.set_blob_id(RandomId());
  a.set_file_name(SafeFileName(source.file_name.empty() ? fs::path(source.path).filename().string()
                                                        : source.file_name));
  a.set_media_type(source.media_type.empty() ? GuessMediaType(a.file_name())
                                             : SafeMediaType(source.media_type));

  // Encrypt into the cache: <blob>.part, renamed once complete.
  std::error_code ec;
  fs::create_directories(AttachmentCacheDir(), ec);
  if (ec) return absl::InternalError("cannot create " + AttachmentCacheDir() + ": " + ec.message());
  const std::string part = (fs::path(AttachmentCacheDir()) / ToHex(a.blob_id())).string() + ".part";
  {
    Fd out(::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out.ok()) return ErrnoError("cannot write the attachment cache");
    ALLIANCE_ASSIGN_OR_RETURN(crypto::AttachmentSealer sealer, crypto::AttachmentSealer::Create());
    crypto::StreamHash hash;
    hash.Update(crypto::AsBytes(sealer.header()));
    ALLIANCE_RETURN_IF_ERROR(WriteFull(out.get(), sealer.header().data(), sealer.header().size(),
                                       "the attachment cache"));
    ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes current,
                              crypto::SecretBytes::Allocate(wire::kAttachmentChunkSize));
    ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes next,
                              crypto::SecretBytes::Allocate(wire::kAttachmentChunkSize));
    ALLIANCE_ASSIGN_OR_RETURN(size_t current_size,
                              ReadFull(in.get(), current.data(), current.size(), shown));
    uint64_t plain = 0;
    uint64_t cipher = sealer.header().size();
    while (true) {
      // Read ahead: the chunk is final when nothing follows it.
      size_t next_size = 0;
      if (current_size == wire::kAttachmentChunkSize) {
        ALLIANCE_ASSIGN_OR_RETURN(next_size, ReadFull(in.get(), next.data(), next.size(), shown));
      }
      const bool final = next_size == 0;
      ALLIANCE_ASSIGN_OR_RETURN(std::string sealed,
                                sealer.Seal({current.data(), current_size}, final));
      hash.Update(crypto::AsBytes(sealed));
      ALLIANCE_RETURN_IF_ERROR(
          WriteFull(out.get(), sealed.data(), sealed.size(), "the attachment cache"));
      plain += current_size;
      cipher += sealed.size();
      if (final) break;
      std::swap(current, next);
      current_size = next_size;
    }
    if (::fsync(out.get()) != 0) return ErrnoError("cannot write the attachment cache");
    const std::array<uint8_t, 32> digest = hash.Final();
    a.set_key(reinterpret_cast<const char*>(sealer.key().data()), sealer.key().size());
    a.set_hash(reinterpret_cast<const char*>(digest.data()), digest.size());
    a.set_size(cipher);
    a.set_plain_size(plain);
  }
  const std::string cache = AttachmentCachePath(a);
  if (::rename(part.c_str(), cache.c_str()) != 0) return ErrnoError("cannot write the attachment cache");

  if (!source.thumbnail.empty()) {
    if (source.thumbnail.size() > wire::kMaxThumbnailSize || ImageTypeOf(source.thumbnail).empty()) {
      return absl::InvalidArgumentError("a thumbnail must be a JPEG or PNG of at most 24 KiB");
    }
    a.set_thumbnail(source.thumbnail);
  } else if (absl::StartsWith(a.media_type(), "image/") && a.plain_size() <= wire::kMaxThumbnailSize) {
    // A small image is its own preview.
    std::string bytes(a.plain_size(), '\0');
    if (::lseek(in.get(), 0, SEEK_SET) == 0) {
      absl::StatusOr<size_t> n =
          ReadFull(in.get(), reinterpret_cast<uint8_t*>(bytes.data()), bytes.size(), shown);
      const std::string type = n.ok() && *n == bytes.size() ? ImageTypeOf(bytes) : "";
      if (type == "image/png" || type == "image/jpeg") a.set_thumbnail(std::move(bytes));
    }
  }

  // Upload, resuming from what the relay holds after a broken stream.
  v1::UploadStart start;
  start.set_blob_id(a.blob_id());
  start.set_size(a.size());
  start.add_recipient_account_ids(contact.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord self, SelfContact(account));
  absl::StatusOr<std::vector<uint32_t>> others = DestinationDevices(account, self);
  if (others.ok() && !others->empty()) start.add_recipient_account_ids(account.account_id());
  ALLIANCE_RETURN_IF_ERROR(Transfer(a.file_name(), [&](bool* reached) -> absl::Status {
    uint64_t offset = 0;
    v1::UploadStatusRequest status_req;
    status_req.set_blob_id(a.blob_id());
    absl::StatusOr<v1::UploadStatusResponse> status = relay_->UploadStatus(status_req);
    if (status.ok()) {
      if (status->complete()) return absl::OkStatus();
      offset = status->stored_bytes();
    } else if (!absl::IsNotFound(status.status())) {
      return status.status();
    }
    *reached = true;
    Fd cached(::open(cache.c_str(), O_RDONLY | O_CLOEXEC));
    if (!cached.ok()) return ErrnoError("cannot read the attachment cache");
    if (::lseek(cached.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
      return ErrnoError("cannot read the attachment cache");
    }
    start.set_offset(offset);
    uint64_t position = offset;
    ALLIANCE_ASSIGN_OR_RETURN(
        v1::UploadResponse done,
        relay_->Upload(start, [&](std::string* piece) -> absl::StatusOr<bool> {
          if (options_.transfer_fault && options_.transfer_fault(position)) {
            return absl::UnavailableError("the connection to the relay broke");
          }
          piece->resize(static_cast<size_t>(std::min<uint64_t>(kUploadPiece, a.size() - position)));
          ALLIANCE_ASSIGN_OR_RETURN(
              size_t n, ReadFull(cached.get(), reinterpret_cast<uint8_t*>(piece->data()),
                                 piece->size(), "the attachment cache"));
          if (n != piece->size()) return absl::DataLossError("the attachment cache is truncated");
          position += n;
          return position < a.size();
        }));
    if (!done.complete()) return absl::UnavailableError("the upload stopped before the end");
    return absl::OkStatus();
  }));
  return a;
}

absl::Status ClientCore::Transfer(const std::string& name,
                                  const std::function<absl::Status(bool*)>& attempt) {
  absl::Status last;
  int unreached = 0;  // consecutive attempts that never reached the relay
  for (int i = 0; i < kTransferAttempts; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100 * i));
    bool reached = false;
    last = attempt(&reached);
    if (last.ok() || !Retryable(last)) break;
    // A relay that is down stays down for a while: give up after two tries that never got
    // through, instead of making the person wait for every retry.
    unreached = reached ? 0 : unreached + 1;
    if (unreached == 2) break;
  }
  if (last.ok()) return last;
  return absl::Status(last.code(), absl::StrCat(name, ": ", last.message()));
}

absl::StatusOr<ClientCore::FoundAttachment> ClientCore::FindAttachment(
    const std::string& message_id, size_t index) {
  std::string prefix = message_id;
  for (char& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (prefix.size() < 6 || prefix.size() > 32 ||
      prefix.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return absl::InvalidArgumentError(
        "give the message id (at least 6 hex digits, as `alliance history` shows it)");
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<ContactView> contacts, Contacts(false));
  std::vector<FoundAttachment> found;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    for (const ContactView& cv : contacts) {
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                                txn.Get<v1::ContactRecord>(names::Contact(cv.id)));
      if (!c.has_value()) continue;
      for (uint64_t i = c->history_start(); i < c->history_count(); ++i) {
        ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryEntry> e,
                                  txn.Get<v1::HistoryEntry>(names::History(cv.id, i)));
        if (!e.has_value() || !absl::StartsWith(ToHex(e->id()), prefix)) continue;
        if (e->text().attachments_size() == 0) continue;
        found.push_back({*c, *std::move(e)});
      }
    }
    return absl::OkStatus();
  }));
  if (found.empty()) return absl::NotFoundError("no message with attachments has that id");
  if (found.size() > 1) {
    return absl::InvalidArgumentError("several messages start with that id; give more digits");
  }
  if (index >= static_cast<size_t>(found[0].entry.text().attachments_size())) {
    return absl::NotFoundError(absl::StrCat("that message has ",
                                            found[0].entry.text().attachments_size(),
                                            " attachment(s)"));
  }
  return found[0];
}

absl::Status ClientCore::FetchCiphertext(const v1::Attachment& a, const std::string& name,
                                         const std::string& cache) {
  std::error_code ec;
  if (fs::exists(cache, ec)) return absl::OkStatus();
  fs::create_directories(AttachmentCacheDir(), ec);
  if (ec) return absl::InternalError("cannot create " + AttachmentCacheDir() + ": " + ec.message());
  const std::string part = cache + ".part";
  ALLIANCE_RETURN_IF_ERROR(Transfer(name, [&](bool* reached) -> absl::Status {
    Fd out(::open(part.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out.ok()) return ErrnoError("cannot write the attachment cache");
    struct stat st {};
    if (::fstat(out.get(), &st) != 0) return ErrnoError("cannot write the attachment cache");
    uint64_t held = static_cast<uint64_t>(st.st_size);
    if (held > a.size()) {
      ::unlink(part.c_str());
      return absl::DataLossError(Damaged(name));
    }
    if (held < a.size()) {
      v1::DownloadRequest req;
      req.set_blob_id(a.blob_id());
      req.set_offset(held);
      ALLIANCE_RETURN_IF_ERROR(relay_->Download(req, [&](const v1::DownloadResponse& r) -> absl::Status {
        *reached = true;
        if (options_.transfer_fault && options_.transfer_fault(held)) {
          return absl::UnavailableError("the connection to the relay broke");
        }
        if (r.offset() != held || r.size() != a.size() || r.data().empty() ||
            r.data().size() > a.size() - held) {
          return absl::DataLossError(Damaged(name));
        }
        ALLIANCE_RETURN_IF_ERROR(
            WriteFull(out.get(), r.data().data(), r.data().size(), "the attachment cache"));
        held += r.data().size();
        return absl::OkStatus();
      }));
    }
    if (held != a.size()) return absl::UnavailableError("the download stopped before the end");
    if (::fsync(out.get()) != 0) return ErrnoError("cannot write the attachment cache");
    if (::rename(part.c_str(), cache.c_str()) != 0) {
      return ErrnoError("cannot write the attachment cache");
    }
    return absl::OkStatus();
  }));
  return absl::OkStatus();
}

absl::Status ClientCore::DecryptAttachment(const v1::Attachment& a, const std::string& name,
                                           const std::string& cache, int out_fd) {
  const absl::Status damaged = absl::DataLossError(Damaged(name));
  Fd in(::open(cache.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.ok()) return ErrnoError("cannot read the attachment cache");
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return ErrnoError("cannot read the attachment cache");
  if (static_cast<uint64_t>(st.st_size) != a.size() || a.size() < wire::kAttachmentHeaderSize) {
    return damaged;
  }
  std::string header(wire::kAttachmentHeaderSize, '\0');
  ALLIANCE_ASSIGN_OR_RETURN(size_t n, ReadFull(in.get(), reinterpret_cast<uint8_t*>(header.data()),
                                               header.size(), "the attachment cache"));
  if (n != header.size()) return damaged;
  absl::StatusOr<crypto::AttachmentOpener> opener =
      crypto::AttachmentOpener::Create(crypto::AsBytes(a.key()), crypto::AsBytes(header));
  if (!opener.ok()) return damaged;
  std::string cipher(wire::kAttachmentChunkSize + wire::kAttachmentChunkOverhead, '\0');
  crypto::SecretBytes plain;
  uint64_t remaining = a.size() - header.size();
  uint64_t written = 0;
  bool final = false;
  while (remaining > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(cipher.size(), remaining));
    ALLIANCE_ASSIGN_OR_RETURN(n, ReadFull(in.get(), reinterpret_cast<uint8_t*>(cipher.data()), want,
                                          "the attachment cache"));
    if (n != want) return damaged;
    remaining -= n;
    size_t plain_size = 0;
    absl::StatusOr<bool> last =
        opener->Open(crypto::AsBytes(std::string_view(cipher.data(), n)), &plain, &plain_size);
    if (!last.ok() || (*last != (remaining == 0))) return damaged;
    final = *last;
    ALLIANCE_RETURN_IF_ERROR(WriteFull(out_fd, plain.data(), plain_size, name));
    written += plain_size;
  }
  if (!final || written != a.plain_size()) return damaged;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AttachmentView>> ClientCore::MessageAttachments(
    const std::string& message_id) {
  ALLIANCE_ASSIGN_OR_RETURN(FoundAttachment found, FindAttachment(message_id, 0));
  return ToView(found.entry, found.contact).attachments;
}

absl::StatusOr<std::string> ClientCore::SaveAttachment(const std::string& message_id, size_t index,
                                                       const std::string& directory) {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  ALLIANCE_ASSIGN_OR_RETURN(FoundAttachment found, FindAttachment(message_id, index));
  const v1::Attachment& a = found.entry.text().attachments(static_cast<int>(index));
  const std::string name = SafeFileName(a.file_name());
  if (a.blob_id().size() != wire::kBlobIdSize || a.key().size() != wire::kAttachmentKeySize ||
      a.hash().size() != wire::kHashSize || a.plain_size() > wire::kMaxAttachmentSize ||
      a.size() != wire::AttachmentCipherSize(a.plain_size())) {
    return absl::DataLossError(Damaged(name));
  }
  const fs::path dir = directory.empty() ? fs::path(".") : fs::path(directory);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir.string(), " is not a directory"));
  }
  const std::string cache = AttachmentCachePath(a);
  const bool fetch = !fs::exists(cache, ec);
  ALLIANCE_RETURN_IF_ERROR(FetchCiphertext(a, name, cache));
  // Bytes that do not hash to what the message says are dropped, so that the next try fetches
  // them again (while the relay has them). Bytes that do are kept whatever follows: a message
  // naming them with another key cannot make this device forget a file it holds.
  ALLIANCE_ASSIGN_OR_RETURN(const bool intact, CachedHashMatches(a, cache));
  if (!intact) {
    ::unlink(cache.c_str());
    return absl::DataLossError(Damaged(name));
  }

  // Decrypt into an unnamed file in the destination directory (or a hidden temporary name
  // where the filesystem has no O_TMPFILE); it gets the real name only once everything checked
  // out, and a crash before that leaves nothing under it.
  absl::Status result;
  std::string temp;
  Fd out(::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
  if (!out.ok()) {
    temp = (dir / absl::StrCat(".", ToHex(RandomId()), ".alliance-partial")).string();
    Fd named(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!named.ok()) return ErrnoError("cannot write to " + dir.string());
    out = std::move(named);
  }
  result = DecryptAttachment(a, name, cache, out.get());
  if (result.ok() && ::fsync(out.get()) != 0) result = ErrnoError("cannot write " + name);
  if (!result.ok()) {
    if (!temp.empty()) ::unlink(temp.c_str());
    return result;
  }
  if (fetch) {
    // Checked and held: the relay may let go of its copy once every device has said so. A
    // failure only leaves it to the retention sweep.
    v1::DownloadRequest done;
    done.set_blob_id(a.blob_id());
    done.set_offset(a.size());
    (void)relay_->Download(done, [](const v1::DownloadResponse&) { return absl::OkStatus(); });
  }
  const std::string source =
      temp.empty() ? absl::StrCat("/proc/self/fd/", out.get()) : temp;
  for (int attempt = 0; attempt < 3; ++attempt) {
    ALLIANCE_ASSIGN_OR_RETURN(fs::path target, FreeName(dir, name));
    // linkat() never replaces an existing file (a name taken since FreeName looked).
    if (::linkat(AT_FDCWD, source.c_str(), AT_FDCWD, target.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      if (!temp.empty()) ::unlink(temp.c_str());
      return target.string();
    }
    if (errno != EEXIST) break;
  }
  const absl::Status error = ErrnoError("cannot write " + name + " to " + dir.string());
  if (!temp.empty()) ::unlink(temp.c_str());
  return error;
}

absl::StatusOr<bool> ClientCore::CachedHashMatches(const v1::Attachment& a,
                                                   const std::string& cache) {
  Fd in(::open(cache.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.ok()) return ErrnoError("cannot read the attachment cache");
  crypto::StreamHash hash;
  std::string buffer(kUploadPiece, '\0');
  uint64_t total = 0;
  while (true) {
    ALLIANCE_ASSIGN_OR_RETURN(size_t n, ReadFull(in.get(), reinterpret_cast<uint8_t*>(buffer.data()),
                                                 buffer.size(), "the attachment cache"));
    hash.Update(crypto::AsBytes(std::string_view(buffer.data(), n)));
    total += n;
    if (n < buffer.size()) break;
  }
  const std::array<uint8_t, 32> digest = hash.Final();
  return total == a.size() &&
         a.hash() == std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size());
}

std::string ClientCore::AttachmentCachePath(const v1::Attachment& a) const {
  // Named by blob and hash: another message naming the same blob with other bytes gets
  // another file.
  return (fs::path(AttachmentCacheDir()) /
          absl::StrCat(ToHex(a.blob_id()), "-", ToHex(a.hash().substr(0, 16))))
      .string();
}

}  // namespace alliance::client

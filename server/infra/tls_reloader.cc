#include "server/infra/tls_reloader.h"

#include <fcntl.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"

namespace alliance::server {
namespace {

namespace fs = std::filesystem;

constexpr char kCurrent[] = "current";

std::string GenerationName(uint64_t n) { return absl::StrCat("gen-", n); }

absl::Status SetMtime(const fs::path& path, int64_t seconds) {
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(seconds);
  times[0].tv_nsec = times[1].tv_nsec = 0;
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
    return absl::InternalError(absl::StrCat("cannot set the time of ", path.string()));
  }
  return absl::OkStatus();
}

absl::Status CopyPrivate(const std::string& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot stage ", from, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsReloader>> TlsReloader::Create(const std::string& cert_file,
                                                                  const std::string& key_file,
                                                                  const std::string& state_dir) {
  ALLIANCE_ASSIGN_OR_RETURN(CertificateInfo info, InspectKeyPair(cert_file, key_file));
  std::error_code ec;
  fs::remove_all(state_dir, ec);
  fs::create_directories(state_dir, ec);
  if (!ec) fs::permissions(state_dir, fs::perms::owner_all, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", state_dir, ": ", ec.message()));
  auto reloader = std::unique_ptr<TlsReloader>(new TlsReloader(cert_file, key_file, state_dir));
  {
    base::MutexLock lock(&reloader->mu_);
    ALLIANCE_RETURN_IF_ERROR(reloader->StageLocked(info));
  }
  const fs::path current = fs::path(state_dir) / kCurrent;
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      (current / "key.pem").string(), (current / "cert.pem").string(), kRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  reloader->credentials_ = grpc::experimental::TlsServerCredentials(options);
  if (reloader->credentials_ == nullptr) return absl::InternalError("gRPC refused the TLS options");
  return reloader;
}

CertificateInfo TlsReloader::current() const {
  base::MutexLock lock(&mu_);
  return current_;
}

absl::StatusOr<CertificateInfo> TlsReloader::Reload(absl::Time now) {
  ALLIANCE_ASSIGN_OR_RETURN(CertificateInfo info, InspectKeyPair(cert_file_, key_file_));
  if (now >= info.not_after) {
    return absl::FailedPreconditionError(
        absl::StrCat("the certificate in ", cert_file_, " expired at ",
                     absl::FormatTime(info.not_after, absl::UTCTimeZone())));
  }
  if (now < info.not_before) {
    return absl::FailedPreconditionError(
        absl::StrCat("the certificate in ", cert_file_, " is not valid before ",
                     absl::FormatTime(info.not_before, absl::UTCTimeZone())));
  }
  base::MutexLock lock(&mu_);
  ALLIANCE_RETURN_IF_ERROR(StageLocked(info));
  return info;
}

absl::Status TlsReloader::StageLocked(const CertificateInfo& info) {
  const fs::path root(state_dir_);
  const uint64_t next = generation_ + 1;
  const fs::path gen = root / GenerationName(next);
  std::error_code ec;
  fs::remove_all(gen, ec);
  fs::create_directory(gen, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", gen.string()));
  ALLIANCE_RETURN_IF_ERROR(CopyPrivate(key_file_, gen / "key.pem"));
  ALLIANCE_RETURN_IF_ERROR(CopyPrivate(cert_file_, gen / "cert.pem"));
  // The copies may differ from the files just inspected if the operator rewrote them in
  // between; check what was staged.
  ALLIANCE_ASSIGN_OR_RETURN(CertificateInfo staged,
                            InspectKeyPair((gen / "cert.pem").string(), (gen / "key.pem").string()));
  if (staged.sha256_fingerprint != info.sha256_fingerprint) {
    return absl::UnavailableError("the certificate changed while it was read; send SIGHUP again");
  }
  const int64_t mtime = std::max(absl::ToUnixSeconds(absl::Now()), last_mtime_ + 1);
  ALLIANCE_RETURN_IF_ERROR(SetMtime(gen / "key.pem", mtime));
  ALLIANCE_RETURN_IF_ERROR(SetMtime(gen / "cert.pem", mtime));
  const fs::path link_tmp = root / "current.tmp";
  fs::remove(link_tmp, ec);
  fs::create_directory_symlink(GenerationName(next), link_tmp, ec);
  if (!ec) fs::rename(link_tmp, root / kCurrent, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot switch ", state_dir_, ": ", ec.message()));
  // Keep the generation just replaced (a read may be in progress); drop the one before it.
  if (generation_ >= 1) fs::remove_all(root / GenerationName(generation_ - 1), ec);
  generation_ = next;
  last_mtime_ = mtime;
  current_ = staged;
  return absl::OkStatus();
}

}  // namespace alliance::server

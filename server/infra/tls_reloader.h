// TlsReloader: the relay's TLS credentials, renewable without a restart. `serve` builds its
// gRPC credentials from it, and on SIGHUP calls Reload(): new handshakes get the new certificate
// within a second, while established connections (and their Receive streams) keep the session
// they negotiated.
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto tls, TlsReloader::Create(cert, key, data_dir + "/tls"));
//   builder.AddListeningPort(listen, tls->credentials(), &port);
//   ...  // on SIGHUP:
//   absl::StatusOr<CertificateInfo> now_serving = tls->Reload(clock->Now());
//
// How (gRPC 1.51, Debian 12): gRPC cannot swap the credentials of a running server from C++ —
// SslServerCredentials are fixed at BuildAndStart, and the one public hook for changing key
// material, CertificateProviderInterface, can only wrap gRPC's own core providers (its
// distributor is not in the installed headers). Of those, FileWatcherCertificateProvider
// re-reads two files every second. So the relay points it at a copy it owns, and SIGHUP is what
// changes that copy: the operator's files are checked first (both parse, the key belongs to the
// certificate, not expired), then written as a new generation directory, and one symlink
// rename makes it current, so the watcher never sees half a renewal. Each generation's files get
// distinct modification times, which is how the watcher detects a read that raced a swap (it
// compares them before and after reading, and retries). Editing the operator's files without a
// SIGHUP changes nothing.
//
// Layout of state_dir (0700, recreated at each start; holds a copy of the private key, 0600):
//   current -> gen-N     cert.pem, key.pem inside; the previous generation is kept until the
//                        next reload so a read in progress never finds its files gone.
//
// Thread-safe.
#ifndef ALLIANCE_SERVER_INFRA_TLS_RELOADER_H_
#define ALLIANCE_SERVER_INFRA_TLS_RELOADER_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "absl/time/time.h"
#include "server/infra/certificate_info.h"

namespace alliance::server {

class TlsReloader {
 public:
  // How often gRPC looks at the staged copy; a reload is served within this. Default: 1 s (the
  // watcher's minimum).
  static constexpr int kRefreshSeconds = 1;

  // Checks the pair in cert_file/key_file (not its expiry: an expired certificate is served,
  // and the caller warns, since a relay with no certificate serves no one either), stages it and
  // starts the watcher. Errors: NOT_FOUND, INVALID_ARGUMENT (see InspectKeyPair), INTERNAL
  // (state_dir cannot be written).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TlsReloader>> Create(
      const std::string& cert_file, const std::string& key_file, const std::string& state_dir);

  TlsReloader(const TlsReloader&) = delete;
  TlsReloader& operator=(const TlsReloader&) = delete;

  // Credentials for ServerBuilder::AddListeningPort (TLS 1.2+, no client certificates).
  std::shared_ptr<grpc::ServerCredentials> credentials() const { return credentials_; }

  // The certificate staged most recently.
  CertificateInfo current() const;

  // Re-reads the operator's files and stages them. Returns what will be served. On any error
  // the previous pair stays in service. Errors: NOT_FOUND, INVALID_ARGUMENT (unreadable,
  // mismatched pair), FAILED_PRECONDITION (expired at `now`, or not yet valid), INTERNAL.
  [[nodiscard]] absl::StatusOr<CertificateInfo> Reload(absl::Time now);

 private:
  TlsReloader(std::string cert_file, std::string key_file, std::string state_dir)
      : cert_file_(std::move(cert_file)),
        key_file_(std::move(key_file)),
        state_dir_(std::move(state_dir)) {}
  [[nodiscard]] absl::Status StageLocked(const CertificateInfo& info)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string cert_file_;
  const std::string key_file_;
  const std::string state_dir_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  mutable base::Mutex mu_;
  CertificateInfo current_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_mtime_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_TLS_RELOADER_H_

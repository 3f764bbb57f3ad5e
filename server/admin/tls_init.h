// A private certificate authority for a clinic without one, and the relay's server certificate
// signed by it (`alliance-relay tls init` and `tls renew`).
//
//   ALLIANCE_RETURN_IF_ERROR(CreateClinicCa({.host = "relay.clinic.example", .out_dir = dir}));
//   // dir/ca.pem (give to clients), dir/ca.key (0600, keep offline if you can),
//   // dir/cert.pem and dir/key.pem (0600) for `serve --tls-cert --tls-key`.
//   ALLIANCE_RETURN_IF_ERROR(RenewServerCertificate({.host = ..., .out_dir = dir}));  // later
//
// Keys are ECDSA P-256; certificates are X.509 v3 with random 128-bit serials. The server
// certificate names the host, 127.0.0.1 and localhost (so `status` and tests on the machine
// itself verify it too), and is for server authentication only. Uses OpenSSL's libcrypto.
// Stateless; functions may run concurrently on different directories.
#ifndef ALLIANCE_SERVER_ADMIN_TLS_INIT_H_
#define ALLIANCE_SERVER_ADMIN_TLS_INIT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace alliance::server {

inline constexpr char kCaCertFile[] = "ca.pem";
inline constexpr char kCaKeyFile[] = "ca.key";
inline constexpr char kServerCertFile[] = "cert.pem";
inline constexpr char kServerKeyFile[] = "key.pem";

struct TlsInitOptions {
  // DNS name clients use for the relay. Required; letters, digits, '-' and '.', at most 253.
  std::string host;
  // Directory for the four files; created (0700) when missing. Required.
  std::string out_dir;
  // Start of validity. Default: absl::Now() minus one hour (tolerates clock skew).
  absl::Time not_before = absl::InfinitePast();
  // Server certificate lifetime from not_before. Default: 397 days (what browsers accept;
  // renew yearly). May be negative in tests to make an expired certificate.
  absl::Duration server_validity = absl::Hours(24 * 397);
  // CA lifetime from not_before. Default: 10 years.
  absl::Duration ca_validity = absl::Hours(24 * 3653);
};

// Creates ca.pem, ca.key, cert.pem and key.pem in out_dir. Refuses to overwrite: if any of the
// four exists, nothing is written. Errors: INVALID_ARGUMENT (host), ALREADY_EXISTS,
// INTERNAL (OpenSSL or I/O failure; message names the file).
[[nodiscard]] absl::Status CreateClinicCa(const TlsInitOptions& options);

// Issues a new server key and certificate from out_dir/ca.pem and ca.key, replacing cert.pem
// and key.pem atomically (each renamed into place; the relay reads them on SIGHUP). ca_validity
// is ignored. Errors: INVALID_ARGUMENT (host, or ca.pem and ca.key not a pair), NOT_FOUND (no CA
// there), INTERNAL.
[[nodiscard]] absl::Status RenewServerCertificate(const TlsInitOptions& options);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_ADMIN_TLS_INIT_H_

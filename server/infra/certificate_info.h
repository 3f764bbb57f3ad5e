// Reading a PEM certificate and its private key before serving them: do they parse, does the
// key belong to the certificate, when does it expire. The relay checks a pair this way at start
// and on every SIGHUP reload, so that a half-renewed pair never reaches the TLS stack.
//
//   ALLIANCE_ASSIGN_OR_RETURN(CertificateInfo info,
//                             InspectKeyPair("/etc/alliance/tls/cert.pem", ".../key.pem"));
//   if (info.not_after < clock->Now()) ...
//
// Uses OpenSSL (libcrypto). Stateless, thread-safe. The key is read by OpenSSL straight from
// the file into its own memory and freed (wiped) by OpenSSL; it never passes through a string.
#ifndef ALLIANCE_SERVER_INFRA_CERTIFICATE_INFO_H_
#define ALLIANCE_SERVER_INFRA_CERTIFICATE_INFO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace alliance::server {

struct CertificateInfo {
  std::string serial_hex;          // lower-case hex, no separators
  std::string sha256_fingerprint;  // lower-case hex of SHA-256 over the DER certificate
  std::string subject;             // one-line form, e.g. "CN=relay.clinic.example"
  absl::Time not_before;
  absl::Time not_after;
};

// Reads the first certificate of `cert_file` (a PEM chain) and the PEM private key in
// `key_file`, and checks that the key matches the certificate. Does not check expiry (the
// caller decides against its clock). Errors: NOT_FOUND (a file cannot be read),
// INVALID_ARGUMENT (not PEM, or the key does not belong to the certificate).
[[nodiscard]] absl::StatusOr<CertificateInfo> InspectKeyPair(const std::string& cert_file,
                                                             const std::string& key_file);

// Reads the first certificate of a PEM file. Errors: NOT_FOUND, INVALID_ARGUMENT.
[[nodiscard]] absl::StatusOr<CertificateInfo> InspectCertificate(const std::string& cert_file);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_CERTIFICATE_INFO_H_

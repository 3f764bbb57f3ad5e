#include "server/admin/tls_init.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"

namespace alliance::server {
namespace {

namespace fs = std::filesystem;

struct Free {
  void operator()(X509* x) const { X509_free(x); }
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  void operator()(BIO* b) const { BIO_free(b); }
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using X509Ptr = std::unique_ptr<X509, Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using BioPtr = std::unique_ptr<BIO, Free>;

absl::Status OpenSslError(const std::string& what) {
  return absl::InternalError(absl::StrCat("OpenSSL could not ", what));
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

absl::Status ValidateHost(const std::string& host) {
  if (host.empty() || host.size() > 253) return absl::InvalidArgumentError("give --host NAME");
  if (IsIpAddress(host)) return absl::OkStatus();
  for (char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return absl::InvalidArgumentError(
          absl::StrCat("--host must be a DNS name or an IP address, not \"", host, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError(absl::StrCat("build extension ", value));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? absl::OkStatus() : OpenSslError("add an extension");
}

// A certificate for `key` named `common_name`, valid [not_before, not_after], not yet signed.
absl::StatusOr<X509Ptr> NewCertificate(EVP_PKEY* key, const std::string& common_name,
                                       absl::Time not_before, absl::Time not_after) {
  X509Ptr cert(X509_new());
  std::unique_ptr<BIGNUM, Free> serial(BN_new());
  if (cert == nullptr || serial == nullptr || X509_set_version(cert.get(), 2) != 1 ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(not_after)) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1 ||
      X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    return OpenSslError("create a certificate");
  }
  return cert;
}

// Writes `path` via a temporary file and rename, with `mode`, synced.
absl::Status WritePem(const fs::path& path, mode_t mode, const std::function<int(BIO*)>& write) {
  const std::string tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  ::fchmod(fd, mode);  // O_CREAT's mode is filtered by the umask; the result must not be.
  BioPtr bio(BIO_new_fd(fd, BIO_NOCLOSE));
  bool ok = bio != nullptr && write(bio.get()) == 1 && BIO_flush(bio.get()) == 1;
  bio.reset();
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  std::error_code ec;
  if (ok) fs::rename(tmp, path, ec);
  if (!ok || ec) {
    fs::remove(tmp, ec);
    return absl::InternalError(absl::StrCat("cannot write ", path.string()));
  }
  return absl::OkStatus();
}

absl::Status WriteKey(const fs::path& path, EVP_PKEY* key) {
  return WritePem(path, 0600, [key](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

absl::Status WriteCert(const fs::path& path, X509* cert) {
  return WritePem(path, 0644, [cert](BIO* b) { return PEM_write_bio_X509(b, cert); });
}

absl::Time NotBefore(const TlsInitOptions& o) {
  return o.not_before == absl::InfinitePast() ? absl::Now() - absl::Hours(1) : o.not_before;
}

// Issues and writes cert.pem/key.pem signed by (ca, ca_key).
absl::Status IssueServer(const TlsInitOptions& o, X509* ca, EVP_PKEY* ca_key) {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("generate a key");
  const absl::Time from = NotBefore(o);
  ALLIANCE_ASSIGN_OR_RETURN(X509Ptr cert,
                            NewCertificate(key.get(), o.host, from, from + o.server_validity));
  const std::string san = absl::StrCat(IsIpAddress(o.host) ? "IP:" : "DNS:", o.host,
                                       ", IP:127.0.0.1, DNS:localhost");
  X509* c = cert.get();
  if (X509_set_issuer_name(c, X509_get_subject_name(ca)) != 1) return OpenSslError("set issuer");
  ALLIANCE_RETURN_IF_ERROR(AddExtension(c, ca, NID_basic_constraints, "critical,CA:FALSE"));
  ALLIANCE_RETURN_IF_ERROR(
      AddExtension(c, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  ALLIANCE_RETURN_IF_ERROR(AddExtension(c, ca, NID_ext_key_usage, "serverAuth"));
  ALLIANCE_RETURN_IF_ERROR(AddExtension(c, ca, NID_subject_key_identifier, "hash"));
  ALLIANCE_RETURN_IF_ERROR(AddExtension(c, ca, NID_authority_key_identifier, "keyid:always"));
  ALLIANCE_RETURN_IF_ERROR(AddExtension(c, ca, NID_subject_alt_name, san));
  if (X509_sign(c, ca_key, EVP_sha256()) == 0) return OpenSslError("sign the certificate");
  const fs::path dir(o.out_dir);
  // Key first: a relay reloading between the two renames finds a mismatched pair and keeps
  // serving the old one (it checks the pair); a second SIGHUP picks up both.
  ALLIANCE_RETURN_IF_ERROR(WriteKey(dir / kServerKeyFile, key.get()));
  return WriteCert(dir / kServerCertFile, c);
}

}  // namespace

absl::Status CreateClinicCa(const TlsInitOptions& o) {
  ALLIANCE_RETURN_IF_ERROR(ValidateHost(o.host));
  if (o.out_dir.empty()) return absl::InvalidArgumentError("give --out DIR");
  const fs::path dir(o.out_dir);
  std::error_code ec;
  for (const char* name : {kCaCertFile, kCaKeyFile, kServerCertFile, kServerKeyFile}) {
    if (fs::exists(dir / name, ec)) {
      return absl::AlreadyExistsError(absl::StrCat((dir / name).string(),
                                                   " already exists; use `tls renew` to issue a "
                                                   "new server certificate from this CA"));
    }
  }
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", o.out_dir, ": ", ec.message()));
  fs::permissions(dir, fs::perms::owner_all, ec);
  KeyPtr ca_key(EVP_EC_gen("P-256"));
  if (ca_key == nullptr) return OpenSslError("generate a key");
  const absl::Time from = NotBefore(o);
  ALLIANCE_ASSIGN_OR_RETURN(X509Ptr ca, NewCertificate(ca_key.get(),
                                                       absl::StrCat("Alliance clinic CA ", o.host),
                                                       from, from + o.ca_validity));
  X509* c = ca.get();
  if (X509_set_issuer_name(c, X509_get_subject_name(c)) != 1) return OpenSslError("set issuer");
  ALLIANCE_RETURN_IF_ERROR(AddExtension(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  ALLIANCE_RETURN_IF_ERROR(AddExtension(c, c, NID_key_usage, "critical,keyCertSign,cRLSign"));
  ALLIANCE_RETURN_IF_ERROR(AddExtension(c, c, NID_subject_key_identifier, "hash"));
  if (X509_sign(c, ca_key.get(), EVP_sha256()) == 0) return OpenSslError("sign the CA");
  ALLIANCE_RETURN_IF_ERROR(WriteKey(dir / kCaKeyFile, ca_key.get()));
  ALLIANCE_RETURN_IF_ERROR(WriteCert(dir / kCaCertFile, c));
  return IssueServer(o, c, ca_key.get());
}

absl::Status RenewServerCertificate(const TlsInitOptions& o) {
  ALLIANCE_RETURN_IF_ERROR(ValidateHost(o.host));
  const fs::path dir(o.out_dir);
  BioPtr ca_in(BIO_new_file((dir / kCaCertFile).c_str(), "r"));
  BioPtr key_in(BIO_new_file((dir / kCaKeyFile).c_str(), "r"));
  if (ca_in == nullptr || key_in == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no CA in ", o.out_dir, " (need ", kCaCertFile, " and ", kCaKeyFile, ")"));
  }
  X509Ptr ca(PEM_read_bio_X509(ca_in.get(), nullptr, nullptr, nullptr));
  KeyPtr ca_key(PEM_read_bio_PrivateKey(key_in.get(), nullptr, nullptr, nullptr));
  if (ca == nullptr || ca_key == nullptr || X509_check_private_key(ca.get(), ca_key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(kCaCertFile, " and ", kCaKeyFile, " in ", o.out_dir, " are not a CA pair"));
  }
  return IssueServer(o, ca.get(), ca_key.get());
}

}  // namespace alliance::server

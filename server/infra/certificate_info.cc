#include "server/infra/certificate_info.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace alliance::server {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

absl::StatusOr<std::unique_ptr<BIO, BioFree>> OpenFile(const std::string& path) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return bio;
}

absl::Time ToTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

std::string Hex(const unsigned char* data, size_t size) {
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(data), size));
}

CertificateInfo Describe(X509* cert) {
  CertificateInfo info;
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  info.serial_hex = Hex(serial->data, static_cast<size_t>(serial->length));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  X509_digest(cert, EVP_sha256(), digest, &digest_size);
  info.sha256_fingerprint = Hex(digest, digest_size);
  char subject[256] = {0};
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
  info.subject = subject[0] == '/' ? subject + 1 : subject;
  info.not_before = ToTime(X509_get0_notBefore(cert));
  info.not_after = ToTime(X509_get0_notAfter(cert));
  return info;
}

absl::StatusOr<std::unique_ptr<X509, X509Free>> ReadCert(const std::string& path) {
  auto bio = OpenFile(path);
  if (!bio.ok()) return bio.status();
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, " holds no PEM certificate"));
  }
  return cert;
}

}  // namespace

absl::StatusOr<CertificateInfo> InspectCertificate(const std::string& cert_file) {
  auto cert = ReadCert(cert_file);
  if (!cert.ok()) return cert.status();
  return Describe(cert->get());
}

absl::StatusOr<CertificateInfo> InspectKeyPair(const std::string& cert_file,
                                               const std::string& key_file) {
  auto cert = ReadCert(cert_file);
  if (!cert.ok()) return cert.status();
  auto bio = OpenFile(key_file);
  if (!bio.ok()) return bio.status();
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(key_file, " holds no PEM private key"));
  }
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the key in ", key_file, " does not belong to the certificate in ", cert_file));
  }
  return Describe(cert->get());
}

}  // namespace alliance::server

#include "crypto/secret.h"

#include <cstring>

#include "absl/status/status.h"

namespace alliance::crypto {

absl::StatusOr<SecretBytes> SecretBytes::Allocate(size_t size) {
  if (size == 0) return SecretBytes();
  void* p = sodium_malloc(size);
  if (p == nullptr) return absl::ResourceExhaustedError("secure memory allocation failed");
  sodium_memzero(p, size);
  return SecretBytes(static_cast<uint8_t*>(p), size);
}

absl::StatusOr<SecretBytes> SecretBytes::Copy(ByteSpan bytes) {
  absl::StatusOr<SecretBytes> out = Allocate(bytes.size());
  if (out.ok() && !bytes.empty()) std::memcpy(out->data(), bytes.data(), bytes.size());
  return out;
}

absl::StatusOr<SecretBytes> SecretBytes::Random(size_t size) {
  absl::StatusOr<SecretBytes> out = Allocate(size);
  if (out.ok() && size > 0) randombytes_buf(out->data(), size);
  return out;
}

void SecretBytes::Reset() {
  if (data_ != nullptr) sodium_free(data_);  // sodium_free wipes before releasing.
  data_ = nullptr;
  size_ = 0;
}

}  // namespace alliance::crypto

// Attachment encryption: crypto_secretstream_xchacha20poly1305 under a fresh random key, in
// chunks of wire::kAttachmentChunkSize (docs/attachments.md). The last chunk carries the final
// tag, so a stream cut short, reordered, spliced from another file or opened with another key
// fails; callers also check the ciphertext's BLAKE2b-256 hash (sent end to end).
//
//   ALLIANCE_ASSIGN_OR_RETURN(AttachmentSealer sealer, AttachmentSealer::Create());
//   out.append(sealer.header());
//   ALLIANCE_ASSIGN_OR_RETURN(std::string c, sealer.Seal(chunk, /*final=*/last));
//
//   ALLIANCE_ASSIGN_OR_RETURN(AttachmentOpener opener, AttachmentOpener::Create(key, header));
//   ALLIANCE_ASSIGN_OR_RETURN(bool final, opener.Open(cipher_chunk, &plain));
//
// Keys and the stream state live in sodium_malloc'd memory. Thread safety: none.
#ifndef ALLIANCE_CRYPTO_ATTACHMENT_H_
#define ALLIANCE_CRYPTO_ATTACHMENT_H_

#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "crypto/secret.h"

namespace alliance::crypto {

// BLAKE2b-256, fed piece by piece (the ciphertext hash an attachment carries).
class StreamHash {
 public:
  StreamHash();
  void Update(ByteSpan bytes);
  std::array<uint8_t, 32> Final();

 private:
  crypto_generichash_state state_;
};

class AttachmentSealer {
 public:
  // A sealer with a fresh random key. RESOURCE_EXHAUSTED when secure memory runs out.
  [[nodiscard]] static absl::StatusOr<AttachmentSealer> Create();

  const SecretBytes& key() const { return key_; }
  // The 24-byte stream header (first in the ciphertext).
  const std::string& header() const { return header_; }
  // Encrypts the next chunk (at most wire::kAttachmentChunkSize bytes; `final` on the last).
  // INVALID_ARGUMENT for an oversized chunk or a chunk after the final one.
  [[nodiscard]] absl::StatusOr<std::string> Seal(ByteSpan plain, bool final);

 private:
  AttachmentSealer() = default;
  SecretBytes key_;
  SecretBytes state_;  // crypto_secretstream_xchacha20poly1305_state
  std::string header_;
  bool finished_ = false;
};

class AttachmentOpener {
 public:
  // INVALID_ARGUMENT for a key or header of the wrong size, or a header the key rejects.
  [[nodiscard]] static absl::StatusOr<AttachmentOpener> Create(ByteSpan key, ByteSpan header);

  // Decrypts the next chunk into `plain` (resized; secure memory of at least the chunk size).
  // Returns whether it was the final chunk. DATA_LOSS when it does not authenticate (altered,
  // out of order, wrong key) or comes after the final chunk.
  [[nodiscard]] absl::StatusOr<bool> Open(ByteSpan cipher, SecretBytes* plain, size_t* plain_size);

 private:
  AttachmentOpener() = default;
  SecretBytes state_;
  bool finished_ = false;
};

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_ATTACHMENT_H_

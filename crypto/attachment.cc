#include "crypto/attachment.h"

#include "base/status_macros.h"
#include "wire/protocol.h"

namespace alliance::crypto {

static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == wire::kAttachmentKeySize);
static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == wire::kAttachmentHeaderSize);
static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == wire::kAttachmentChunkOverhead);

namespace {
using State = crypto_secretstream_xchacha20poly1305_state;
State* AsState(SecretBytes& bytes) { return reinterpret_cast<State*>(bytes.data()); }
}  // namespace

StreamHash::StreamHash() { crypto_generichash_init(&state_, nullptr, 0, 32); }

void StreamHash::Update(ByteSpan bytes) {
  crypto_generichash_update(&state_, bytes.data(), bytes.size());
}

std::array<uint8_t, 32> StreamHash::Final() {
  std::array<uint8_t, 32> out{};
  crypto_generichash_final(&state_, out.data(), out.size());
  return out;
}

absl::StatusOr<AttachmentSealer> AttachmentSealer::Create() {
  AttachmentSealer s;
  ALLIANCE_ASSIGN_OR_RETURN(s.key_, SecretBytes::Allocate(wire::kAttachmentKeySize));
  crypto_secretstream_xchacha20poly1305_keygen(s.key_.data());
  ALLIANCE_ASSIGN_OR_RETURN(s.state_, SecretBytes::Allocate(sizeof(State)));
  s.header_.resize(wire::kAttachmentHeaderSize);
  crypto_secretstream_xchacha20poly1305_init_push(
      AsState(s.state_), reinterpret_cast<unsigned char*>(s.header_.data()), s.key_.data());
  return s;
}

absl::StatusOr<std::string> AttachmentSealer::Seal(ByteSpan plain, bool final) {
  if (plain.size() > wire::kAttachmentChunkSize) {
    return absl::InvalidArgumentError("attachment chunk too large");
  }
  if (finished_) return absl::InvalidArgumentError("attachment stream already finished");
  std::string out(plain.size() + wire::kAttachmentChunkOverhead, '\0');
  crypto_secretstream_xchacha20poly1305_push(
      AsState(state_), reinterpret_cast<unsigned char*>(out.data()), nullptr, plain.data(),
      plain.size(), nullptr, 0,
      final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
            : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  finished_ = final;
  return out;
}

absl::StatusOr<AttachmentOpener> AttachmentOpener::Create(ByteSpan key, ByteSpan header) {
  if (key.size() != wire::kAttachmentKeySize || header.size() != wire::kAttachmentHeaderSize) {
    return absl::InvalidArgumentError("malformed attachment key or header");
  }
  AttachmentOpener o;
  ALLIANCE_ASSIGN_OR_RETURN(o.state_, SecretBytes::Allocate(sizeof(State)));
  if (crypto_secretstream_xchacha20poly1305_init_pull(AsState(o.state_), header.data(),
                                                      key.data()) != 0) {
    return absl::InvalidArgumentError("malformed attachment header");
  }
  return o;
}

absl::StatusOr<bool> AttachmentOpener::Open(ByteSpan cipher, SecretBytes* plain,
                                            size_t* plain_size) {
  if (finished_ || cipher.size() < wire::kAttachmentChunkOverhead ||
      cipher.size() > wire::kAttachmentChunkSize + wire::kAttachmentChunkOverhead) {
    return absl::DataLossError("attachment is damaged");
  }
  if (plain->size() < wire::kAttachmentChunkSize) {
    ALLIANCE_ASSIGN_OR_RETURN(*plain, SecretBytes::Allocate(wire::kAttachmentChunkSize));
  }
  unsigned long long n = 0;
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(AsState(state_), plain->data(), &n, &tag,
                                                 cipher.data(), cipher.size(), nullptr,
                                                 0) != 0) {
    return absl::DataLossError("attachment is damaged");
  }
  *plain_size = static_cast<size_t>(n);
  finished_ = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  return finished_;
}

}  // namespace alliance::crypto

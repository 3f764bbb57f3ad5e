// Every protocol constant of Alliance v1 in one place (DESIGN appendix), used by the relay,
// the client and crypto/ alike, so that no size or domain tag is written twice.
//
//   if (request.account_id().size() != wire::kAccountIdSize) return InvalidArgument(...);
//   std::string signed_bytes = wire::LoginMessage(relay_id, nonce, expires_at);
//
// Domain tags are ASCII without terminator; every integer is big-endian. The builders of the
// signed strings are in signed_strings.h. Header-only constants; no libsodium, no gRPC.
#ifndef ALLIANCE_WIRE_PROTOCOL_H_
#define ALLIANCE_WIRE_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace alliance::wire {

// Format version of relay envelopes and of end-to-end content.
inline constexpr uint32_t kEnvelopeVersion = 1;

// Sizes, bytes.
inline constexpr size_t kAccountIdSize = 16;
inline constexpr size_t kRelayIdSize = 16;
inline constexpr size_t kMessageIdSize = 16;
inline constexpr size_t kInviteCodeSize = 16;
inline constexpr size_t kNonceSize = 32;
inline constexpr size_t kTokenSize = 32;
inline constexpr size_t kHashSize = 32;  // BLAKE2b-256: invite ids, token hashes, audit chain
inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;
inline constexpr size_t kX25519PublicKeySize = 32;
// The first device of an account; linking more devices adds ids, never changes this one.
inline constexpr uint32_t kFirstDeviceId = 1;
// Most devices a signed device list may name (a hard format limit; a relay's configured limit,
// 5 by default, must not exceed it).
inline constexpr size_t kMaxDevicesPerAccount = 16;
// A link code (the new device's ephemeral X25519 public key) and the relay's slot for it
// expire after this long, and work once.
inline constexpr int64_t kLinkCodeTtlSeconds = 600;

// Attachments (docs/attachments.md). A file is encrypted with crypto_secretstream_xchacha20poly1305
// under a fresh key: a 24-byte header, then the plaintext in chunks of kAttachmentChunkSize
// (the last one, tagged final, holds the rest: 0 bytes only for an empty file), each growing
// by 17 bytes.
inline constexpr size_t kBlobIdSize = 16;
inline constexpr size_t kAttachmentKeySize = 32;
inline constexpr size_t kAttachmentHeaderSize = 24;
inline constexpr size_t kAttachmentChunkSize = 64 * 1024;
inline constexpr size_t kAttachmentChunkOverhead = 17;
// Attachments one message may carry, recipient accounts one blob may name, and the largest
// thumbnail (bytes) an attachment may carry.
inline constexpr size_t kMaxAttachmentsPerMessage = 8;
inline constexpr size_t kMaxBlobRecipients = 8;
inline constexpr size_t kMaxThumbnailSize = 24 * 1024;
inline constexpr size_t kMaxAttachmentNameSize = 255;
// The largest attachment any relay may be configured to take (file bytes): a client refuses a
// message declaring more before fetching anything.
inline constexpr uint64_t kMaxAttachmentSize = uint64_t{4} << 30;
inline constexpr size_t kMaxMediaTypeSize = 127;

// Ciphertext bytes of a `plain_size`-byte file.
constexpr uint64_t AttachmentCipherSize(uint64_t plain_size) {
  const uint64_t chunks =
      plain_size == 0 ? 1 : (plain_size + kAttachmentChunkSize - 1) / kAttachmentChunkSize;
  return kAttachmentHeaderSize + plain_size + chunks * kAttachmentChunkOverhead;
}

// Domain tags of signed strings.
inline constexpr std::string_view kLoginDomain = "alliance/v1/login";
inline constexpr std::string_view kRegisterDomain = "alliance/v1/register";
inline constexpr std::string_view kSignedPreKeyDomain = "alliance/v1/spk";
// Several devices: the identity key signs the device list; each device's own key signs its
// signed prekeys and its logins.
inline constexpr std::string_view kDeviceListDomain = "alliance/v1/devices";
inline constexpr std::string_view kDeviceSignedPreKeyDomain = "alliance/v1/device-spk";
inline constexpr std::string_view kDeviceLoginDomain = "alliance/v1/device-login";
// Signed documents: kDocumentDomainPrefix || kind, e.g. "alliance/v1/doc/agreement".
inline constexpr std::string_view kDocumentDomainPrefix = "alliance/v1/doc/";
inline constexpr std::string_view kAgreementDocument = "agreement";
inline constexpr std::string_view kGoalDocument = "goal";
inline constexpr std::string_view kOutOfOfficeDocument = "ooo";
// The relay's stateless login challenge MAC (relay-internal, listed so no tag is reused).
inline constexpr std::string_view kChallengeDomain = "alliance/v1/challenge";

// HKDF info strings and associated-data prefixes of crypto/.
inline constexpr std::string_view kX3dhInfo = "alliance/v1/x3dh";
inline constexpr std::string_view kRatchetInfo = "alliance/v1/ratchet";
inline constexpr std::string_view kMessageInfo = "alliance/v1/message";
inline constexpr std::string_view kMessageAdDomain = "alliance/v1/ad";
inline constexpr std::string_view kStoreNamesInfo = "alliance/v1/names";
inline constexpr std::string_view kStoreKeyWrapAd = "alliance/v1/store-key";
// Linking a device: the relay's slot id is BLAKE2b-256(kLinkIdDomain || code) so the relay never
// learns the code; the provisioning message is sealed under HKDF(..., kLinkInfo || ...).
inline constexpr std::string_view kLinkIdDomain = "alliance/v1/link-id";
inline constexpr std::string_view kLinkInfo = "alliance/v1/link";

}  // namespace alliance::wire

#endif  // ALLIANCE_WIRE_PROTOCOL_H_

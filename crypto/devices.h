// Several devices per account (DESIGN §4, "Several devices"): the device list the account's
// identity key signs, and the sealed provisioning message that carries an account to a device
// being linked.
//
// Trust rule: a device exists for others only if the identity key they pinned signed a list
// naming it (device id and the device's own Ed25519 key). The relay stores and serves that list
// but cannot forge it, so it can withhold a device and never add one. Each device's own key
// signs its logins and signed prekeys (wire/signed_strings.h), which name account and device.
//
//   ALLIANCE_RETURN_IF_ERROR(SignDeviceList(identity, relay_id, account_id, &list));
//   ALLIANCE_ASSIGN_OR_RETURN(VerifiedDeviceList devices,
//                             VerifyDeviceList(list, pinned_identity, relay_id, account_id));
//
// Linking: the new device makes an X25519 key pair whose public half is the link code the
// person carries to a device already linked. That device seals the account to the code
// (SealProvision); the relay, which sees only LinkIdOf(code), passes the sealed bytes on; the
// new device opens them (OpenProvision). The relay never learns the code, so it can neither
// read the message nor seal one of its own to the new device.
//
// Thread safety: pure functions.
#ifndef ALLIANCE_CRYPTO_DEVICES_H_
#define ALLIANCE_CRYPTO_DEVICES_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "alliance/v1/devices.pb.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/secret.h"

namespace alliance::crypto {

// One device of a verified list.
struct VerifiedDevice {
  uint32_t device_id = 0;
  PublicKey device_key{};  // Ed25519
  uint64_t added_at = 0;   // Unix seconds
};

// A device list whose shape and identity-key signature have been checked.
struct VerifiedDeviceList {
  uint64_t version = 0;
  std::vector<VerifiedDevice> devices;  // ascending device ids

  // The device with `device_id`, or nullptr.
  const VerifiedDevice* Find(uint32_t device_id) const;
};

// Checks the shape of a list without its signature: version >= 1; 1 to
// wire::kMaxDevicesPerAccount entries; device ids non-zero and strictly ascending; every device
// key 32 bytes and distinct. INVALID_ARGUMENT (one fixed message) otherwise.
[[nodiscard]] absl::Status CheckDeviceListShape(const v1::SignedDeviceList& list);

// Signs `list` (its version and devices; `signature` is overwritten) with the account's
// identity key, over wire::DeviceListMessage. INVALID_ARGUMENT if the shape is wrong or the ids
// are not 16 bytes each.
[[nodiscard]] absl::Status SignDeviceList(const IdentityKeyPair& identity, ByteSpan relay_id,
                                          ByteSpan account_id, v1::SignedDeviceList* list);

// Verifies a list received for the account `account_id` on relay `relay_id` against the
// identity key pinned for that account: shape first, then the signature, then the version
// against `min_version` (the highest the caller has pinned: a relay must not roll a list back
// to one that still names a removed device). INVALID_ARGUMENT for a malformed list or one that
// names the identity key as a device key (every device, a removed one too, holds the identity
// key); PERMISSION_DENIED for a signature by any other key or over other bytes;
// FAILED_PRECONDITION for a version below `min_version`.
[[nodiscard]] absl::StatusOr<VerifiedDeviceList> VerifyDeviceList(
    const v1::SignedDeviceList& list, const PublicKey& identity, ByteSpan relay_id,
    ByteSpan account_id, uint64_t min_version = 0);

// The relay's name for a link code: BLAKE2b-256(wire::kLinkIdDomain || code).
using LinkId = std::array<uint8_t, 32>;
LinkId LinkIdOf(const PublicKey& code);

// Largest provisioning plaintext SealProvision takes (an account's keys, profile and contacts).
inline constexpr size_t kMaxProvisionPlaintext = 64 * 1024;

// Seals `plaintext` to the link code: 0x01 || approver ephemeral X25519 public key (32) ||
// XChaCha20-Poly1305(key, nonce, AD = kLinkInfo || LinkIdOf(code), padded plaintext), with
// key || nonce = HKDF-SHA256(zero salt, X25519(ephemeral, code), kLinkInfo || ephemeral || code).
// A fresh ephemeral per call. INVALID_ARGUMENT for a low-order code or an oversize plaintext.
[[nodiscard]] absl::StatusOr<std::string> SealProvision(const PublicKey& code, ByteSpan plaintext,
                                                        Random& rng);

// Opens a sealed provisioning message with the code's key pair. The plaintext is returned in
// secure memory (it holds the account's identity key). PERMISSION_DENIED (one fixed message)
// for anything that does not open: wrong code, altered or truncated bytes, another version.
[[nodiscard]] absl::StatusOr<SecretBytes> OpenProvision(const DhKeyPair& code_pair,
                                                        ByteSpan sealed);

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_DEVICES_H_

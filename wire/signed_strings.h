// The exact byte strings Alliance signs (DESIGN appendix), built in one place for the signer
// (client, crypto/) and the verifier (relay, client), so the two can never drift apart.
//
//   std::string m = wire::SignedPreKeyMessage(id, created_at, public_key);
//   bool ok = VerifyEd25519(identity_key, m, signature);
//
// Inputs are taken as given (sizes are the caller's to check first; see protocol.h). Pure
// functions; thread-safe. tests/wire/signed_strings_test.cc pins every layout byte for byte.
#ifndef ALLIANCE_WIRE_SIGNED_STRINGS_H_
#define ALLIANCE_WIRE_SIGNED_STRINGS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace alliance::wire {

// "alliance/v1/login" || relay id (16) || nonce (32) || expires_at u64.
std::string LoginMessage(std::string_view relay_id, std::string_view nonce, uint64_t expires_at);

// "alliance/v1/register" || relay id (16) || invite code (16) || identity key (32).
std::string RegisterMessage(std::string_view relay_id, std::string_view invite_code,
                            std::string_view identity_key);

// "alliance/v1/spk" || spk id u32 || created_at u64 (Unix s) || spk public key (32).
std::string SignedPreKeyMessage(uint32_t id, uint64_t created_at, std::string_view public_key);

// One entry of a device list as signed (see DeviceListMessage).
struct DeviceListEntry {
  uint32_t device_id = 0;
  std::string_view device_key;  // Ed25519 public key (32)
  uint64_t added_at = 0;        // Unix seconds
};

// The entries of a device list message (alliance.v1.SignedDeviceList's `devices`, or anything
// with device_id(), device_key() and added_at()), viewing its strings: valid while they are.
template <typename Devices>
std::vector<DeviceListEntry> DeviceListEntries(const Devices& devices) {
  std::vector<DeviceListEntry> entries;
  for (const auto& d : devices) entries.push_back({d.device_id(), d.device_key(), d.added_at()});
  return entries;
}

// Whether a device list has the one shape a signature may cover: version >= 1; 1 to
// kMaxDevicesPerAccount entries; device ids non-zero and strictly ascending; every device key
// kEd25519PublicKeySize bytes and distinct. Verifiers check this before the signature.
bool IsCanonicalDeviceList(uint64_t version, const std::vector<DeviceListEntry>& entries);

// "alliance/v1/devices" || relay id (16) || account id (16) || version u64 || count u8 ||
// count × (device id u32 || device key (32) || added_at u64). Signed by the identity key.
// REQUIRES: entries.size() <= 255 (kMaxDevicesPerAccount is far below).
std::string DeviceListMessage(std::string_view relay_id, std::string_view account_id,
                              uint64_t version, const std::vector<DeviceListEntry>& entries);

// "alliance/v1/device-spk" || account id (16) || device id u32 || spk id u32 || created_at u64 ||
// spk public key (32). Signed by the device's own key, so a signed prekey cannot be moved to
// another device or account.
std::string DeviceSignedPreKeyMessage(std::string_view account_id, uint32_t device_id,
                                      uint32_t spk_id, uint64_t created_at,
                                      std::string_view public_key);

// "alliance/v1/device-login" || relay id (16) || account id (16) || device id u32 ||
// nonce (32) || expires_at u64. Signed by the device's own key.
std::string DeviceLoginMessage(std::string_view relay_id, std::string_view account_id,
                               uint32_t device_id, std::string_view nonce, uint64_t expires_at);

// "alliance/v1/doc/" || kind || document bytes (kind: kAgreementDocument, kGoalDocument,
// kOutOfOfficeDocument).
std::string DocumentMessage(std::string_view kind, std::string_view document);

}  // namespace alliance::wire

#endif  // ALLIANCE_WIRE_SIGNED_STRINGS_H_

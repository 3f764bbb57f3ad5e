#include "wire/signed_strings.h"

#include "base/bytes.h"
#include "wire/protocol.h"

namespace alliance::wire {

std::string LoginMessage(std::string_view relay_id, std::string_view nonce, uint64_t expires_at) {
  std::string m = base::Concat({kLoginDomain, relay_id, nonce});
  base::AppendU64BE(&m, expires_at);
  return m;
}

std::string RegisterMessage(std::string_view relay_id, std::string_view invite_code,
                            std::string_view identity_key) {
  return base::Concat({kRegisterDomain, relay_id, invite_code, identity_key});
}

std::string SignedPreKeyMessage(uint32_t id, uint64_t created_at, std::string_view public_key) {
  std::string m(kSignedPreKeyDomain);
  base::AppendU32BE(&m, id);
  base::AppendU64BE(&m, created_at);
  m.append(public_key);
  return m;
}

bool IsCanonicalDeviceList(uint64_t version, const std::vector<DeviceListEntry>& entries) {
  if (version == 0 || entries.empty() || entries.size() > kMaxDevicesPerAccount) return false;
  uint32_t previous = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const DeviceListEntry& e = entries[i];
    if (e.device_id == 0 || e.device_id <= previous ||
        e.device_key.size() != kEd25519PublicKeySize) {
      return false;
    }
    for (size_t j = 0; j < i; ++j) {
      if (entries[j].device_key == e.device_key) return false;
    }
    previous = e.device_id;
  }
  return true;
}

std::string DeviceListMessage(std::string_view relay_id, std::string_view account_id,
                              uint64_t version, const std::vector<DeviceListEntry>& entries) {
  std::string m = base::Concat({kDeviceListDomain, relay_id, account_id});
  base::AppendU64BE(&m, version);
  m.push_back(static_cast<char>(static_cast<uint8_t>(entries.size())));
  for (const DeviceListEntry& e : entries) {
    base::AppendU32BE(&m, e.device_id);
    m.append(e.device_key);
    base::AppendU64BE(&m, e.added_at);
  }
  return m;
}

std::string DeviceSignedPreKeyMessage(std::string_view account_id, uint32_t device_id,
                                      uint32_t spk_id, uint64_t created_at,
                                      std::string_view public_key) {
  std::string m = base::Concat({kDeviceSignedPreKeyDomain, account_id});
  base::AppendU32BE(&m, device_id);
  base::AppendU32BE(&m, spk_id);
  base::AppendU64BE(&m, created_at);
  m.append(public_key);
  return m;
}

std::string DeviceLoginMessage(std::string_view relay_id, std::string_view account_id,
                               uint32_t device_id, std::string_view nonce, uint64_t expires_at) {
  std::string m = base::Concat({kDeviceLoginDomain, relay_id, account_id});
  base::AppendU32BE(&m, device_id);
  m.append(nonce);
  base::AppendU64BE(&m, expires_at);
  return m;
}

std::string DocumentMessage(std::string_view kind, std::string_view document) {
  return base::Concat({kDocumentDomainPrefix, kind, document});
}

}  // namespace alliance::wire

#include "server/store/devices.h"

#include <algorithm>

#include "wire/protocol.h"

namespace alliance::server {

std::vector<uint32_t> ActiveDeviceIds(const AccountRecord& account) {
  std::vector<uint32_t> ids;
  ids.reserve(account.devices_size());
  for (const DeviceRecord& d : account.devices()) ids.push_back(d.device_id());
  return ids;
}

bool HasDevice(const AccountRecord& account, uint32_t device_id) {
  if (device_id == 0) return false;
  for (const DeviceRecord& d : account.devices()) {
    if (d.device_id() == device_id) return true;
  }
  return false;
}

std::string DeviceKeyOf(const AccountRecord& account, uint32_t device_id) {
  for (const DeviceRecord& d : account.devices()) {
    if (d.device_id() == device_id) return d.device_key();
  }
  return std::string();
}

void AddFirstDevice(AccountRecord* account, uint64_t now_unix) {
  account->clear_devices();
  DeviceRecord* d = account->add_devices();
  d->set_device_id(wire::kFirstDeviceId);
  d->set_added_at(now_unix);
  account->set_next_device_id(wire::kFirstDeviceId + 1);
  account->clear_device_count();
}

bool UpgradeDevicesToSchema2(AccountRecord* account) {
  if (account->devices_size() > 0) return false;
  // Schema 1 only ever wrote 1; anything above the format's limit is not a real count.
  const uint32_t count =
      std::min<uint32_t>(account->device_count(), static_cast<uint32_t>(wire::kMaxDevicesPerAccount));
  for (uint32_t id = 1; id <= count; ++id) {
    DeviceRecord* d = account->add_devices();
    d->set_device_id(id);
    d->set_added_at(account->created_at());
  }
  account->set_next_device_id(count + 1);
  account->clear_device_count();
  return true;
}

}  // namespace alliance::server

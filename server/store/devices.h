// The devices of an account as the relay keeps them (AccountRecord.devices, schema 2).
//
//   for (uint32_t d : ActiveDeviceIds(account)) prekeys->AddErase(account_id, d, &batch);
//   if (!HasDevice(account, session.device_id())) return Unauthenticated();
//
// Every check of "is this a device of that account" goes through here, so removing a device
// takes effect everywhere at once. Pure functions over the record; thread-safe.
#ifndef ALLIANCE_SERVER_STORE_DEVICES_H_
#define ALLIANCE_SERVER_STORE_DEVICES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "server/relay_records.pb.h"

namespace alliance::server {

// The ids of the account's active devices, ascending.
std::vector<uint32_t> ActiveDeviceIds(const AccountRecord& account);

// Whether `device_id` is an active device of the account (never device 0).
bool HasDevice(const AccountRecord& account, uint32_t device_id);

// The device's own key, or empty (no key yet, or no such device).
std::string DeviceKeyOf(const AccountRecord& account, uint32_t device_id);

// Gives a new account its first device (wire::kFirstDeviceId, no device key yet), added now.
void AddFirstDevice(AccountRecord* account, uint64_t now_unix);

// Schema 1 -> 2: turns device_count into the device list (ids 1..device_count, added at the
// account's creation) and sets next_device_id. A record that already lists devices is left
// as it is. Returns whether it changed the record.
bool UpgradeDevicesToSchema2(AccountRecord* account);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_STORE_DEVICES_H_

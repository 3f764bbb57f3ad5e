// PreKeyStore: signed and one-time prekeys per device (DESIGN §4 "Prekeys", §5 Keys).
//
//   Publish  verifies the signed prekey against the owner device's key when it has one
//            (wire::DeviceSignedPreKeyMessage, which names account and device), else against
//            the identity key: Ed25519(IK, "alliance/v1/spk" || id u32 BE || created_at u64 BE ||
//            pub 32);
//            adds one-time prekeys within the per-request and per-device caps.
//   Fetch    returns the bundle and removes one one-time prekey in the same synced batch.
//            A per-device mutex makes "each one-time key handed out at most once" hold under
//            concurrent fetches.
//
// Thread-safe. Pointers passed in must outlive the object.
#ifndef ALLIANCE_SERVER_STORE_PREKEY_STORE_H_
#define ALLIANCE_SERVER_STORE_PREKEY_STORE_H_

#include <array>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/mutex.h"
#include "alliance/v1/keys_service.pb.h"
#include "server/infra/kv.h"
#include "server/infra/config.h"
#include "server/infra/db.h"
#include "server/infra/metrics.h"
#include "server/store/audit_log.h"

namespace alliance::server {

class PreKeyStore {
 public:
  PreKeyStore(RelayDb* db, AuditLog* audit, const Limits& limits, Metrics* metrics);

  // Stores the caller device's prekeys. `identity_key` is the caller's (from its account);
  // `device_key` the device's own key, empty while it has none.
  // Errors: INVALID_ARGUMENT (nothing to publish, sizes, duplicate ids, bad signature),
  // RESOURCE_EXHAUSTED (per-request or per-device cap), UNAUTHENTICATED (the device was removed
  // or its account closed, through any relay process, before the write).
  [[nodiscard]] absl::StatusOr<v1::PublishPreKeysResponse> Publish(
      const v1::Address& owner, std::string_view identity_key, std::string_view device_key,
      const v1::PublishPreKeysRequest& request);

  // Bundle of `address` (whose identity key is `identity_key`), consuming one one-time key.
  // Errors: FAILED_PRECONDITION (no signed prekey yet).
  [[nodiscard]] absl::StatusOr<v1::PreKeyBundle> Fetch(const v1::Address& address,
                                                       std::string_view identity_key);

  // What `address` has published.
  [[nodiscard]] absl::StatusOr<v1::GetPreKeyStatusResponse> Status(const v1::Address& address);

  // Adds to `batch` the deletion of all prekeys of the devices `device_ids` of `account_id`.
  void AddErase(std::string_view account_id, absl::Span<const uint32_t> device_ids,
                KvBatch* batch);

 private:
  base::Mutex& DeviceMutex(std::string_view device_key);
  absl::StatusOr<v1::PublishPreKeysResponse> PublishOnce(const std::string& device,
                                                         const v1::Address& owner,
                                                         std::string_view device_key,
                                                         const v1::PublishPreKeysRequest& request);
  absl::StatusOr<v1::PreKeyBundle> FetchOnce(const std::string& device, const v1::Address& address,
                                             std::string_view identity_key);

  RelayDb* const db_;
  AuditLog* const audit_;
  const Limits limits_;
  Metrics* const metrics_;
  std::array<base::Mutex, 64> device_mu_;  // striped by device key
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_STORE_PREKEY_STORE_H_

#include "server/store/prekey_store.h"

#include <memory>
#include <set>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"
#include "server/relay_records.pb.h"
#include "server/store/devices.h"
#include "wire/signed_strings.h"

namespace alliance::server {
namespace {

// account (16) || device u32
std::string DeviceKey(std::string_view account, uint32_t device) {
  std::string key(account);
  base::AppendU32BE(&key, device);
  return key;
}

std::string KeysRecordKey(std::string_view device_key) { return base::Concat({"s", device_key}); }

std::string OneTimeKey(std::string_view device_key, uint32_t id) {
  std::string key(device_key);
  base::AppendU32BE(&key, id);
  return key;
}

// A device without a device key: the identity key over the v1 string; with one: the device key
// over the string that names account and device.
absl::Status CheckSignedPreKey(const v1::SignedPreKey& spk, const v1::Address& owner,
                               std::string_view identity_key, std::string_view device_key) {
  if (spk.public_key().size() != kX25519PublicKeySize ||
      spk.signature().size() != kEd25519SignatureSize) {
    return absl::InvalidArgumentError("malformed signed prekey");
  }
  const bool by_device = !device_key.empty();
  std::string message =
      by_device ? wire::DeviceSignedPreKeyMessage(owner.account_id(), owner.device_id(), spk.id(),
                                                  spk.created_at(), spk.public_key())
                : wire::SignedPreKeyMessage(spk.id(), spk.created_at(), spk.public_key());
  if (!VerifyEd25519(by_device ? device_key : identity_key, message, spk.signature())) {
    return absl::InvalidArgumentError("signed prekey signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace

PreKeyStore::PreKeyStore(RelayDb* db, AuditLog* audit, const Limits& limits, Metrics* metrics)
    : db_(db), audit_(audit), limits_(limits), metrics_(metrics) {}

base::Mutex& PreKeyStore::DeviceMutex(std::string_view device_key) {
  return device_mu_[std::hash<std::string_view>()(device_key) % device_mu_.size()];
}

absl::StatusOr<v1::PublishPreKeysResponse> PreKeyStore::Publish(
    const v1::Address& owner, std::string_view identity_key, std::string_view device_key,
    const v1::PublishPreKeysRequest& request) {
  // Bounds and shape first, then signatures, then storage.
  if (static_cast<uint32_t>(request.one_time_prekeys_size()) >
      limits_.max_one_time_prekeys_per_request) {
    return absl::ResourceExhaustedError("too many one-time prekeys in one request");
  }
  if (!request.has_signed_prekey() && request.one_time_prekeys_size() == 0) {
    return absl::InvalidArgumentError("nothing to publish");
  }
  std::set<uint32_t> ids;
  for (const v1::OneTimePreKey& k : request.one_time_prekeys()) {
    if (k.public_key().size() != kX25519PublicKeySize) {
      return absl::InvalidArgumentError("malformed one-time prekey");
    }
    if (!ids.insert(k.id()).second) return absl::InvalidArgumentError("duplicate prekey id");
  }
  if (request.has_signed_prekey()) {
    ALLIANCE_RETURN_IF_ERROR(
        CheckSignedPreKey(request.signed_prekey(), owner, identity_key, device_key));
  }

  std::string device = DeviceKey(owner.account_id(), owner.device_id());
  base::MutexLock lock(&DeviceMutex(device));
  // The count is read, then written: retried if a fetch through another relay process changed
  // it in between.
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<v1::PublishPreKeysResponse> published =
        PublishOnce(device, owner, device_key, request);
    if (published.ok() || !IsWriteConflict(published.status()) || attempt == 31) return published;
  }
}

absl::StatusOr<v1::PublishPreKeysResponse> PreKeyStore::PublishOnce(
    const std::string& device, const v1::Address& owner, std::string_view device_key,
    const v1::PublishPreKeysRequest& request) {
  // The device's account as read, expected unchanged at the write: a device removed or an
  // account closed meanwhile (through any relay process) gets no prekeys back.
  ALLIANCE_ASSIGN_OR_RETURN(auto account_raw, db_->Get(Cf::kAccounts, owner.account_id()));
  AccountRecord account;
  if (!account_raw || !account.ParseFromString(*account_raw) ||
      account.state() != v1::ACCOUNT_STATE_ACTIVE || !HasDevice(account, owner.device_id())) {
    return absl::UnauthenticatedError("this device was removed or its account closed");
  }
  // The key the signed prekey was checked against is still the device's: a device that got
  // its own key meanwhile (its prekeys erased with that change) gets none signed by another.
  if (DeviceKeyOf(account, owner.device_id()) != device_key) {
    return absl::UnauthenticatedError("this device's key changed; log in again");
  }
  ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kIdentity, KeysRecordKey(device)));
  DeviceKeysRecord record;
  if (raw && !record.ParseFromString(*raw)) return absl::InternalError("prekeys unreadable");
  uint32_t added = 0;
  KvBatch batch;
  batch.Expect(Cf::kAccounts, owner.account_id(), account_raw);
  batch.Expect(Cf::kIdentity, KeysRecordKey(device), raw);
  for (const v1::OneTimePreKey& k : request.one_time_prekeys()) {
    std::string key = OneTimeKey(device, k.id());
    ALLIANCE_ASSIGN_OR_RETURN(auto existing, db_->Get(Cf::kOneTime, key));
    if (!existing) ++added;
    batch.Put(Cf::kOneTime, key, k.public_key());
  }
  if (record.one_time_count() + added > limits_.max_one_time_prekeys_per_device) {
    return absl::ResourceExhaustedError("too many one-time prekeys stored");
  }
  record.set_one_time_count(record.one_time_count() + added);
  if (request.has_signed_prekey()) *record.mutable_signed_prekey() = request.signed_prekey();
  batch.Put(Cf::kIdentity, KeysRecordKey(device), record.SerializeAsString());
  AuditLog::Event e;
  e.event = v1::AUDIT_EVENT_KEYS_PUBLISHED;
  e.actor = owner.account_id();
  e.count = static_cast<uint32_t>(request.one_time_prekeys_size());
  ALLIANCE_RETURN_IF_ERROR(audit_->Commit(&batch, e));
  v1::PublishPreKeysResponse response;
  response.set_one_time_prekey_count(record.one_time_count());
  return response;
}

absl::StatusOr<v1::PreKeyBundle> PreKeyStore::Fetch(const v1::Address& address,
                                                    std::string_view identity_key) {
  std::string device = DeviceKey(address.account_id(), address.device_id());
  base::MutexLock lock(&DeviceMutex(device));
  // Another relay process on the same database may hand out the same first key at the same
  // moment: the handout expects the key (and the count beside it) unchanged, so exactly one of
  // two such fetches gets it and the other takes the next one.
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<v1::PreKeyBundle> bundle = FetchOnce(device, address, identity_key);
    if (bundle.ok() || !IsWriteConflict(bundle.status()) || attempt == 31) return bundle;
  }
}

absl::StatusOr<v1::PreKeyBundle> PreKeyStore::FetchOnce(const std::string& device,
                                                        const v1::Address& address,
                                                        std::string_view identity_key) {
  ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kIdentity, KeysRecordKey(device)));
  DeviceKeysRecord record;
  if (!raw || !record.ParseFromString(*raw) || !record.has_signed_prekey()) {
    return absl::FailedPreconditionError("no prekeys published");
  }
  v1::PreKeyBundle bundle;
  bundle.set_identity_key(std::string(identity_key));
  *bundle.mutable_signed_prekey() = record.signed_prekey();
  bundle.set_account_id(address.account_id());
  bundle.set_device_id(address.device_id());

  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kOneTime);
  it->Seek(device);
  if (it->Valid() && it->key().starts_with(device) && it->key().size() == device.size() + 4) {
    v1::OneTimePreKey* otk = bundle.mutable_one_time_prekey();
    otk->set_id(base::ReadU32BE(it->key().data() + device.size()));
    otk->set_public_key(it->value().ToString());
    KvBatch batch;
    batch.Expect(Cf::kOneTime, it->key(), it->value().ToString());
    batch.Expect(Cf::kIdentity, KeysRecordKey(device), *raw);
    batch.Delete(Cf::kOneTime, it->key());
    record.set_one_time_count(record.one_time_count() > 0 ? record.one_time_count() - 1 : 0);
    batch.Put(Cf::kIdentity, KeysRecordKey(device), record.SerializeAsString());
    // Synced: a key handed out must never be handed out again, even after a crash.
    ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/true));
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  metrics_->prekeys_fetched.Increment();
  return bundle;
}

absl::StatusOr<v1::GetPreKeyStatusResponse> PreKeyStore::Status(const v1::Address& address) {
  std::string device = DeviceKey(address.account_id(), address.device_id());
  ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kIdentity, KeysRecordKey(device)));
  v1::GetPreKeyStatusResponse response;
  DeviceKeysRecord record;
  if (raw && record.ParseFromString(*raw)) {
    response.set_has_signed_prekey(record.has_signed_prekey());
    response.set_signed_prekey_id(record.signed_prekey().id());
    response.set_signed_prekey_created_at(record.signed_prekey().created_at());
    response.set_one_time_prekey_count(record.one_time_count());
  }
  return response;
}

void PreKeyStore::AddErase(std::string_view account_id, absl::Span<const uint32_t> device_ids,
                           KvBatch* batch) {
  for (uint32_t d : device_ids) {
    std::string device = DeviceKey(account_id, d);
    batch->Delete(Cf::kIdentity, KeysRecordKey(device));
    std::string end = device;
    end.append(4, '\xff');
    end.push_back('\xff');
    batch->DeleteRange(Cf::kOneTime, device, end);
  }
}

}  // namespace alliance::server

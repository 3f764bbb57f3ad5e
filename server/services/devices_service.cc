#include "server/services/devices_service.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"
#include "server/infra/db.h"
#include "server/store/devices.h"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::server {
namespace {

std::vector<wire::DeviceListEntry> Entries(const v1::SignedDeviceList& list) {
  return wire::DeviceListEntries(list.devices());
}

const DeviceRecord* FindDevice(const AccountRecord& account, uint32_t device_id) {
  for (const DeviceRecord& d : account.devices()) {
    if (d.device_id() == device_id) return &d;
  }
  return nullptr;
}

// Checks `list` against the account as stored and, if it holds, applies it: devices gain their
// keys, devices left out are removed (streams, mailboxes, prekeys) and the audit log records
// it, all in one synced batch. Returns the removed device ids.
absl::StatusOr<std::vector<uint32_t>> ApplyDeviceList(const ServiceDeps& deps,
                                                      const Caller& caller,
                                                      const v1::SignedDeviceList& list) {
  if (static_cast<size_t>(list.devices_size()) > wire::kMaxDevicesPerAccount ||
      !wire::IsCanonicalDeviceList(list.version(), Entries(list)) ||
      list.signature().size() != wire::kEd25519SignatureSize) {
    return absl::InvalidArgumentError("malformed device list");
  }
  base::MutexLock lock(&deps.directory->mutex());
  std::string read;
  ALLIANCE_ASSIGN_OR_RETURN(AccountRecord account,
                            deps.directory->GetAccount(caller.account_id, &read));
  if (account.state() != v1::ACCOUNT_STATE_ACTIVE) {
    return absl::UnauthenticatedError("account closed");
  }
  const std::string message = wire::DeviceListMessage(
      deps.directory->relay_id(), caller.account_id, list.version(), Entries(list));
  if (!VerifyEd25519(account.identity_key(), message, list.signature())) {
    return absl::InvalidArgumentError("device list is not signed by the account's identity key");
  }
  // Exactly one above the current version (1 for the first list): a list at a huge version
  // would leave no version for the owner's next list, making its devices unremovable.
  const uint64_t next = account.has_device_list() ? account.device_list().version() + 1 : 1;
  if (list.version() != next) {
    return absl::FailedPreconditionError(
        absl::StrCat("device list version must be ", next, ", not ", list.version()));
  }
  bool names_caller = false;
  for (const v1::DeviceEntry& e : list.devices()) {
    // Every device holds the identity key, a removed one too: it cannot double as a device key.
    if (e.device_key() == account.identity_key()) {
      return absl::InvalidArgumentError("a device key must not be the identity key");
    }
    const DeviceRecord* d = FindDevice(account, e.device_id());
    if (d == nullptr) {
      return absl::FailedPreconditionError(
          "device list names a device the account does not have (devices are added by linking)");
    }
    if (d->added_at() != e.added_at()) {
      return absl::FailedPreconditionError("device list changes the date a device was added");
    }
    if (!d->device_key().empty() && d->device_key() != e.device_key()) {
      return absl::FailedPreconditionError("device list changes a device's key");
    }
    if (d->device_key().empty() && e.device_id() != caller.device_id) {
      return absl::FailedPreconditionError(
          "a device without a key gets one only from a list it publishes itself");
    }
    names_caller = names_caller || e.device_id() == caller.device_id;
  }
  if (!names_caller) {
    return absl::FailedPreconditionError(
        "a device cannot remove itself; remove it from another device");
  }

  // A device given its key now: its prekeys were signed by the identity key, which a removed
  // device also holds; they go, and the device publishes device-signed ones.
  std::vector<uint32_t> newly_keyed;
  for (const v1::DeviceEntry& e : list.devices()) {
    if (FindDevice(account, e.device_id())->device_key().empty()) {
      newly_keyed.push_back(e.device_id());
    }
  }
  std::vector<uint32_t> removed;
  for (const DeviceRecord& d : account.devices()) {
    const bool kept = std::any_of(list.devices().begin(), list.devices().end(),
                                  [&](const v1::DeviceEntry& e) {
                                    return e.device_id() == d.device_id();
                                  });
    if (!kept) removed.push_back(d.device_id());
  }
  account.clear_devices();
  for (const v1::DeviceEntry& e : list.devices()) {
    DeviceRecord* d = account.add_devices();
    d->set_device_id(e.device_id());
    d->set_device_key(e.device_key());
    d->set_added_at(e.added_at());
  }
  *account.mutable_device_list() = list;
  account.mutable_device_list()->DiscardUnknownFields();

  KvBatch batch;
  deps.directory->AddPutAccount(account, read, &batch);
  deps.prekeys->AddErase(caller.account_id, removed, &batch);
  deps.prekeys->AddErase(caller.account_id, newly_keyed, &batch);
  ALLIANCE_RETURN_IF_ERROR(deps.mailbox->CloseAndErase(
      caller.account_id, removed, absl::UnauthenticatedError("device removed"), &batch));
  absl::Cleanup reopen = [&] { deps.mailbox->Reopen(caller.account_id, removed); };
  std::vector<AuditLog::Event> events;
  AuditLog::Event published;
  published.event = v1::AUDIT_EVENT_DEVICE_LIST_PUBLISHED;
  published.actor = caller.account_id;
  published.subject = caller.account_id;
  published.device_id = caller.device_id;
  published.count = static_cast<uint32_t>(list.devices_size());
  events.push_back(published);
  for (uint32_t id : removed) {
    AuditLog::Event e;
    e.event = v1::AUDIT_EVENT_DEVICE_REMOVED;
    e.actor = caller.account_id;
    e.subject = caller.account_id;
    e.device_id = id;
    events.push_back(e);
  }
  ALLIANCE_RETURN_IF_ERROR(deps.audit->Commit(&batch, events));
  std::move(reopen).Cancel();
  deps.logger->Info("device_list_published", {{"account", base::ToHex(caller.account_id)},
                                              {"devices", list.devices_size()},
                                              {"removed", static_cast<int>(removed.size())}});
  return removed;
}

constexpr uint64_t kLinkTtlSeconds = wire::kLinkCodeTtlSeconds;
constexpr size_t kMaxSealedProvision = 80 * 1024;
constexpr size_t kLinkIdSize = 32;

std::string LinkSlotKey(const std::string& link_id) { return "k" + link_id; }

// The open, unexpired slot `link_id`. NOT_FOUND otherwise (an expired one is the same as none).
absl::StatusOr<LinkSlotRecord> GetLinkSlot(const ServiceDeps& deps, const std::string& link_id,
                                           std::string* read = nullptr) {
  if (link_id.size() != kLinkIdSize) return absl::InvalidArgumentError("malformed link id");
  RelayDb* db = deps.directory->db();
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> raw,
                            db->Get(Cf::kSessions, LinkSlotKey(link_id)));
  LinkSlotRecord slot;
  if (!raw.has_value() || !slot.ParseFromString(*raw) ||
      slot.expires_at() <= static_cast<uint64_t>(deps.clock->NowUnixSeconds())) {
    return absl::NotFoundError("no such link code, or it expired (codes last 10 minutes)");
  }
  if (read != nullptr) *read = std::move(*raw);
  return slot;
}

}  // namespace

grpc::ServerUnaryReactor* DevicesService::StartLink(grpc::CallbackServerContext* ctx,
                                                    const v1::StartLinkRequest* request,
                                                    v1::StartLinkResponse* response) {
  UnaryCall call(deps_, ctx, "StartLink");
  if (request->link_id().size() != kLinkIdSize) {
    return call.Finish(absl::InvalidArgumentError("malformed link id"));
  }
  // No account yet: charged to the network address, like a login challenge.
  if (!deps_->publish_rate->TryAcquire("link/" + CallerAddress(*deps_, ctx))) {
    return call.Finish(absl::ResourceExhaustedError("too many link codes; retry later"));
  }
  base::MutexLock lock(&deps_->directory->mutex());
  RelayDb* db = deps_->directory->db();
  absl::StatusOr<std::optional<std::string>> existing =
      db->Get(Cf::kSessions, LinkSlotKey(request->link_id()));
  if (!existing.ok()) return call.Finish(existing.status());
  const uint64_t now = static_cast<uint64_t>(deps_->clock->NowUnixSeconds());
  LinkSlotRecord old;
  if (existing->has_value() && old.ParseFromString(**existing) && old.expires_at() > now) {
    return call.Finish(absl::AlreadyExistsError("this link code is already in use"));
  }
  LinkSlotRecord slot;
  slot.set_expires_at(now + kLinkTtlSeconds);
  KvBatch batch;
  batch.Put(Cf::kSessions, LinkSlotKey(request->link_id()), slot.SerializeAsString());
  // Not synced: a slot lost in a crash is only a code to show again.
  absl::Status written = db->Write(&batch, /*sync=*/false);
  if (written.ok()) response->set_expires_at(slot.expires_at());
  return call.Finish(written);
}

grpc::ServerUnaryReactor* DevicesService::ApproveLink(grpc::CallbackServerContext* ctx,
                                                      const v1::ApproveLinkRequest* request,
                                                      v1::ApproveLinkResponse* response) {
  UnaryCall call(deps_, ctx, "ApproveLink");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (request->sealed().empty() || request->link_id().size() != kLinkIdSize) {
    return call.Finish(absl::InvalidArgumentError("malformed link approval"));
  }
  if (request->sealed().size() > kMaxSealedProvision) {
    return call.Finish(absl::ResourceExhaustedError("sealed account too large"));
  }
  // Charged to the approving device (each approval stores up to 80 KiB).
  std::string budget = "approve/" + caller->account_id;
  base::AppendU32BE(&budget, caller->device_id);
  if (!deps_->publish_rate->TryAcquire(budget)) {
    return call.Finish(absl::ResourceExhaustedError("too many devices approved; retry later"));
  }
  base::MutexLock lock(&deps_->directory->mutex());
  std::string slot_read;
  absl::StatusOr<LinkSlotRecord> slot = GetLinkSlot(*deps_, request->link_id(), &slot_read);
  if (!slot.ok()) return call.Finish(slot.status());
  if (slot->approved()) return call.Finish(absl::FailedPreconditionError("link code already used"));
  std::string read;
  absl::StatusOr<AccountRecord> account = deps_->directory->GetAccount(caller->account_id, &read);
  if (!account.ok()) return call.Finish(account.status());
  // As read now, and expected so at the write (AddPutAccount): an approver removed or an
  // account closed through another relay process meanwhile approves nothing.
  if (account->state() != v1::ACCOUNT_STATE_ACTIVE || !HasDevice(*account, caller->device_id)) {
    return call.Finish(absl::UnauthenticatedError("this device was removed or its account closed"));
  }
  if (ActiveDeviceIds(*account).size() >= deps_->limits->max_devices_per_account) {
    return call.Finish(absl::FailedPreconditionError(absl::StrCat(
        "this account has its maximum of ", deps_->limits->max_devices_per_account,
        " devices; remove one first")));
  }
  // The id is reserved now and never reused, even if the link is never completed.
  const uint32_t device_id = std::max<uint32_t>(account->next_device_id(), 2);
  account->set_next_device_id(device_id + 1);
  slot->set_approved(true);
  slot->set_account_id(caller->account_id);
  slot->set_device_id(device_id);
  slot->set_added_at(static_cast<uint64_t>(deps_->clock->NowUnixSeconds()));
  slot->set_sealed(request->sealed());
  slot->set_approved_by(caller->device_id);
  RelayDb* db = deps_->directory->db();
  KvBatch batch;
  deps_->directory->AddPutAccount(*account, read, &batch);
  // Approved once, even by two accounts through two relay processes at the same moment.
  batch.Expect(Cf::kSessions, LinkSlotKey(request->link_id()), slot_read);
  batch.Put(Cf::kSessions, LinkSlotKey(request->link_id()), slot->SerializeAsString());
  absl::Status written = db->Write(&batch, /*sync=*/true);
  if (written.ok()) response->set_device_id(device_id);
  return call.Finish(written);
}

grpc::ServerUnaryReactor* DevicesService::AwaitLink(grpc::CallbackServerContext* ctx,
                                                    const v1::AwaitLinkRequest* request,
                                                    v1::AwaitLinkResponse* response) {
  UnaryCall call(deps_, ctx, "AwaitLink");
  absl::StatusOr<LinkSlotRecord> slot = GetLinkSlot(*deps_, request->link_id());
  if (!slot.ok()) return call.Finish(slot.status());
  if (!slot->approved()) return call.Finish(absl::OkStatus());
  absl::StatusOr<AccountRecord> account = deps_->directory->GetAccount(slot->account_id());
  if (!account.ok()) return call.Finish(account.status());
  if (account->state() != v1::ACCOUNT_STATE_ACTIVE) {
    return call.Finish(absl::NotFoundError("no such account"));
  }
  // A device removed after approving takes its approvals with it (as CompleteLink refuses).
  if (!HasDevice(*account, slot->approved_by())) {
    return call.Finish(
        absl::FailedPreconditionError("the device that approved this code was removed"));
  }
  response->set_approved(true);
  response->set_sealed(slot->sealed());
  response->set_account_id(slot->account_id());
  response->set_device_id(slot->device_id());
  response->set_added_at(slot->added_at());
  if (account->has_device_list()) *response->mutable_list() = account->device_list();
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* DevicesService::CompleteLink(grpc::CallbackServerContext* ctx,
                                                       const v1::CompleteLinkRequest* request,
                                                       v1::CompleteLinkResponse* /*response*/) {
  UnaryCall call(deps_, ctx, "CompleteLink");
  const v1::SignedDeviceList& list = request->list();
  if (static_cast<size_t>(list.devices_size()) > wire::kMaxDevicesPerAccount ||
      !wire::IsCanonicalDeviceList(list.version(), Entries(list)) ||
      list.signature().size() != wire::kEd25519SignatureSize) {
    return call.Finish(absl::InvalidArgumentError("malformed device list"));
  }
  v1::Address owner;
  std::string identity_key;
  std::string device_key;
  {
    base::MutexLock lock(&deps_->directory->mutex());
    absl::StatusOr<LinkSlotRecord> slot = GetLinkSlot(*deps_, request->link_id());
    if (!slot.ok()) return call.Finish(slot.status());
    if (!slot->approved()) {
      return call.Finish(absl::FailedPreconditionError("link code not approved yet"));
    }
    std::string read;
    absl::StatusOr<AccountRecord> account =
        deps_->directory->GetAccount(slot->account_id(), &read);
    if (!account.ok()) return call.Finish(account.status());
    if (account->state() != v1::ACCOUNT_STATE_ACTIVE) {
      return call.Finish(absl::NotFoundError("no such account"));
    }
    // A device removed after approving takes its approvals with it.
    if (!HasDevice(*account, slot->approved_by())) {
      return call.Finish(
          absl::FailedPreconditionError("the device that approved this code was removed"));
    }
    const std::string message = wire::DeviceListMessage(
        deps_->directory->relay_id(), slot->account_id(), list.version(), Entries(list));
    if (!VerifyEd25519(account->identity_key(), message, list.signature())) {
      return call.Finish(
          absl::InvalidArgumentError("device list is not signed by the account's identity key"));
    }
    const uint64_t next = account->has_device_list() ? account->device_list().version() + 1 : 1;
    if (list.version() != next) {
      return call.Finish(absl::FailedPreconditionError(
          absl::StrCat("device list version must be ", next, ", not ", list.version())));
    }
    if (ActiveDeviceIds(*account).size() >= deps_->limits->max_devices_per_account) {
      return call.Finish(absl::FailedPreconditionError("this account has its maximum of devices"));
    }
    // Exactly the current devices, unchanged, plus the new one with its key and date.
    if (list.devices_size() != account->devices_size() + 1) {
      return call.Finish(absl::FailedPreconditionError(
          "device list must name the account's devices and the new one"));
    }
    for (const v1::DeviceEntry& e : list.devices()) {
      if (e.device_key() == account->identity_key()) {
        return call.Finish(absl::InvalidArgumentError("a device key must not be the identity key"));
      }
      if (e.device_id() == slot->device_id()) {
        if (e.added_at() != slot->added_at()) {
          return call.Finish(absl::FailedPreconditionError("the new device's date is not the relay's"));
        }
        device_key = e.device_key();
        continue;
      }
      const DeviceRecord* d = FindDevice(*account, e.device_id());
      if (d == nullptr || d->added_at() != e.added_at() || d->device_key() != e.device_key()) {
        return call.Finish(absl::FailedPreconditionError(
            "device list changes the account's other devices"));
      }
    }
    if (device_key.empty()) {
      return call.Finish(absl::FailedPreconditionError("device list does not name the new device"));
    }
    // The new device proves it holds its key: its signed prekey must verify under it.
    const v1::SignedPreKey& spk = request->signed_prekey();
    if (spk.public_key().size() != 32 || spk.signature().size() != wire::kEd25519SignatureSize ||
        !VerifyEd25519(device_key,
                       wire::DeviceSignedPreKeyMessage(slot->account_id(), slot->device_id(),
                                                       spk.id(), spk.created_at(),
                                                       spk.public_key()),
                       spk.signature())) {
      return call.Finish(absl::InvalidArgumentError("signed prekey is not signed by the new device"));
    }
    DeviceRecord* added = account->add_devices();
    added->set_device_id(slot->device_id());
    added->set_device_key(device_key);
    added->set_added_at(slot->added_at());
    std::sort(account->mutable_devices()->begin(), account->mutable_devices()->end(),
              [](const DeviceRecord& a, const DeviceRecord& b) {
                return a.device_id() < b.device_id();
              });
    *account->mutable_device_list() = list;
    account->mutable_device_list()->DiscardUnknownFields();
    KvBatch batch;
    deps_->directory->AddPutAccount(*account, read, &batch);
    batch.Delete(Cf::kSessions, LinkSlotKey(request->link_id()));
    AuditLog::Event linked;
    linked.event = v1::AUDIT_EVENT_DEVICE_LINKED;
    linked.actor = slot->account_id();
    linked.subject = slot->account_id();
    linked.device_id = slot->device_id();
    linked.count = static_cast<uint32_t>(list.devices_size());
    absl::Status committed = deps_->audit->Commit(&batch, linked);
    if (!committed.ok()) return call.Finish(committed);
    owner.set_account_id(slot->account_id());
    owner.set_device_id(slot->device_id());
    identity_key = account->identity_key();
  }
  deps_->logger->Info("device_linked", {{"account", base::ToHex(owner.account_id())},
                                        {"device", static_cast<int>(owner.device_id())}});
  v1::PublishPreKeysRequest prekeys;
  *prekeys.mutable_signed_prekey() = request->signed_prekey();
  *prekeys.mutable_one_time_prekeys() = request->one_time_prekeys();
  // Checked above; a failure here leaves the device linked, and it publishes again after login.
  absl::Status published =
      deps_->prekeys->Publish(owner, identity_key, device_key, prekeys).status();
  return call.Finish(published);
}

grpc::ServerUnaryReactor* DevicesService::PublishDeviceList(
    grpc::CallbackServerContext* ctx, const v1::PublishDeviceListRequest* request,
    v1::PublishDeviceListResponse* response) {
  UnaryCall call(deps_, ctx, "PublishDeviceList");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  // Charged to the publishing device, so a device about to be removed cannot spend the budget
  // of the device removing it.
  std::string budget = caller->account_id;
  base::AppendU32BE(&budget, caller->device_id);
  if (!deps_->publish_rate->TryAcquire(budget)) {
    return call.Finish(absl::ResourceExhaustedError("device list published too often; retry later"));
  }
  absl::StatusOr<std::vector<uint32_t>> removed = ApplyDeviceList(*deps_, *caller, request->list());
  if (!removed.ok()) return call.Finish(removed.status());
  for (uint32_t id : *removed) response->add_removed_device_ids(id);
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* DevicesService::ListDevices(grpc::CallbackServerContext* ctx,
                                                      const v1::ListDevicesRequest* request,
                                                      v1::ListDevicesResponse* response) {
  UnaryCall call(deps_, ctx, "ListDevices");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (!IsAccountId(request->account_id())) {
    return call.Finish(absl::InvalidArgumentError("malformed account id"));
  }
  if (request->account_id() != caller->account_id) {
    absl::StatusOr<bool> linked =
        deps_->directory->Linked(caller->account_id, request->account_id());
    if (!linked.ok()) return call.Finish(linked.status());
    if (!*linked) return call.Finish(absl::PermissionDeniedError("not linked"));
  }
  absl::StatusOr<AccountRecord> account = deps_->directory->GetAccount(request->account_id());
  if (!account.ok()) return call.Finish(account.status());
  if (account->state() != v1::ACCOUNT_STATE_ACTIVE) {
    return call.Finish(absl::NotFoundError("no such account"));
  }
  if (account->has_device_list()) *response->mutable_list() = account->device_list();
  for (const DeviceRecord& d : account->devices()) {
    v1::DeviceStatus* s = response->add_devices();
    s->set_device_id(d.device_id());
    s->set_added_at(d.added_at());
    s->set_device_key(d.device_key());
    if (request->account_id() == caller->account_id) {
      absl::StatusOr<uint64_t> seen = deps_->auth->LastSeen(caller->account_id, d.device_id());
      if (!seen.ok()) return call.Finish(seen.status());
      s->set_last_seen_at(*seen);
    }
  }
  return call.Finish(absl::OkStatus());
}

}  // namespace alliance::server

#include "server/services/clinic_service.h"

#include <algorithm>

#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/store/devices.h"
#include "server/infra/crypto_util.h"

namespace alliance::server {
namespace {
absl::Status RequireAdmin(const Caller& caller) {
  if (caller.role != v1::ROLE_ADMIN) return absl::PermissionDeniedError("admins only");
  return absl::OkStatus();
}
}  // namespace

grpc::ServerUnaryReactor* ClinicService::CreateInvite(grpc::CallbackServerContext* ctx,
                                                      const v1::CreateInviteRequest* request,
                                                      v1::CreateInviteResponse* response) {
  UnaryCall call(deps_, ctx, "CreateInvite");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  const Directory::Inviter inviter{caller->account_id, caller->role};
  absl::StatusOr<v1::CreateInviteResponse> result =
      deps_->directory->CreateInvite(&inviter, request->role());
  if (!result.ok()) return call.Finish(result.status());
  *response = std::move(*result);
  deps_->logger->Info("invite_created", {{"by", base::ToHex(caller->account_id)},
                                         {"role", v1::Role_Name(response->role())}});
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* ClinicService::RevokeInvite(grpc::CallbackServerContext* ctx,
                                                      const v1::RevokeInviteRequest* request,
                                                      v1::RevokeInviteResponse* /*response*/) {
  UnaryCall call(deps_, ctx, "RevokeInvite");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  return call.Finish(
      deps_->directory->RevokeInvite({caller->account_id, caller->role}, request->invite_id()));
}

grpc::ServerUnaryReactor* ClinicService::ListMembers(grpc::CallbackServerContext* ctx,
                                                     const v1::ListMembersRequest* request,
                                                     v1::ListMembersResponse* response) {
  UnaryCall call(deps_, ctx, "ListMembers");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (absl::Status s = RequireAdmin(*caller); !s.ok()) return call.Finish(s);
  absl::StatusOr<v1::ListMembersResponse> result = deps_->directory->ListMembers(*request);
  if (result.ok()) *response = std::move(*result);
  return call.Finish(result.status());
}

grpc::ServerUnaryReactor* ClinicService::DeactivateAccount(
    grpc::CallbackServerContext* ctx, const v1::DeactivateAccountRequest* request,
    v1::DeactivateAccountResponse* /*response*/) {
  UnaryCall call(deps_, ctx, "DeactivateAccount");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (!IsAccountId(request->account_id())) {
    return call.Finish(absl::InvalidArgumentError("malformed account id"));
  }
  if (absl::Status s = RequireAdmin(*caller); !s.ok()) return call.Finish(s);
  if (request->account_id() == caller->account_id) {
    return call.Finish(absl::InvalidArgumentError("use DeleteAccount for your own account"));
  }
  std::string read;
  absl::StatusOr<AccountRecord> account =
      deps_->directory->GetAccount(request->account_id(), &read);
  if (!account.ok()) return call.Finish(account.status());
  if (account->state() == v1::ACCOUNT_STATE_DEACTIVATED) return call.Finish(absl::OkStatus());
  return call.Finish(EraseAccount(*deps_, *account, read, caller->account_id, /*deactivate=*/true));
}

grpc::ServerUnaryReactor* ClinicService::ReadAudit(grpc::CallbackServerContext* ctx,
                                                   const v1::ReadAuditRequest* request,
                                                   v1::ReadAuditResponse* response) {
  UnaryCall call(deps_, ctx, "ReadAudit");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (absl::Status s = RequireAdmin(*caller); !s.ok()) return call.Finish(s);
  uint32_t limit = request->limit() == 0 ? 100 : request->limit();
  if (limit > 1000) return call.Finish(absl::InvalidArgumentError("limit over 1000"));
  absl::StatusOr<std::vector<v1::AuditEntry>> entries =
      deps_->audit->Read(request->after_sequence(), limit, request->security_only());
  if (!entries.ok()) return call.Finish(entries.status());
  for (auto& e : *entries) *response->add_entries() = std::move(e);
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* ClinicService::ListAccountDevices(
    grpc::CallbackServerContext* ctx, const v1::ListAccountDevicesRequest* request,
    v1::ListAccountDevicesResponse* response) {
  UnaryCall call(deps_, ctx, "ListAccountDevices");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (absl::Status s = RequireAdmin(*caller); !s.ok()) return call.Finish(s);
  if (!IsAccountId(request->account_id())) {
    return call.Finish(absl::InvalidArgumentError("malformed account id"));
  }
  absl::StatusOr<AccountRecord> account = deps_->directory->GetAccount(request->account_id());
  if (!account.ok()) return call.Finish(account.status());
  if (account->state() != v1::ACCOUNT_STATE_ACTIVE) {
    return call.Finish(absl::NotFoundError("no such account"));
  }
  for (const DeviceRecord& d : account->devices()) {
    v1::DeviceStatus* s = response->add_devices();
    s->set_device_id(d.device_id());
    s->set_added_at(d.added_at());
    s->set_device_key(d.device_key());
  }
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* ClinicService::RemoveAccountDevice(
    grpc::CallbackServerContext* ctx, const v1::RemoveAccountDeviceRequest* request,
    v1::RemoveAccountDeviceResponse* /*response*/) {
  UnaryCall call(deps_, ctx, "RemoveAccountDevice");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (absl::Status s = RequireAdmin(*caller); !s.ok()) return call.Finish(s);
  if (!IsAccountId(request->account_id()) || request->device_id() == 0) {
    return call.Finish(absl::InvalidArgumentError("malformed device"));
  }
  absl::Status removed = [&]() -> absl::Status {
    base::MutexLock lock(&deps_->directory->mutex());
    std::string read;
    ALLIANCE_ASSIGN_OR_RETURN(AccountRecord account,
                              deps_->directory->GetAccount(request->account_id(), &read));
    if (account.state() != v1::ACCOUNT_STATE_ACTIVE) return absl::NotFoundError("no such account");
    if (!HasDevice(account, request->device_id())) return absl::NotFoundError("no such device");
    if (account.devices_size() == 1) {
      return absl::FailedPreconditionError(
          "this is the account's only device; deactivate the account instead");
    }
    auto* devices = account.mutable_devices();
    devices->erase(std::remove_if(devices->begin(), devices->end(),
                                  [&](const DeviceRecord& d) {
                                    return d.device_id() == request->device_id();
                                  }),
                   devices->end());
    const uint32_t id = request->device_id();
    KvBatch batch;
    deps_->directory->AddPutAccount(account, read, &batch);
    deps_->prekeys->AddErase(account.account_id(), {&id, 1}, &batch);
    ALLIANCE_RETURN_IF_ERROR(deps_->mailbox->CloseAndErase(
        account.account_id(), {&id, 1}, absl::UnauthenticatedError("device removed"), &batch));
    AuditLog::Event e;
    e.event = v1::AUDIT_EVENT_DEVICE_REMOVED;
    e.actor = caller->account_id;
    e.subject = account.account_id();
    e.device_id = id;
    absl::Status committed = deps_->audit->Commit(&batch, e);
    if (!committed.ok()) deps_->mailbox->Reopen(account.account_id(), {&id, 1});
    return committed;
  }();
  return call.Finish(removed);
}

}  // namespace alliance::server

#include "server/services/keys_service.h"

#include "base/bytes.h"

#include "server/store/devices.h"

namespace alliance::server {

grpc::ServerUnaryReactor* KeysService::PublishPreKeys(grpc::CallbackServerContext* ctx,
                                                      const v1::PublishPreKeysRequest* request,
                                                      v1::PublishPreKeysResponse* response) {
  UnaryCall call(deps_, ctx, "PublishPreKeys");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  // Charged to the publishing device: one device (say, one about to be removed) cannot spend
  // the budget of the account's others.
  std::string budget = "prekeys/" + caller->account_id;
  base::AppendU32BE(&budget, caller->device_id);
  if (!deps_->publish_rate->TryAcquire(budget)) {
    return call.Finish(absl::ResourceExhaustedError("prekeys published too often; retry later"));
  }
  // Authenticate read the account just now (active, with this identity key).
  absl::StatusOr<v1::PublishPreKeysResponse> result =
      deps_->prekeys->Publish(caller->address(), caller->identity_key, caller->device_key, *request);
  if (result.ok()) *response = std::move(*result);
  return call.Finish(result.status());
}

grpc::ServerUnaryReactor* KeysService::FetchPreKeyBundle(
    grpc::CallbackServerContext* ctx, const v1::FetchPreKeyBundleRequest* request,
    v1::FetchPreKeyBundleResponse* response) {
  UnaryCall call(deps_, ctx, "FetchPreKeyBundle");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  const v1::Address& target = request->address();
  if (!IsAddress(target)) return call.Finish(absl::InvalidArgumentError("malformed address"));
  // A linked account's device, or another device of the caller's own account (its own
  // messages reach its other devices too).
  const bool own = target.account_id() == caller->account_id;
  if (own && target.device_id() == caller->device_id) {
    return call.Finish(absl::InvalidArgumentError("a device does not fetch its own bundle"));
  }
  if (!own) {
    absl::StatusOr<bool> linked =
        deps_->directory->Linked(caller->account_id, target.account_id());
    if (!linked.ok()) return call.Finish(linked.status());
    if (!*linked) return call.Finish(absl::PermissionDeniedError("not linked"));
  }
  // Charged to this requester and this target device only: one contact cannot drain another's
  // one-time prekeys, nor spend anyone else's budget; a contact with five devices costs five.
  std::string budget = caller->account_id + target.account_id();
  base::AppendU32BE(&budget, target.device_id());
  if (!deps_->fetch_rate->TryAcquire(budget)) {
    return call.Finish(
        absl::ResourceExhaustedError("prekey bundles fetched too often; retry later"));
  }
  absl::StatusOr<AccountRecord> account = deps_->directory->GetAccount(target.account_id());
  if (!account.ok()) return call.Finish(account.status());
  if (!HasDevice(*account, target.device_id())) {
    return call.Finish(absl::NotFoundError("no such device"));
  }
  absl::StatusOr<v1::PreKeyBundle> bundle = deps_->prekeys->Fetch(target, account->identity_key());
  if (bundle.ok()) *response->mutable_bundle() = std::move(*bundle);
  return call.Finish(bundle.status());
}

grpc::ServerUnaryReactor* KeysService::GetPreKeyStatus(grpc::CallbackServerContext* ctx,
                                                       const v1::GetPreKeyStatusRequest* /*req*/,
                                                       v1::GetPreKeyStatusResponse* response) {
  UnaryCall call(deps_, ctx, "GetPreKeyStatus");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  absl::StatusOr<v1::GetPreKeyStatusResponse> result = deps_->prekeys->Status(caller->address());
  if (result.ok()) *response = std::move(*result);
  return call.Finish(result.status());
}

}  // namespace alliance::server

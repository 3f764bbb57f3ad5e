#include "server/services/accounts_service.h"

#include "base/bytes.h"

namespace alliance::server {

grpc::ServerUnaryReactor* AccountsService::Register(grpc::CallbackServerContext* ctx,
                                                    const v1::RegisterRequest* request,
                                                    v1::RegisterResponse* response) {
  UnaryCall call(deps_, ctx, "Register");
  absl::StatusOr<v1::RegisterResponse> result = deps_->directory->Register(*request);
  if (!result.ok()) return call.Finish(result.status());
  *response = std::move(*result);
  deps_->metrics->registrations.Increment();
  deps_->logger->Info("registered", {{"account", base::ToHex(response->account_id())},
                                     {"role", v1::Role_Name(response->role())}});
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* AccountsService::Challenge(grpc::CallbackServerContext* ctx,
                                                     const v1::ChallengeRequest* /*request*/,
                                                     v1::ChallengeResponse* response) {
  UnaryCall call(deps_, ctx, "Challenge");
  absl::StatusOr<v1::ChallengeResponse> result = deps_->auth->Challenge(CallerAddress(*deps_, ctx));
  if (result.ok()) *response = std::move(*result);
  return call.Finish(result.status());
}

grpc::ServerUnaryReactor* AccountsService::Login(grpc::CallbackServerContext* ctx,
                                                 const v1::LoginRequest* request,
                                                 v1::LoginResponse* response) {
  UnaryCall call(deps_, ctx, "Login");
  absl::StatusOr<v1::LoginResponse> result =
      deps_->auth->Login(*request, CallerAddress(*deps_, ctx));
  std::string account = request->address().account_id().size() == 16
                            ? base::ToHex(request->address().account_id())
                            : std::string("malformed");
  if (!result.ok()) {
    // Beyond the caller's failure budget nothing is logged either: a flood cannot fill the log.
    if (absl::IsResourceExhausted(result.status())) return call.Finish(result.status());
    deps_->logger->Warn(
        "login_failed",
        {{"account", account}, {"code", absl::StatusCodeToString(result.status().code())}});
    return call.Finish(result.status());
  }
  *response = std::move(*result);
  deps_->logger->Info("login", {{"account", account}});
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* AccountsService::Logout(grpc::CallbackServerContext* ctx,
                                                  const v1::LogoutRequest* /*request*/,
                                                  v1::LogoutResponse* /*response*/) {
  UnaryCall call(deps_, ctx, "Logout");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  return call.Finish(deps_->auth->Logout(*caller));
}

grpc::ServerUnaryReactor* AccountsService::ListContacts(grpc::CallbackServerContext* ctx,
                                                        const v1::ListContactsRequest* /*request*/,
                                                        v1::ListContactsResponse* response) {
  UnaryCall call(deps_, ctx, "ListContacts");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  absl::StatusOr<v1::ListContactsResponse> result =
      deps_->directory->ListContacts(caller->account_id);
  if (result.ok()) *response = std::move(*result);
  return call.Finish(result.status());
}

grpc::ServerUnaryReactor* AccountsService::DeleteAccount(grpc::CallbackServerContext* ctx,
                                                         const v1::DeleteAccountRequest* request,
                                                         v1::DeleteAccountResponse* /*response*/) {
  UnaryCall call(deps_, ctx, "DeleteAccount");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (request->confirm_account_id() != caller->account_id) {
    return call.Finish(absl::InvalidArgumentError("confirmation does not match the caller"));
  }
  std::string read;
  absl::StatusOr<AccountRecord> account = deps_->directory->GetAccount(caller->account_id, &read);
  if (!account.ok()) return call.Finish(account.status());
  return call.Finish(
      EraseAccount(*deps_, *account, read, caller->account_id, /*deactivate=*/false));
}

}  // namespace alliance::server

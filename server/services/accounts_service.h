// AccountsService: alliance.v1.Accounts over the gRPC callback API (contract in
// proto/alliance/v1/accounts_service.proto). Thread-safe; `deps` must outlive the service.
#ifndef ALLIANCE_SERVER_SERVICES_ACCOUNTS_SERVICE_H_
#define ALLIANCE_SERVER_SERVICES_ACCOUNTS_SERVICE_H_

#include "alliance/v1/accounts_service.grpc.pb.h"
#include "server/services/service_util.h"

namespace alliance::server {

class AccountsService final : public v1::Accounts::CallbackService {
 public:
  explicit AccountsService(const ServiceDeps* deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx,
                                     const v1::RegisterRequest* request,
                                     v1::RegisterResponse* response) override;
  grpc::ServerUnaryReactor* Challenge(grpc::CallbackServerContext* ctx,
                                      const v1::ChallengeRequest* request,
                                      v1::ChallengeResponse* response) override;
  grpc::ServerUnaryReactor* Login(grpc::CallbackServerContext* ctx, const v1::LoginRequest* request,
                                  v1::LoginResponse* response) override;
  grpc::ServerUnaryReactor* Logout(grpc::CallbackServerContext* ctx,
                                   const v1::LogoutRequest* request,
                                   v1::LogoutResponse* response) override;
  grpc::ServerUnaryReactor* ListContacts(grpc::CallbackServerContext* ctx,
                                         const v1::ListContactsRequest* request,
                                         v1::ListContactsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteAccount(grpc::CallbackServerContext* ctx,
                                          const v1::DeleteAccountRequest* request,
                                          v1::DeleteAccountResponse* response) override;

 private:
  const ServiceDeps* const deps_;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_SERVICES_ACCOUNTS_SERVICE_H_

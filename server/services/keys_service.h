// KeysService: alliance.v1.Keys over the gRPC callback API (contract in
// proto/alliance/v1/keys_service.proto). Thread-safe; `deps` must outlive the service.
#ifndef ALLIANCE_SERVER_SERVICES_KEYS_SERVICE_H_
#define ALLIANCE_SERVER_SERVICES_KEYS_SERVICE_H_

#include "alliance/v1/keys_service.grpc.pb.h"
#include "server/services/service_util.h"

namespace alliance::server {

class KeysService final : public v1::Keys::CallbackService {
 public:
  explicit KeysService(const ServiceDeps* deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* PublishPreKeys(grpc::CallbackServerContext* ctx,
                                           const v1::PublishPreKeysRequest* request,
                                           v1::PublishPreKeysResponse* response) override;
  grpc::ServerUnaryReactor* FetchPreKeyBundle(grpc::CallbackServerContext* ctx,
                                              const v1::FetchPreKeyBundleRequest* request,
                                              v1::FetchPreKeyBundleResponse* response) override;
  grpc::ServerUnaryReactor* GetPreKeyStatus(grpc::CallbackServerContext* ctx,
                                            const v1::GetPreKeyStatusRequest* request,
                                            v1::GetPreKeyStatusResponse* response) override;

 private:
  const ServiceDeps* const deps_;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_SERVICES_KEYS_SERVICE_H_

// DevicesService: alliance.v1.Devices over the gRPC callback API (contract in
// proto/alliance/v1/devices_service.proto). Thread-safe; `deps` must outlive the service.
#ifndef ALLIANCE_SERVER_SERVICES_DEVICES_SERVICE_H_
#define ALLIANCE_SERVER_SERVICES_DEVICES_SERVICE_H_

#include "alliance/v1/devices_service.grpc.pb.h"
#include "server/services/service_util.h"

namespace alliance::server {

class DevicesService final : public v1::Devices::CallbackService {
 public:
  explicit DevicesService(const ServiceDeps* deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* PublishDeviceList(grpc::CallbackServerContext* ctx,
                                              const v1::PublishDeviceListRequest* request,
                                              v1::PublishDeviceListResponse* response) override;
  grpc::ServerUnaryReactor* ListDevices(grpc::CallbackServerContext* ctx,
                                        const v1::ListDevicesRequest* request,
                                        v1::ListDevicesResponse* response) override;
  grpc::ServerUnaryReactor* StartLink(grpc::CallbackServerContext* ctx,
                                      const v1::StartLinkRequest* request,
                                      v1::StartLinkResponse* response) override;
  grpc::ServerUnaryReactor* ApproveLink(grpc::CallbackServerContext* ctx,
                                        const v1::ApproveLinkRequest* request,
                                        v1::ApproveLinkResponse* response) override;
  grpc::ServerUnaryReactor* AwaitLink(grpc::CallbackServerContext* ctx,
                                      const v1::AwaitLinkRequest* request,
                                      v1::AwaitLinkResponse* response) override;
  grpc::ServerUnaryReactor* CompleteLink(grpc::CallbackServerContext* ctx,
                                         const v1::CompleteLinkRequest* request,
                                         v1::CompleteLinkResponse* response) override;

 private:
  const ServiceDeps* const deps_;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_SERVICES_DEVICES_SERVICE_H_

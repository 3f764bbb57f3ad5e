// ClinicService: alliance.v1.Clinic over the gRPC callback API (contract in
// proto/alliance/v1/clinic_service.proto). Thread-safe; `deps` must outlive the service.
#ifndef ALLIANCE_SERVER_SERVICES_CLINIC_SERVICE_H_
#define ALLIANCE_SERVER_SERVICES_CLINIC_SERVICE_H_

#include "alliance/v1/clinic_service.grpc.pb.h"
#include "server/services/service_util.h"

namespace alliance::server {

class ClinicService final : public v1::Clinic::CallbackService {
 public:
  explicit ClinicService(const ServiceDeps* deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* CreateInvite(grpc::CallbackServerContext* ctx,
                                         const v1::CreateInviteRequest* request,
                                         v1::CreateInviteResponse* response) override;
  grpc::ServerUnaryReactor* RevokeInvite(grpc::CallbackServerContext* ctx,
                                         const v1::RevokeInviteRequest* request,
                                         v1::RevokeInviteResponse* response) override;
  grpc::ServerUnaryReactor* ListMembers(grpc::CallbackServerContext* ctx,
                                        const v1::ListMembersRequest* request,
                                        v1::ListMembersResponse* response) override;
  grpc::ServerUnaryReactor* DeactivateAccount(grpc::CallbackServerContext* ctx,
                                              const v1::DeactivateAccountRequest* request,
                                              v1::DeactivateAccountResponse* response) override;
  grpc::ServerUnaryReactor* ReadAudit(grpc::CallbackServerContext* ctx,
                                      const v1::ReadAuditRequest* request,
                                      v1::ReadAuditResponse* response) override;

  grpc::ServerUnaryReactor* ListAccountDevices(grpc::CallbackServerContext* ctx,
                                               const v1::ListAccountDevicesRequest* request,
                                               v1::ListAccountDevicesResponse* response) override;
  grpc::ServerUnaryReactor* RemoveAccountDevice(grpc::CallbackServerContext* ctx,
                                                const v1::RemoveAccountDeviceRequest* request,
                                                v1::RemoveAccountDeviceResponse* response) override;

 private:
  const ServiceDeps* const deps_;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_SERVICES_CLINIC_SERVICE_H_

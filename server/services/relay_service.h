// RelayService: alliance.v1.Relay over the gRPC callback API (contract in
// proto/alliance/v1/relay_service.proto).
//
// Send validates (sizes, version, type; then send rate; then link and recipient device) and
// finishes from the CommitPool once the envelope is durable. Receive is a ServerWriteReactor
// subscribed to the caller's mailbox: it writes the backlog, a backlog_complete marker, then
// live envelopes, one write in flight at a time. Thread-safe; `deps` must outlive the service.
#ifndef ALLIANCE_SERVER_SERVICES_RELAY_SERVICE_H_
#define ALLIANCE_SERVER_SERVICES_RELAY_SERVICE_H_

#include "alliance/v1/relay_service.grpc.pb.h"
#include "server/services/service_util.h"

namespace alliance::server {

class RelayService final : public v1::Relay::CallbackService {
 public:
  explicit RelayService(const ServiceDeps* deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* Send(grpc::CallbackServerContext* ctx, const v1::SendRequest* request,
                                 v1::SendResponse* response) override;
  grpc::ServerWriteReactor<v1::ReceiveResponse>* Receive(
      grpc::CallbackServerContext* ctx, const v1::ReceiveRequest* request) override;
  grpc::ServerUnaryReactor* Ack(grpc::CallbackServerContext* ctx, const v1::AckRequest* request,
                                v1::AckResponse* response) override;

 private:
  // Checks everything Send can check before touching the mailbox. Returns the mismatches
  // between the destinations and the active devices (empty when they match: store it).
  absl::StatusOr<std::vector<v1::DeviceMismatch>> ValidateSend(const Caller& caller,
                                                              const v1::SendRequest& request);

  const ServiceDeps* const deps_;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_SERVICES_RELAY_SERVICE_H_

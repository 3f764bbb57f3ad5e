// BlobsService: alliance.v1.Blobs over the gRPC callback API (contract in
// proto/alliance/v1/blobs_service.proto; storage in server/store/blob_store.h).
//
// Upload is a ServerReadReactor: the first request declares (or resumes) the blob and is
// checked for ids, sizes, recipients' links and quota before any byte is stored; every later
// request's data is appended as it arrives, so a cut-off upload keeps what reached the relay.
// Download is a ServerWriteReactor that reads at most 256 KiB ahead of the client (one write in
// flight), so a 50 MiB blob never sits in the relay's memory. Thread-safe; `deps` must outlive
// the service.
#ifndef ALLIANCE_SERVER_SERVICES_BLOBS_SERVICE_H_
#define ALLIANCE_SERVER_SERVICES_BLOBS_SERVICE_H_

#include "alliance/v1/blobs_service.grpc.pb.h"
#include "server/services/service_util.h"

namespace alliance::server {

class BlobsService final : public v1::Blobs::CallbackService {
 public:
  explicit BlobsService(const ServiceDeps* deps) : deps_(deps) {}

  grpc::ServerReadReactor<v1::UploadRequest>* Upload(grpc::CallbackServerContext* ctx,
                                                     v1::UploadResponse* response) override;
  grpc::ServerUnaryReactor* UploadStatus(grpc::CallbackServerContext* ctx,
                                         const v1::UploadStatusRequest* request,
                                         v1::UploadStatusResponse* response) override;
  grpc::ServerWriteReactor<v1::DownloadResponse>* Download(
      grpc::CallbackServerContext* ctx, const v1::DownloadRequest* request) override;

 private:
  const ServiceDeps* const deps_;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_SERVICES_BLOBS_SERVICE_H_

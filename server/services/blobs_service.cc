#include "server/services/blobs_service.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/store/devices.h"
#include "wire/protocol.h"

namespace alliance::server {
namespace {

constexpr size_t kMaxUploadPiece = 256 << 10;  // data bytes per UploadRequest
constexpr size_t kDownloadPiece = 256 << 10;  // data bytes per DownloadResponse

std::string DeviceAddress(std::string_view account, uint32_t device) {
  std::string a(account);
  base::AppendU32BE(&a, device);
  return a;
}

// Checks an upload's declaration against the caller's links and devices (the store checks
// the quota and what an existing blob was declared with).
absl::StatusOr<BlobStore::Declaration> Declare(const ServiceDeps& deps, const Caller& caller,
                                               const v1::UploadStart& start) {
  if (start.blob_id().size() != wire::kBlobIdSize) {
    return absl::InvalidArgumentError("attachment id must be 16 bytes");
  }
  if (start.size() == 0) return absl::InvalidArgumentError("attachment size must be positive");
  if (start.recipient_account_ids().empty() ||
      static_cast<size_t>(start.recipient_account_ids_size()) > wire::kMaxBlobRecipients) {
    return absl::InvalidArgumentError("an attachment names 1 to 8 recipient accounts");
  }
  BlobStore::Declaration d;
  d.blob_id = start.blob_id();
  d.uploader_account = caller.account_id;
  d.uploader_device = caller.device_id;
  d.size = start.size();
  d.offset = start.offset();
  for (const std::string& r : start.recipient_account_ids()) {
    if (!IsAccountId(r)) return absl::InvalidArgumentError("malformed recipient account id");
    if (std::find(d.recipients.begin(), d.recipients.end(), r) != d.recipients.end()) {
      return absl::InvalidArgumentError("a recipient is named twice");
    }
    d.recipients.push_back(r);
  }
  if (d.offset != 0) return d;  // a resume: the store compares it with the declared blob
  for (const std::string& r : d.recipients) {
    const bool own = r == caller.account_id;
    if (!own) {
      ALLIANCE_ASSIGN_OR_RETURN(const bool linked, deps.directory->Linked(caller.account_id, r));
      if (!linked) return absl::PermissionDeniedError("recipient is not linked to you");
    }
    ALLIANCE_ASSIGN_OR_RETURN(AccountRecord account, deps.directory->GetAccount(r));
    for (uint32_t device : ActiveDeviceIds(account)) {
      if (own && device == caller.device_id) continue;
      d.pending.push_back(DeviceAddress(r, device));
    }
  }
  return d;
}

class UploadReactor final : public grpc::ServerReadReactor<v1::UploadRequest> {
 public:
  UploadReactor(const ServiceDeps* deps, grpc::CallbackServerContext* ctx,
                v1::UploadResponse* response)
      : deps_(deps), ctx_(ctx), response_(response), timer_("Upload") {
    absl::StatusOr<Caller> caller = AuthenticateCall(*deps_, ctx);
    if (!caller.ok()) {
      Done(caller.status());
      return;
    }
    caller_ = *std::move(caller);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed (or the stream broke): what arrived is kept.
      Done(declared_ ? absl::OkStatus() : absl::InvalidArgumentError("upload without a start"));
      return;
    }
    absl::Status s = Handle();
    if (!s.ok()) {
      Done(s);
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override {
    timer_.Record(deps_->metrics);
    delete this;
  }

 private:
  absl::Status Handle() {
    // Every request is checked again: a session revoked, a device removed or an account
    // closed while the stream is open stops it at the next piece.
    ALLIANCE_RETURN_IF_ERROR(AuthenticateCall(*deps_, ctx_).status());
    if (!declared_) {
      if (!request_.has_start()) return absl::InvalidArgumentError("upload without a start");
      ALLIANCE_ASSIGN_OR_RETURN(BlobStore::Declaration d,
                                Declare(*deps_, *caller_, request_.start()));
      ALLIANCE_ASSIGN_OR_RETURN(BlobRecord r, deps_->blobs->Begin(d));
      blob_id_ = d.blob_id;
      Note(r);
      declared_ = true;
    } else if (request_.has_start()) {
      return absl::InvalidArgumentError("only the first upload request carries a start");
    }
    const std::string& data = request_.data();
    if (data.size() > kMaxUploadPiece) {
      return absl::InvalidArgumentError("upload requests carry at most 256 KiB of data");
    }
    if (data.empty()) return absl::OkStatus();
    ALLIANCE_ASSIGN_OR_RETURN(BlobRecord r,
                              deps_->blobs->Append(blob_id_, caller_->account_id, stored_, data));
    deps_->metrics->blob_bytes_in.Increment(data.size());
    Note(r);
    return absl::OkStatus();
  }

  void Note(const BlobRecord& r) {
    stored_ = r.stored();
    response_->set_stored_bytes(r.stored());
    response_->set_complete(r.complete());
  }

  void Done(const absl::Status& status) { Finish(ToGrpcStatus(status, deps_->logger)); }

  const ServiceDeps* const deps_;
  grpc::CallbackServerContext* const ctx_;
  v1::UploadResponse* const response_;
  RpcTimer timer_;
  std::optional<Caller> caller_;
  v1::UploadRequest request_;
  bool declared_ = false;
  std::string blob_id_;
  uint64_t stored_ = 0;
};

class DownloadReactor final : public grpc::ServerWriteReactor<v1::DownloadResponse> {
 public:
  DownloadReactor(const ServiceDeps* deps, grpc::CallbackServerContext* ctx,
                  const v1::DownloadRequest& request)
      : deps_(deps), ctx_(ctx), timer_("Download") {
    absl::Status s = Start(ctx, request);
    if (!s.ok()) {
      Finish(ToGrpcStatus(s, deps_->logger));
      return;
    }
    Next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
      return;
    }
    deps_->metrics->blob_bytes_out.Increment(response_.data().size());
    Next();
  }

  void OnDone() override {
    timer_.Record(deps_->metrics);
    delete this;
  }

 private:
  // The caller may read `record` now: authenticated (again), and the uploader's account or a
  // declared recipient still linked to it.
  absl::Status Allowed(const BlobRecord& record, Caller* caller_out) {
    ALLIANCE_ASSIGN_OR_RETURN(Caller caller, AuthenticateCall(*deps_, ctx_));
    if (record.uploader_account() != caller.account_id) {
      absl::Status permitted = Recipient(record, caller.account_id);
      if (!permitted.ok()) {
        // Each check reads the store on its own, so a deactivation that commits between them
        // shows as a missing link. Ask again who is calling: a closed account or an ended
        // session is reported as such, the same whichever moment the revocation landed.
        ALLIANCE_RETURN_IF_ERROR(AuthenticateCall(*deps_, ctx_).status());
        return permitted;
      }
    }
    if (caller_out != nullptr) *caller_out = std::move(caller);
    return absl::OkStatus();
  }

  absl::Status Recipient(const BlobRecord& record, const std::string& account_id) {
    const auto& r = record.recipients();
    if (std::find(r.begin(), r.end(), account_id) == r.end()) {
      return absl::PermissionDeniedError("this attachment was not sent to you");
    }
    ALLIANCE_ASSIGN_OR_RETURN(const bool linked,
                              deps_->directory->Linked(record.uploader_account(), account_id));
    if (!linked) return absl::PermissionDeniedError("you are no longer linked to its sender");
    return absl::OkStatus();
  }

  absl::Status Start(grpc::CallbackServerContext* ctx, const v1::DownloadRequest& request) {
    ALLIANCE_ASSIGN_OR_RETURN(Caller caller, AuthenticateCall(*deps_, ctx));
    if (request.blob_id().size() != wire::kBlobIdSize) {
      return absl::InvalidArgumentError("attachment id must be 16 bytes");
    }
    ALLIANCE_ASSIGN_OR_RETURN(BlobRecord record, deps_->blobs->Get(request.blob_id()));
    ALLIANCE_RETURN_IF_ERROR(Allowed(record, &caller));
    record_ = record;
    if (!record.complete()) {
      return absl::FailedPreconditionError("the attachment is still being uploaded");
    }
    if (request.offset() > record.size()) {
      return absl::InvalidArgumentError("offset is beyond the attachment's size");
    }
    blob_id_ = request.blob_id();
    device_ = DeviceAddress(caller.account_id, caller.device_id);
    position_ = request.offset();
    size_ = record.size();
    acknowledges_ = position_ == size_;
    return absl::OkStatus();
  }

  // Writes the next piece, or finishes at the end. A request from the very end is the
  // device's word that it holds the whole blob (a write completing here only means gRPC took
  // the bytes, not that they arrived).
  void Next() {
    if (position_ >= size_) {
      if (acknowledges_) {
        absl::Status s = deps_->blobs->Fetched(blob_id_, device_);
        if (!s.ok()) deps_->logger->Error("blob_fetched_failed", {{"detail", s.ToString()}});
      }
      Finish(grpc::Status::OK);
      return;
    }
    // Checked again before every piece: revocation (a session, a device, an account, a link)
    // stops a download in progress at once.
    if (absl::Status s = Allowed(record_, nullptr); !s.ok()) {
      Finish(ToGrpcStatus(s, deps_->logger));
      return;
    }
    absl::StatusOr<std::string> piece =
        deps_->blobs->Read(blob_id_, position_, std::min<uint64_t>(kDownloadPiece, size_ - position_));
    if (piece.ok() && piece->empty()) piece = absl::NotFoundError("the attachment was deleted");
    if (!piece.ok()) {
      Finish(ToGrpcStatus(piece.status(), deps_->logger));
      return;
    }
    response_.set_offset(position_);
    response_.set_size(size_);
    position_ += piece->size();
    *response_.mutable_data() = *std::move(piece);
    StartWrite(&response_);
  }

  const ServiceDeps* const deps_;
  grpc::CallbackServerContext* const ctx_;
  RpcTimer timer_;
  BlobRecord record_;
  std::string blob_id_;
  std::string device_;
  uint64_t position_ = 0;
  uint64_t size_ = 0;
  bool acknowledges_ = false;
  v1::DownloadResponse response_;
};

}  // namespace

grpc::ServerReadReactor<v1::UploadRequest>* BlobsService::Upload(grpc::CallbackServerContext* ctx,
                                                                 v1::UploadResponse* response) {
  return new UploadReactor(deps_, ctx, response);
}

grpc::ServerUnaryReactor* BlobsService::UploadStatus(grpc::CallbackServerContext* ctx,
                                                     const v1::UploadStatusRequest* request,
                                                     v1::UploadStatusResponse* response) {
  UnaryCall call(deps_, ctx, "UploadStatus");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (request->blob_id().size() != wire::kBlobIdSize) {
    return call.Finish(absl::InvalidArgumentError("attachment id must be 16 bytes"));
  }
  absl::StatusOr<BlobRecord> record = deps_->blobs->Get(request->blob_id());
  if (!record.ok()) return call.Finish(record.status());
  if (record->uploader_account() != caller->account_id) {
    return call.Finish(absl::PermissionDeniedError("that attachment id belongs to another account"));
  }
  response->set_stored_bytes(record->stored());
  response->set_size(record->size());
  response->set_complete(record->complete());
  return call.Finish(absl::OkStatus());
}

grpc::ServerWriteReactor<v1::DownloadResponse>* BlobsService::Download(
    grpc::CallbackServerContext* ctx, const v1::DownloadRequest* request) {
  return new DownloadReactor(deps_, ctx, *request);
}

}  // namespace alliance::server

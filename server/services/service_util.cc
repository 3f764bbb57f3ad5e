#include "server/services/service_util.h"

#include <arpa/inet.h>

#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"
#include "server/store/devices.h"

namespace alliance::server {

grpc::Status ToGrpcStatus(const absl::Status& status, Logger* logger) {
  if (status.ok()) return grpc::Status::OK;
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      if (logger != nullptr) logger->Error("internal_error", {{"detail", status.ToString()}});
      return grpc::Status(static_cast<grpc::StatusCode>(status.code()), "internal error");
    default:
      // absl and gRPC share the canonical code numbering.
      return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                          std::string(status.message()));
  }
}

absl::StatusOr<Caller> AuthenticateCall(const ServiceDeps& deps, grpc::CallbackServerContext* ctx) {
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    deps.metrics->auth_failures.Increment();
    return absl::UnauthenticatedError("missing or invalid token");
  }
  return deps.auth->Authenticate(std::string_view(it->second.data(), it->second.size()));
}

std::string CallerAddressFromPeer(std::string_view peer) {
  if (peer.starts_with("ipv4:")) {
    std::string_view host = peer.substr(5);
    size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) host = host.substr(0, colon);
    in_addr a;
    if (inet_pton(AF_INET, std::string(host).c_str(), &a) == 1) return "4:" + std::string(host);
  } else if (peer.starts_with("ipv6:[")) {
    std::string_view host = peer.substr(6);
    size_t close = host.find(']');
    if (close != std::string_view::npos) {
      host = host.substr(0, close);
      size_t zone = host.find('%');
      if (zone != std::string_view::npos) host = host.substr(0, zone);
      in6_addr a;
      if (inet_pton(AF_INET6, std::string(host).c_str(), &a) == 1) {
        return "6:" + std::string(reinterpret_cast<const char*>(a.s6_addr), 8);  // the /64
      }
    }
  }
  return "other";
}

std::string CallerAddress(grpc::CallbackServerContext* ctx) {
  return CallerAddressFromPeer(ctx->peer());
}

void RpcTimer::Record(Metrics* metrics) const {
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  metrics->RpcLatency(method_).Observe(elapsed.count());
}

grpc::ServerUnaryReactor* UnaryCall::Finish(const absl::Status& status) {
  timer_.Record(deps_->metrics);
  grpc::ServerUnaryReactor* reactor = ctx_->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status, deps_->logger));
  return reactor;
}

namespace {

// One try of EraseAccount: ABORTED (kWriteConflict) when the account or its uploads changed
// since `read`.
absl::Status EraseAccountOnce(const ServiceDeps& deps, const AccountRecord& account,
                              const std::string& read, const std::string& actor,
                              bool deactivate) ABSL_EXCLUSIVE_LOCKS_REQUIRED(deps.blobs->mutex()) {
  const std::string& id = account.account_id();
  KvBatch batch;
  ALLIANCE_RETURN_IF_ERROR(deps.directory->AddEraseAccount(account, read, deactivate, &batch));
  const std::vector<uint32_t> devices = ActiveDeviceIds(account);
  deps.prekeys->AddErase(id, devices, &batch);
  ALLIANCE_RETURN_IF_ERROR(deps.auth->AddEraseSessions(id, &batch));
  ALLIANCE_RETURN_IF_ERROR(deps.mailbox->CloseAndErase(
      id, devices, absl::UnauthenticatedError("account closed"), &batch));
  ALLIANCE_RETURN_IF_ERROR(deps.mailbox->AddEraseSent(id, &batch));
  ALLIANCE_RETURN_IF_ERROR(deps.blobs->AddEraseUploads(id, &batch));
  AuditLog::Event e;
  e.event = deactivate ? v1::AUDIT_EVENT_ACCOUNT_DEACTIVATED : v1::AUDIT_EVENT_ACCOUNT_DELETED;
  e.actor = actor;
  e.subject = id;
  e.role = account.role();
  ALLIANCE_RETURN_IF_ERROR(deps.audit->Commit(&batch, e));
  deps.logger->Info(deactivate ? "account_deactivated" : "account_deleted",
                    {{"account", base::ToHex(id)}});
  return absl::OkStatus();
}

}  // namespace

absl::Status EraseAccount(const ServiceDeps& deps, const AccountRecord& first_read,
                          const std::string& first_raw,
                          const std::string& actor, bool deactivate) {
  base::MutexLock lock(&deps.directory->mutex());
  // Held until the batch is written: no upload of the account can land after its erasure.
  base::MutexLock blobs_lock(&deps.blobs->mutex());
  const std::string id = first_read.account_id();
  AccountRecord account = first_read;
  std::string read = first_raw;
  // Through other relay processes the account may change its devices while this is built (a
  // rate-limited change): read again and erase what is there now.
  for (int attempt = 0;; ++attempt) {
    absl::Status erased = EraseAccountOnce(deps, account, read, actor, deactivate);
    if (erased.ok()) {
      // Uploads declared through other relay processes while this was built (none can be
      // declared now). Should this fail, the next sweep prunes them: nobody can fetch them.
      absl::Status left = deps.blobs->EraseUploadsLeft(id);
      if (!left.ok()) {
        deps.logger->Warn("erase_uploads_left_failed", {{"error", left.ToString()}});
      }
      return absl::OkStatus();
    }
    if (!IsWriteConflict(erased)) return erased;
    if (attempt == 15) {
      return absl::AbortedError("the account changed while it was being closed; try again");
    }
    absl::StatusOr<AccountRecord> now = deps.directory->GetAccount(id, &read);
    if (absl::IsNotFound(now.status())) return absl::OkStatus();  // deleted meanwhile
    ALLIANCE_RETURN_IF_ERROR(now.status());
    if (deactivate && now->state() == v1::ACCOUNT_STATE_DEACTIVATED) return absl::OkStatus();
    account = *std::move(now);
  }
}

bool IsAccountId(const std::string& bytes) { return bytes.size() == kAccountIdSize; }

bool IsAddress(const v1::Address& address) {
  return IsAccountId(address.account_id()) && address.device_id() != 0;
}

bool IsOwnAddress(const Caller& caller, const v1::Address& address) {
  return address.account_id() == caller.account_id && address.device_id() == caller.device_id;
}

}  // namespace alliance::server

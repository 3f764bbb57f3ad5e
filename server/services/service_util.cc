#include "server/services/service_util.h"

#include <arpa/inet.h>

#include <algorithm>
#include <optional>

#include "absl/cleanup/cleanup.h"
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

namespace {

// The address in an IP literal ("192.0.2.1", "2001:db8::1", "[2001:db8::1]", with a port or an
// IPv6 zone tolerated): "4" || 4 bytes or "6" || 16 bytes; std::nullopt if it is none.
std::optional<std::string> IpBytes(std::string_view literal) {
  while (!literal.empty() && literal.front() == ' ') literal.remove_prefix(1);
  while (!literal.empty() && literal.back() == ' ') literal.remove_suffix(1);
  if (literal.starts_with("[")) {
    const size_t close = literal.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    literal = literal.substr(1, close - 1);
  } else if (std::count(literal.begin(), literal.end(), ':') == 1) {
    literal = literal.substr(0, literal.find(':'));  // IPv4 with a port
  }
  literal = literal.substr(0, literal.find('%'));
  const std::string host(literal);
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return "4" + std::string(reinterpret_cast<const char*>(&v4), 4);
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return "6" + std::string(reinterpret_cast<const char*>(v6.s6_addr), 16);
  }
  return std::nullopt;
}

// The budget key of an address from IpBytes: the IPv4 address, or the IPv6 /64 prefix (one host
// commonly holds a whole /64).
std::string BudgetKey(const std::string& ip) {
  if (ip[0] == '4') {
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, ip.data() + 1, text, sizeof(text));
    return "4:" + std::string(text);
  }
  return "6:" + ip.substr(1, 8);
}

// The peer's address as IpBytes, from gRPC's "ipv4:HOST:PORT" / "ipv6:[HOST]:PORT".
std::optional<std::string> PeerIp(std::string_view peer) {
  if (peer.starts_with("ipv4:")) return IpBytes(peer.substr(5));
  if (peer.starts_with("ipv6:")) return IpBytes(peer.substr(5));
  return std::nullopt;
}

}  // namespace

std::string CallerAddressFromPeer(std::string_view peer) {
  std::optional<std::string> ip = PeerIp(peer);
  return ip ? BudgetKey(*ip) : "other";
}

std::string CallerAddressBehindProxies(std::string_view peer, std::string_view forwarded_for,
                                       const std::vector<std::string>& trusted_proxies) {
  std::optional<std::string> ip = PeerIp(peer);
  if (!ip) return "other";
  const bool trusted = std::any_of(trusted_proxies.begin(), trusted_proxies.end(),
                                   [&](const std::string& p) { return IpBytes(p) == ip; });
  if (trusted && !forwarded_for.empty()) {
    // The last entry is the one the proxy appended; the earlier ones came from the client.
    const size_t comma = forwarded_for.rfind(',');
    std::optional<std::string> client =
        IpBytes(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
    if (client) return BudgetKey(*client);
  }
  return BudgetKey(*ip);
}

std::string CallerAddress(const ServiceDeps& deps, grpc::CallbackServerContext* ctx) {
  if (deps.trusted_proxies == nullptr || deps.trusted_proxies->empty()) {
    return CallerAddressFromPeer(ctx->peer());
  }
  std::string_view forwarded_for;
  const auto& metadata = ctx->client_metadata();
  auto [begin, end] = metadata.equal_range("x-forwarded-for");
  for (auto it = begin; it != end; ++it) {
    forwarded_for = std::string_view(it->second.data(), it->second.size());  // the last one
  }
  return CallerAddressBehindProxies(ctx->peer(), forwarded_for, *deps.trusted_proxies);
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

// One try of EraseAccount: ABORTED (kWriteConflict) when the account record changed since
// `read`, or an invite it revokes was redeemed meanwhile.
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
  absl::Cleanup reopen = [&] { deps.mailbox->Reopen(id, devices); };  // unless written
  ALLIANCE_RETURN_IF_ERROR(deps.mailbox->AddEraseSent(id, &batch));
  ALLIANCE_RETURN_IF_ERROR(deps.blobs->AddEraseUploads(id, &batch));
  AuditLog::Event e;
  e.event = deactivate ? v1::AUDIT_EVENT_ACCOUNT_DEACTIVATED : v1::AUDIT_EVENT_ACCOUNT_DELETED;
  e.actor = actor;
  e.subject = id;
  e.role = account.role();
  ALLIANCE_RETURN_IF_ERROR(deps.audit->Commit(&batch, e));
  std::move(reopen).Cancel();
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
  // Deactivated or deleted meanwhile (another admin, the account itself, another relay
  // process): a deactivation is done; a deletion must not replace a deactivation's record.
  auto settled = [deactivate](const AccountRecord& a) -> std::optional<absl::Status> {
    if (a.state() == v1::ACCOUNT_STATE_ACTIVE) return std::nullopt;
    if (deactivate) return absl::OkStatus();
    return absl::UnauthenticatedError("account closed");
  };
  if (auto done = settled(account)) return *done;
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
    if (auto done = settled(*now)) return *done;
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

// Shared plumbing of the four gRPC services: their dependencies, authentication from call
// metadata, absl -> gRPC status conversion (the only place it happens), latency recording and
// account erasure (used by Accounts.DeleteAccount and Clinic.DeactivateAccount).
//
//   grpc::ServerUnaryReactor* Foo(grpc::CallbackServerContext* ctx, const Req* req, Resp* resp) {
//     UnaryCall call(deps_, ctx, "Foo");
//     ALLIANCE_... auto caller = call.Authenticate();
//     if (!caller.ok()) return call.Finish(caller.status());
//     ...
//     return call.Finish(absl::OkStatus());
//   }
#ifndef ALLIANCE_SERVER_SERVICES_SERVICE_UTIL_H_
#define ALLIANCE_SERVER_SERVICES_SERVICE_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/auth/authenticator.h"
#include "server/infra/config.h"
#include "server/infra/logging.h"
#include "server/infra/metrics.h"
#include "server/infra/rate_limiter.h"
#include "server/store/audit_log.h"
#include "server/store/blob_store.h"
#include "server/store/directory.h"
#include "server/store/mailbox.h"
#include "server/store/prekey_store.h"

namespace alliance::server {

// Everything the services use; owned by RelayServer, which outlives the services.
struct ServiceDeps {
  const Limits* limits = nullptr;
  const Clock* clock = nullptr;
  AuditLog* audit = nullptr;
  Authenticator* auth = nullptr;
  Directory* directory = nullptr;
  PreKeyStore* prekeys = nullptr;
  Mailbox* mailbox = nullptr;
  BlobStore* blobs = nullptr;
  RateLimiter* send_rate = nullptr;     // per sending account
  RateLimiter* fetch_rate = nullptr;    // per (requester, target account)
  RateLimiter* publish_rate = nullptr;  // per publishing account
  Metrics* metrics = nullptr;
  Logger* logger = nullptr;
  // Reverse proxies whose x-forwarded-for is believed (RelayOptions::trusted_proxies).
  const std::vector<std::string>* trusted_proxies = nullptr;
};

// Converts at the service edge. Internal details (INTERNAL, UNKNOWN, DATA_LOSS) are logged and
// replaced by a fixed message; other codes keep their short, non-identifying message.
grpc::Status ToGrpcStatus(const absl::Status& status, Logger* logger);

// Authenticates `ctx` from its "authorization" metadata. Errors: UNAUTHENTICATED.
[[nodiscard]] absl::StatusOr<Caller> AuthenticateCall(const ServiceDeps& deps,
                                                      grpc::CallbackServerContext* ctx);

// The network identity budgets are charged to for unauthenticated calls (challenges, failed
// logins, link codes): the peer's IPv4 address, or its IPv6 /64 prefix (one host commonly holds
// a whole /64); the port is dropped, so new connections do not buy a new budget. "other" for
// peers of other kinds (unix sockets, in-process). When the peer is one of
// deps.trusted_proxies, the address that proxy appended last to the call's x-forwarded-for
// instead (a client's own entries, earlier in the list, are never believed).
std::string CallerAddress(const ServiceDeps& deps, grpc::CallbackServerContext* ctx);
// The same for a peer string as gRPC formats it ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000").
std::string CallerAddressFromPeer(std::string_view peer);
// And with the x-forwarded-for value (empty: none) and the trusted proxies' addresses.
std::string CallerAddressBehindProxies(std::string_view peer, std::string_view forwarded_for,
                                       const std::vector<std::string>& trusted_proxies);

// Monotonic start time of an RPC, for the latency histograms.
class RpcTimer {
 public:
  explicit RpcTimer(std::string method)
      : method_(std::move(method)), start_(std::chrono::steady_clock::now()) {}
  void Record(Metrics* metrics) const;
  const std::string& method() const { return method_; }

 private:
  std::string method_;
  std::chrono::steady_clock::time_point start_;
};

// One unary call: authenticates, finishes on the default reactor, records latency.
class UnaryCall {
 public:
  UnaryCall(const ServiceDeps* deps, grpc::CallbackServerContext* ctx, std::string method)
      : deps_(deps), ctx_(ctx), timer_(std::move(method)) {}
  [[nodiscard]] absl::StatusOr<Caller> Authenticate() { return AuthenticateCall(*deps_, ctx_); }
  grpc::ServerUnaryReactor* Finish(const absl::Status& status);

 private:
  const ServiceDeps* deps_;
  grpc::CallbackServerContext* ctx_;
  RpcTimer timer_;
};

// Erases keys, mailbox, sessions and links of `account` (DESIGN §5). `deactivate` keeps a
// DEACTIVATED account record (admin action); otherwise the record goes too (self-deletion).
// `actor` is recorded in the audit log.
// `read`: the bytes `account` was read from (Directory::GetAccount).
[[nodiscard]] absl::Status EraseAccount(const ServiceDeps& deps, const AccountRecord& account,
                                        const std::string& read,
                                        const std::string& actor, bool deactivate);

// Validation helpers.
bool IsAccountId(const std::string& bytes);
bool IsAddress(const v1::Address& address);
bool IsOwnAddress(const Caller& caller, const v1::Address& address);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_SERVICES_SERVICE_UTIL_H_

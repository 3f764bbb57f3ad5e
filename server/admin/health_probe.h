// HealthProbe: asks a running relay's standard gRPC health service (grpc.health.v1.Health/Check,
// service "") whether it serves. `alliance-relay status` uses it; so can a container
// HEALTHCHECK or a monitoring script.
//
//   ALLIANCE_ASSIGN_OR_RETURN(ServingState state,
//                             ProbeHealth({.address = "127.0.0.1:7443", .ca_file = "ca.pem"}));
//   if (state == ServingState::kServing) ...
//
// Thread-compatible free function; it makes its own channel for each call.
#ifndef ALLIANCE_SERVER_ADMIN_HEALTH_PROBE_H_
#define ALLIANCE_SERVER_ADMIN_HEALTH_PROBE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace alliance::server {

enum class ServingState { kServing, kNotServing, kUnknown };

// "SERVING", "NOT_SERVING" or "UNKNOWN" (the health service's own names).
std::string_view ServingStateName(ServingState state);

struct ProbeOptions {
  // Relay address, host:port. Required.
  std::string address;
  // PEM CA certificate that signed the relay's certificate; empty means plaintext (a relay
  // without TLS, normally on loopback). Default: empty.
  std::string ca_file;
  // How long to wait for an answer, connection included. Default: 3 s.
  absl::Duration timeout = absl::Seconds(3);
};

// Asks the relay once. Returns its state. Errors (each message one line, naming the address):
// INVALID_ARGUMENT (empty address, unreadable CA file), UNAVAILABLE ("cannot reach relay A: why"
// for refused connections, TLS failures and timeouts), or the relay's own error code.
[[nodiscard]] absl::StatusOr<ServingState> ProbeHealth(const ProbeOptions& options);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_ADMIN_HEALTH_PROBE_H_

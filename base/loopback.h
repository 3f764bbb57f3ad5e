// Loopback decisions by resolved address, never by how a host name is spelled.
//
// Plaintext gRPC is allowed only to (client) or on (relay) the loopback interface. A name such
// as "127.example.org" looks like loopback but may resolve anywhere, so the decision is made on
// the addresses the name resolves to, and the client then connects to that literal address,
// so that a second lookup (DNS rebinding) cannot send the plaintext elsewhere.
//
//   absl::StatusOr<std::string> target = ResolveLoopbackTarget("localhost:7443");
//   // -> "ipv4:127.0.0.1:7443"; FAILED_PRECONDITION for "127.example.org:7443"
//
// Thread-safe (getaddrinfo).
#ifndef ALLIANCE_BASE_LOOPBACK_H_
#define ALLIANCE_BASE_LOOPBACK_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace alliance::base {

// Splits "host:port", "[v6]:port", "ipv4:host:port" or "ipv6:[v6]:port" into host and port.
// INVALID_ARGUMENT when there is no port or the brackets do not match.
[[nodiscard]] absl::Status SplitHostPort(std::string_view address, std::string* host,
                                         std::string* port);

// Resolves `address` ("host:port") and, when every address it resolves to is loopback
// (127.0.0.0/8 or ::1), returns a gRPC target naming the first one literally, e.g.
// "ipv4:127.0.0.1:7443" or "ipv6:[::1]:7443". Errors: INVALID_ARGUMENT (malformed),
// FAILED_PRECONDITION (resolves to a non-loopback address, or does not resolve).
[[nodiscard]] absl::StatusOr<std::string> ResolveLoopbackTarget(std::string_view address);

// True when ResolveLoopbackTarget(address) succeeds.
bool IsLoopbackAddress(std::string_view address);

}  // namespace alliance::base

#endif  // ALLIANCE_BASE_LOOPBACK_H_

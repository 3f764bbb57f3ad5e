#include "base/loopback.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace alliance::base {
namespace {

bool IsLoopbackSockaddr(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

}  // namespace

absl::Status SplitHostPort(std::string_view address, std::string* host, std::string* port) {
  if (address.starts_with("ipv4:") || address.starts_with("ipv6:")) address.remove_prefix(5);
  std::string_view h;
  std::string_view rest;
  if (address.starts_with("[")) {
    size_t close = address.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("unmatched '['");
    h = address.substr(1, close - 1);
    rest = address.substr(close + 1);
    if (!rest.starts_with(":")) return absl::InvalidArgumentError("address needs a port");
    rest.remove_prefix(1);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return absl::InvalidArgumentError("address needs a port");
    h = address.substr(0, colon);
    rest = address.substr(colon + 1);
  }
  if (h.empty() || rest.empty()) return absl::InvalidArgumentError("address needs host and port");
  *host = std::string(h);
  *port = std::string(rest);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResolveLoopbackTarget(std::string_view address) {
  std::string host, port;
  if (absl::Status s = SplitHostPort(address, &host, &port); !s.ok()) return s;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("cannot resolve ", host));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, &freeaddrinfo);
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (!IsLoopbackSockaddr(a->ai_addr)) {
      return absl::FailedPreconditionError(absl::StrCat(host, " is not a loopback address"));
    }
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (found->ai_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr, text,
              sizeof text);
    return absl::StrCat("ipv4:", text, ":", port);
  }
  inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(found->ai_addr)->sin6_addr, text,
            sizeof text);
  return absl::StrCat("ipv6:[", text, "]:", port);
}

bool IsLoopbackAddress(std::string_view address) { return ResolveLoopbackTarget(address).ok(); }

}  // namespace alliance::base

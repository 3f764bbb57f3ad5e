// MetricsHttpServer: serves GET /metrics (Prometheus text) on its own address with
// cpp-httplib, separate from the gRPC port so it can stay on loopback.
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto http, MetricsHttpServer::Start("127.0.0.1:0", &metrics));
//   int port = http->port();
//   http->Stop();
//
// Thread-safe. `metrics` must outlive the server.
#ifndef ALLIANCE_SERVER_INFRA_METRICS_HTTP_H_
#define ALLIANCE_SERVER_INFRA_METRICS_HTTP_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/infra/metrics.h"

namespace httplib {
class Server;
}

namespace alliance::server {

class MetricsHttpServer {
 public:
  // Binds `listen` (host:port, port 0 = any) and serves on a background thread.
  // Errors: INVALID_ARGUMENT (malformed address), UNAVAILABLE (cannot bind).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, const Metrics* metrics);
  ~MetricsHttpServer();

  int port() const { return port_; }
  // Stops serving and joins the thread. Idempotent.
  void Stop();

 private:
  MetricsHttpServer() = default;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_METRICS_HTTP_H_

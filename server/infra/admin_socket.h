// AdminSocket: the running relay's door for its local operator — a Unix domain socket in the
// data directory (`<data>/admin.sock`, mode 0600) that only the relay's own user (or root) may
// use; the relay checks each caller's uid with SO_PEERCRED, so the file mode is not the only
// guard. `alliance-relay backup` talks to it. Nothing on the network can reach it, and no gRPC
// service gains an operator-only method that TLS clients could probe.
//
// Protocol: one request per connection, one line each way (at most 4 KiB):
//   request  "<command> <argument>\n"            e.g. "backup /var/backups/alliance/2026-01-31"
//   reply    "ok <text>\n" | "error <code> <text>\n"   (code: absl::StatusCode number)
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto admin, AdminSocket::Start(data_dir + "/admin.sock",
//       [&](absl::string_view command, absl::string_view argument) { ... }));
//   ALLIANCE_ASSIGN_OR_RETURN(std::string text, AdminRequest(path, "backup", "/abs/dir"));
//
// Requests are served one at a time on the socket's own thread. Thread-safe.
#ifndef ALLIANCE_SERVER_INFRA_ADMIN_SOCKET_H_
#define ALLIANCE_SERVER_INFRA_ADMIN_SOCKET_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace alliance::server {

inline constexpr char kAdminSocketName[] = "admin.sock";

class AdminSocket {
 public:
  // Answers one request: (command, argument) -> reply text, or an error. Runs on the socket's
  // thread; it may block (a backup does) — other operator requests wait meanwhile.
  using Handler =
      std::function<absl::StatusOr<std::string>(absl::string_view command, absl::string_view arg)>;

  // Replaces any stale socket at `path` (the caller holds the database lock, so no other relay
  // uses it) and starts serving. Errors: INVALID_ARGUMENT (path longer than a socket address
  // allows), INTERNAL (socket, bind, listen).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AdminSocket>> Start(const std::string& path,
                                                                          Handler handler);
  // Stops and removes the socket file.
  ~AdminSocket();
  AdminSocket(const AdminSocket&) = delete;
  AdminSocket& operator=(const AdminSocket&) = delete;

 private:
  AdminSocket(std::string path, Handler handler) : path_(std::move(path)), handler_(handler) {}
  void Loop();
  void Serve(int fd);

  const std::string path_;
  const Handler handler_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::thread thread_;
};

// Sends one request to the relay's socket and waits for the reply (at most `timeout`).
// Returns the reply text of "ok". Errors: UNAVAILABLE ("no relay is running on <data dir>":
// no socket or nobody listening), PERMISSION_DENIED (not the relay's user), DEADLINE_EXCEEDED,
// or the code and message the relay sent.
[[nodiscard]] absl::StatusOr<std::string> AdminRequest(const std::string& path,
                                                       absl::string_view command,
                                                       absl::string_view argument,
                                                       absl::Duration timeout);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_ADMIN_SOCKET_H_

// `alliance app`'s web server: the embedded UI and the JSON API of app/API.md, on 127.0.0.1
// only, protected the way a local UI must be against other pages in the same browser and other
// users of the machine:
//
//  * a random one-time launch token (in the printed URL's fragment) is traded for an HttpOnly,
//    SameSite=Strict session cookie; every API call needs that cookie (else 401) and the
//    session's CSRF token in the X-Alliance-CSRF header (else 403);
//  * a Host other than 127.0.0.1:PORT or localhost:PORT is refused (DNS rebinding);
//  * every response carries a strict Content-Security-Policy and no-store caching.
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto server, AppServer::Start({.port = 0, .session = {...}}));
//   std::printf("%s\n", server->LaunchUrl().c_str());
//   server->Wait();  // until Stop()
//
// Thread safety: Stop may be called from any thread (a signal watcher).
#ifndef ALLIANCE_APP_APP_SERVER_H_
#define ALLIANCE_APP_APP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "app/app_session.h"

namespace alliance::app {

struct AppServerOptions {
  // Port on 127.0.0.1; 0 picks a free one.
  int port = 0;
  AppSessionOptions session;
};

class AppServer {
 public:
  // Binds 127.0.0.1:port and starts serving. UNAVAILABLE when the port is taken.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AppServer>> Start(AppServerOptions options);
  ~AppServer();

  int port() const;
  // http://127.0.0.1:PORT/#launch=TOKEN with a fresh one-time token (valid 10 minutes).
  std::string LaunchUrl();
  AppSession& session();
  // Blocks until Stop.
  void Wait();
  void Stop();

  class Impl;

 private:
  explicit AppServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace alliance::app

#endif  // ALLIANCE_APP_APP_SERVER_H_

#include "app/app_server.h"

#include <httplib.h>
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/mutex.h"
#include "app/api.h"
#include "app/app_assets.h"

namespace alliance::app {
namespace {

constexpr char kCookie[] = "alliance_session";
constexpr char kCsrfHeader[] = "X-Alliance-CSRF";
constexpr size_t kMaxSessions = 16;
constexpr size_t kMaxLaunchTokens = 16;
constexpr absl::Duration kLaunchTokenLife = absl::Minutes(10);
constexpr char kCsp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

std::string RandomToken() {
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  char hex[sizeof bytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  sodium_memzero(bytes, sizeof bytes);
  return std::string(hex, sizeof bytes * 2);
}

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && !a.empty() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string CookieValue(const httplib::Request& req) {
  for (absl::string_view part : absl::StrSplit(req.get_header_value("Cookie"), ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, kCookie) && absl::ConsumePrefix(&part, "=")) {
      return std::string(part);
    }
  }
  return "";
}

// Idempotent: the guard, the error handler and the post-routing handler may each call it.
void SecurityHeaders(httplib::Response& res) {
  if (res.has_header("Content-Security-Policy")) return;
  res.set_header("Content-Security-Policy", kCsp);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Cross-Origin-Opener-Policy", "same-origin");
  res.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

// Refuses a request before its body is read. The unread body would be taken for the next
// request on this connection, so the connection ends with the response.
void Refuse(const httplib::Request& req, httplib::Response& res, int status,
            const std::string& sentence) {
  FailWith(res, status, sentence);
  if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
    res.set_header("Connection", "close");
  }
  SecurityHeaders(res);
}

// "/api/contacts/<32 hex digits>/send", the one route that takes files.
bool IsSendRoute(absl::string_view path) {
  if (!absl::ConsumePrefix(&path, "/api/contacts/") || !absl::ConsumeSuffix(&path, "/send")) {
    return false;
  }
  return path.size() == 32 && std::all_of(path.begin(), path.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The body bounds of api.h, from the headers alone: OUT_OF_RANGE when too large,
// INVALID_ARGUMENT for a body without a plain Content-Length (browsers always send one).
absl::Status CheckBodySize(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) {
    return absl::InvalidArgumentError("That request could not be read.");
  }
  if (!req.has_header("Content-Length")) return absl::OkStatus();
  uint64_t length = 0;
  if (!absl::SimpleAtoi(req.get_header_value("Content-Length"), &length)) {
    return absl::InvalidArgumentError("That request could not be read.");
  }
  const bool upload = req.method == "POST" && req.is_multipart_form_data() && IsSendRoute(req.path);
  if (length <= (upload ? kMaxUploadBody : kMaxJsonBody)) return absl::OkStatus();
  return absl::OutOfRangeError(
      upload ? "These files are too large to send together; please send fewer or smaller ones."
             : "That request is too large.");
}

}  // namespace

class AppServer::Impl {
 public:
  explicit Impl(AppServerOptions options) : session_(std::move(options.session)) {}

  absl::Status Start(int port) {
    server_.new_task_queue = [] { return new httplib::ThreadPool(24); };
    // The largest upload; every other body is held to kMaxJsonBody by the guard, before it is read.
    server_.set_payload_max_length(kMaxUploadBody);
    server_.set_keep_alive_timeout(30);
    server_.set_pre_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) { return Guard(req, res); });
    server_.set_post_routing_handler(
        [](const httplib::Request&, httplib::Response& res) { SecurityHeaders(res); });
    server_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) {
        res.set_content(Json{{"error", "That page does not exist."}}.dump(), "application/json");
      }
      SecurityHeaders(res);
    });
    AddAssets();
    server_.Post("/auth/launch",
                 [this](const httplib::Request& req, httplib::Response& res) { Launch(req, res); });
    server_.Get("/api/events",
                [this](const httplib::Request&, httplib::Response& res) { Events(res); });
    Routes routes(server_, session_);
    AddProfileRoutes(routes);
    AddMessageRoutes(routes);
    AddSendRoutes(routes);
    AddAttachmentRoutes(routes);
    AddCareRoutes(routes);
    AddAdminRoutes(routes);

    if (port == 0) {
      port_ = server_.bind_to_any_port("127.0.0.1");
    } else if (server_.bind_to_port("127.0.0.1", port)) {
      port_ = port;
    }
    if (port_ <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on 127.0.0.1:", port,
                                                 " (is another app running?)"));
    }
    listener_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib's stop() does nothing before the accept loop runs, and that loop would then run
    // for ever: return only once it is running, so that a Stop right after Start works.
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ticker_ = std::thread([this] { TickLoop(); });
    return absl::OkStatus();
  }

  void Stop() {
    {
      base::MutexLock lock(&mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    session_.Lock();
    session_.CloseStreams();
    server_.stop();
  }

  void Wait() {
    base::MutexLock lock(&mu_);
    mu_.Await(base::Condition(&stopping_));
  }

  ~Impl() {
    Stop();
    if (listener_.joinable()) listener_.join();
    if (ticker_.joinable()) ticker_.join();
  }

  std::string LaunchUrl() {
    const std::string token = RandomToken();
    base::MutexLock lock(&mu_);
    if (launch_tokens_.size() >= kMaxLaunchTokens) launch_tokens_.erase(launch_tokens_.begin());
    launch_tokens_[token] = absl::Now() + kLaunchTokenLife;
    return absl::StrCat("http://127.0.0.1:", port_, "/#launch=", token);
  }

  int port() const { return port_; }
  AppSession& session() { return session_; }

 private:
  // Host, cookie and CSRF checks, before any route runs.
  httplib::Server::HandlerResponse Guard(const httplib::Request& req, httplib::Response& res) {
    using R = httplib::Server::HandlerResponse;
    const std::string host = req.get_header_value("Host");
    if (host != absl::StrCat("127.0.0.1:", port_) && host != absl::StrCat("localhost:", port_)) {
      FailWith(res, 403, "This address is not allowed. Open the link the app printed.");
      SecurityHeaders(res);
      return R::Handled;
    }
    const std::string origin = req.get_header_value("Origin");
    if (!origin.empty() && origin != absl::StrCat("http://", host)) {
      FailWith(res, 403, "Requests from other pages are not allowed.");
      SecurityHeaders(res);
      return R::Handled;
    }
    if (absl::Status size = CheckBodySize(req); !size.ok()) {
      Refuse(req, res, absl::IsOutOfRange(size) ? 413 : 400, std::string(size.message()));
      return R::Handled;
    }
    if (!absl::StartsWith(req.path, "/api/")) return R::Unhandled;
    const std::string cookie = CookieValue(req);
    std::string csrf;
    {
      base::MutexLock lock(&mu_);
      for (const auto& [c, token] : sessions_) {
        if (SameSecret(cookie, c)) csrf = token;
      }
    }
    if (csrf.empty()) {
      Refuse(req, res, 401, "Open Alliance from the link the app printed when it started.");
      return R::Handled;
    }
    if (!SameSecret(req.get_header_value(kCsrfHeader), csrf)) {
      Refuse(req, res, 403, "This request was refused. Reload the page and try again.");
      return R::Handled;
    }
    return R::Unhandled;
  }

  void Launch(const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<Json> body = Body(req);
    absl::StatusOr<std::string> token =
        body.ok() ? Str(*body, "token", 128, "token") : absl::StatusOr<std::string>(body.status());
    bool valid = false;
    const std::string cookie = RandomToken();
    const std::string csrf = RandomToken();
    {
      base::MutexLock lock(&mu_);
      if (token.ok()) {
        for (auto it = launch_tokens_.begin(); it != launch_tokens_.end(); ++it) {
          if (SameSecret(*token, it->first)) {
            valid = it->second > absl::Now();
            launch_tokens_.erase(it);  // Used once, whatever the outcome.
            break;
          }
        }
      }
      if (valid) {
        if (sessions_.size() >= kMaxSessions) sessions_.erase(sessions_.begin());
        sessions_.emplace_back(cookie, csrf);
      }
    }
    if (!valid) {
      return FailWith(res, 403,
                      "This link has already been used. Start the app again for a new one.");
    }
    res.set_header("Set-Cookie", absl::StrCat(kCookie, "=", cookie,
                                              "; HttpOnly; SameSite=Strict; Path=/"));
    res.set_content(Json{{"csrf", csrf}}.dump(), "application/json");
  }

  void Events(httplib::Response& res) {
    std::shared_ptr<EventQueue> q = session_.OpenStream();
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, q](size_t, httplib::DataSink& sink) {
          std::string out = ": connected\n\n";
          bool first = true;
          while (!q->closed()) {
            if (!first) {
              std::vector<PageEvent> events = q->Wait(absl::Seconds(15));
              out = events.empty() ? ": keep-alive\n\n" : "";
              for (const PageEvent& e : events) {
                absl::StrAppend(&out, "event: ", e.name, "\ndata: ", e.json, "\n\n");
              }
            }
            first = false;
            if (IsStopping() || !sink.write(out.data(), out.size())) return false;
          }
          return false;
        },
        [this, q](bool) { session_.CloseStream(q); });
  }

  bool IsStopping() {
    base::MutexLock lock(&mu_);
    return stopping_;
  }

  void TickLoop() {
    while (true) {
      {
        base::MutexLock lock(&mu_);
        if (mu_.AwaitWithTimeout(base::Condition(&stopping_), absl::Seconds(1))) return;
      }
      session_.Tick();
    }
  }

  void AddAssets() {
    for (size_t i = 0; i < kAssetCount; ++i) {
      const Asset& a = kAssets[i];
      const std::string path = a.path;
      auto handler = [a](const httplib::Request&, httplib::Response& res) {
        res.set_content(reinterpret_cast<const char*>(a.data), a.size, a.content_type);
      };
      server_.Get(path, handler);
      if (path == "/index.html") server_.Get("/", handler);
    }
  }

  AppSession session_;
  httplib::Server server_;
  int port_ = -1;
  std::thread listener_;
  std::thread ticker_;
  base::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, absl::Time> launch_tokens_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> sessions_ ABSL_GUARDED_BY(mu_);  // cookie, csrf
};

absl::StatusOr<std::unique_ptr<AppServer>> AppServer::Start(AppServerOptions options) {
  const int port = options.port;
  auto impl = std::make_unique<Impl>(std::move(options));
  absl::Status s = impl->Start(port);
  if (!s.ok()) return s;
  return std::unique_ptr<AppServer>(new AppServer(std::move(impl)));
}

AppServer::AppServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AppServer::~AppServer() = default;
int AppServer::port() const { return impl_->port(); }
std::string AppServer::LaunchUrl() { return impl_->LaunchUrl(); }
AppSession& AppServer::session() { return impl_->session(); }
void AppServer::Wait() { impl_->Wait(); }
void AppServer::Stop() { impl_->Stop(); }

}  // namespace alliance::app

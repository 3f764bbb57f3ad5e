// The JSON API of app/API.md, one file per group of routes (api_profile.cc, api_messages.cc,
// api_send.cc, api_attachments.cc, api_care.cc, api_admin.cc), and what they share: turning a status into one plain sentence
// for the page, reading request bodies with bounds, and the routes' wrapper that hands each
// handler the unlocked client.
//
// Authentication, CSRF and Host checks happen before any of these run (app_server.cc).
#ifndef ALLIANCE_APP_API_H_
#define ALLIANCE_APP_API_H_

#include <httplib.h>

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "app/app_session.h"
#include "client/client.h"
#include "wire/protocol.h"

namespace alliance::app {

using Json = nlohmann::json;

// A handler of an unlocked profile. It fills `out` (sent as JSON with 200) or returns an error,
// which the wrapper turns into a status code and one plain sentence.
using ClientHandler = std::function<absl::Status(const httplib::Request& req, client::Client& c,
                                                 Json& out)>;
// A handler that runs locked or unlocked (state, unlock, create).
using SessionHandler =
    std::function<absl::Status(const httplib::Request& req, AppSession& s, Json& out)>;
// A handler of an unlocked profile that reads the request body itself, as it arrives (uploads).
// It must read the whole body (ReadJsonBody, ReadSendForm) on every path, so that the connection
// stays usable; `session` gives the profile directory for staging files.
using StreamedHandler =
    std::function<absl::Status(const httplib::Request& req, const httplib::ContentReader& reader,
                               AppSession& session, client::Client& c, Json& out)>;

// Request bodies. Every route takes JSON of at most kMaxJsonBody bytes, except the send route
// with multipart/form-data (files): at most kMaxUploadBody. Larger requests are refused before
// any of their body is read (app_server.cc). A request body with Transfer-Encoding is refused.
inline constexpr size_t kMaxJsonBody = 256 * 1024;
// The relay's default attachment limit (server/infra/config.h); a clinic may set it lower, and
// the relay then says so when the file is sent.
inline constexpr size_t kMaxUploadFileBytes = size_t{50} << 20;
// Eight files at the relay's default limit, with room for the text fields and part headers.
inline constexpr size_t kMaxUploadBody =
    wire::kMaxAttachmentsPerMessage * kMaxUploadFileBytes + (size_t{1} << 20);

// Registers handlers on `server`; the handlers refer to `session`, not to this object, which may
// go away once the routes are added.
class Routes {
 public:
  Routes(httplib::Server& server, AppSession& session) : server_(server), session_(session) {}
  void Get(const std::string& pattern, ClientHandler h);
  void Post(const std::string& pattern, ClientHandler h);
  void GetSession(const std::string& pattern, SessionHandler h);
  void PostSession(const std::string& pattern, SessionHandler h);
  void PostStreamed(const std::string& pattern, StreamedHandler h);
  httplib::Server& server() { return server_; }
  AppSession& session() { return session_; }

 private:
  httplib::Server& server_;
  AppSession& session_;
};

void AddProfileRoutes(Routes& r);
void AddMessageRoutes(Routes& r);
void AddSendRoutes(Routes& r);
void AddAttachmentRoutes(Routes& r);
void AddCareRoutes(Routes& r);
void AddAdminRoutes(Routes& r);

// Writes {"error": sentence} with the HTTP status for `status`'s code. The sentence is plain
// language for the page; a status message from the library is used only for INVALID_ARGUMENT
// (the library's validation messages are one line and carry no secret).
void Fail(httplib::Response& res, const absl::Status& status);
void FailWith(httplib::Response& res, int http_status, const std::string& sentence);
// A one-line library message as a sentence for the page: "message is empty" becomes
// "Message is empty.".
std::string Sentence(absl::string_view message);

// `j` as compact JSON; invalid UTF-8 becomes U+FFFD instead of an exception.
std::string Dump(const Json& j);
// The request body as a JSON object. INVALID_ARGUMENT when it is not one.
absl::StatusOr<Json> Body(const httplib::Request& req);
// A string field of at most `max` bytes. INVALID_ARGUMENT ("<what> is missing/too long").
absl::StatusOr<std::string> Str(const Json& body, const char* key, size_t max, const char* what,
                                bool required = true);
// An integer field within [lo, hi].
absl::StatusOr<int64_t> Int(const Json& body, const char* key, int64_t lo, int64_t hi,
                            const char* what);
bool Flag(const Json& body, const char* key);

// Times for people, in this machine's zone: "Thu 10 Dec 10:00".
std::string TimeText(absl::Time t);
int64_t Millis(absl::Time t);
// A QR code of `text` as {"size": N, "rows": ["0101...", ...]} (libqrencode, level M).
Json QrJson(const std::string& text);
// The contact id captured by a route's first group (32 hex digits).
std::string ContactId(const httplib::Request& req);

// A message as the page sees it (app/API.md, `<message>`), attachments included.
Json MessageJson(const client::MessageView& m);
// "needs_reply" (or empty), "next_session", "fyi". INVALID_ARGUMENT otherwise.
absl::StatusOr<v1::Intent> ParseIntent(const std::string& s);

}  // namespace alliance::app

#endif  // ALLIANCE_APP_API_H_

// The app's web server over real sockets on 127.0.0.1 (cpp-httplib's client), with a real relay
// where a test needs one: the protections of a local UI (launch token, cookie, CSRF, Host,
// CSP, loopback only), locking, and the JSON API driving a real profile.
#include "app/app_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "app/api.h"
#include "gtest/gtest.h"
#include "tests/client/client_fixture.h"

namespace alliance::app {
namespace {

using Json = nlohmann::json;
using client::testing::ClientFixture;

class AppServerTest : public ClientFixture {
 protected:
  void StartApp(absl::Duration idle = absl::Minutes(15)) {
    AppServerOptions o;
    o.port = 0;
    o.session.profile_dir = (root_ / "app-profile").string();
    o.session.idle = idle;
    o.session.cost = crypto::PassphraseCost::Interactive();
    auto s = AppServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    app_ = *std::move(s);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", app_->port());
    http_->set_read_timeout(20, 0);
  }
  void TearDown() override {
    http_.reset();
    app_.reset();
    ClientFixture::TearDown();
  }

  std::string Token() {
    const std::string url = app_->LaunchUrl();
    return url.substr(url.find("#launch=") + 8);
  }

  // Trades a launch token for the session cookie and CSRF token.
  void Launch() {
    auto res = http_->Post("/auth/launch", Json{{"token", Token()}}.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const std::string set_cookie = res->get_header_value("Set-Cookie");
    EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos);
    EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos);
    cookie_ = set_cookie.substr(0, set_cookie.find(';'));
    csrf_ = Json::parse(res->body)["csrf"];
  }

  httplib::Headers Auth() { return {{"Cookie", cookie_}, {"X-Alliance-CSRF", csrf_}}; }

  std::filesystem::path Profile() const { return root_ / "app-profile"; }

  // An admin and a therapist through the library; the app's profile joins as her client through
  // the API. Returns the therapist's contact id as the app sees it.
  std::string RegisterAppAsClient() {
    admin_ = Join("admin", bootstrap_);
    EXPECT_NE(admin_, nullptr);
    if (admin_ == nullptr) return "";
    therapist_ = Join("therapist", Invite(*admin_, v1::ROLE_THERAPIST));
    EXPECT_NE(therapist_, nullptr);
    if (therapist_ == nullptr) return "";
    auto c_invite = therapist_->CreateInvite(v1::ROLE_CLIENT);
    EXPECT_TRUE(c_invite.ok());
    StartApp();
    Launch();
    EXPECT_EQ(Post("/api/profile", Json{{"passphrase", "correct horse battery"}})->status, 200);
    auto reg = Post("/api/register",
                    Json{{"invite", c_invite->code}, {"relay", Address()}, {"name", "Sam"}});
    EXPECT_EQ(reg->status, 200) << reg->body;
    auto contacts = Get("/api/contacts");
    Json list = Json::parse(contacts->body);
    EXPECT_EQ(list.size(), 1u);
    return list.empty() ? "" : list[0]["id"].get<std::string>();
  }

  httplib::Result PostFiles(const std::string& path, const httplib::MultipartFormDataItems& items) {
    return http_->Post(path.c_str(), Auth(), items);
  }

  // The staging directory holds nothing once a request is over.
  bool StagingIsEmpty() const {
    const std::filesystem::path dir = root_ / "app-profile" / "app-staging";
    if (!std::filesystem::exists(dir)) return true;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      (void)e;
      return false;
    }
    return true;
  }

  // Sends a raw request head (no body) on a new connection; returns the response's head.
  std::string RawHead(const std::string& head) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(app_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return "";
    }
    EXPECT_EQ(::send(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
    std::string got;
    char buf[4096];
    ssize_t n;
    while (got.find("\r\n\r\n") == std::string::npos &&
           (n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
      got.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return got.substr(0, got.find("\r\n\r\n"));
  }
  std::string RawStatusLine(const std::string& head) {
    const std::string got = RawHead(head);
    return got.substr(0, got.find("\r\n"));
  }
  // A GET with the session, as the browser sends it.
  std::string RawGetHead(const std::string& path) {
    return RawHead(absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1:", app_->port(),
                                "\r\nCookie: ", cookie_, "\r\nX-Alliance-CSRF: ", csrf_,
                                "\r\nConnection: close\r\n\r\n"));
  }

  httplib::Result Get(const std::string& path) { return http_->Get(path.c_str(), Auth()); }
  httplib::Result Post(const std::string& path, const Json& body) {
    return http_->Post(path.c_str(), Auth(), body.dump(), "application/json");
  }

  std::unique_ptr<AppServer> app_;
  std::unique_ptr<httplib::Client> http_;
  std::string cookie_;
  std::string csrf_;
};

TEST_F(AppServerTest, ApiWithoutTheSessionCookieIs401) {
  StartApp();
  auto res = http_->Get("/api/state");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_NE(Json::parse(res->body)["error"].get<std::string>().find("link"), std::string::npos);
}

TEST_F(AppServerTest, ApiWithoutTheCsrfHeaderIs403) {
  StartApp();
  Launch();
  auto res = http_->Get("/api/state", {{"Cookie", cookie_}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  auto wrong = http_->Get("/api/state", {{"Cookie", cookie_}, {"X-Alliance-CSRF", "0000"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  auto ok = Get("/api/state");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(AppServerTest, AnotherHostIsRefusedAgainstDnsRebinding) {
  StartApp();
  Launch();
  httplib::Headers h = Auth();
  h.emplace("Host", "attacker.example:" + std::to_string(app_->port()));
  for (const char* path : {"/", "/api/state", "/js/main.js"}) {
    auto res = http_->Get(path, h);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 403) << path;
  }
  httplib::Headers localhost = Auth();
  localhost.emplace("Host", "localhost:" + std::to_string(app_->port()));
  auto res = http_->Get("/api/state", localhost);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(AppServerTest, RequestsFromAnotherOriginAreRefused) {
  StartApp();
  Launch();
  httplib::Headers h = Auth();
  h.emplace("Origin", "http://evil.example");
  auto res = http_->Post("/api/lock", h, "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
}

TEST_F(AppServerTest, ALaunchTokenWorksOnce) {
  StartApp();
  const std::string token = Token();
  auto first = http_->Post("/auth/launch", Json{{"token", token}}.dump(), "application/json");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  auto second = http_->Post("/auth/launch", Json{{"token", token}}.dump(), "application/json");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 403);
  auto made_up = http_->Post("/auth/launch", Json{{"token", std::string(64, 'a')}}.dump(),
                             "application/json");
  ASSERT_TRUE(made_up);
  EXPECT_EQ(made_up->status, 403);
  auto garbage = http_->Post("/auth/launch", "not json", "application/json");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 403);
}

TEST_F(AppServerTest, EveryResponseCarriesTheContentSecurityPolicy) {
  StartApp();
  for (const char* path : {"/", "/index.html", "/app.css", "/js/main.js", "/api/state", "/nope"}) {
    auto res = http_->Get(path);
    ASSERT_TRUE(res) << path;
    const std::string csp = res->get_header_value("Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << path;
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << path;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << path;
    EXPECT_EQ(res->get_header_value("Cache-Control"), "no-store") << path;
  }
  auto refused = http_->Get("/api/state");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->get_header_value_count("Content-Security-Policy"), 1u) << "sent once";
  auto page = http_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body.find("<script>"), std::string::npos) << "no inline script";
  EXPECT_EQ(page->body.find("http://"), std::string::npos) << "no remote origin";
  EXPECT_EQ(page->body.find("https://"), std::string::npos) << "no remote origin";
}

// /proc/net/tcp lists listening sockets with their local address in hex (127.0.0.1 is
// 0100007F): the app's port must be bound to loopback and nothing else.
TEST_F(AppServerTest, ListensOnLoopbackOnly) {
  StartApp();
  std::ifstream tcp("/proc/net/tcp");
  ASSERT_TRUE(tcp) << "no /proc/net/tcp";
  const std::string port = absl::StrFormat(":%04X", app_->port());
  std::string line;
  int listening = 0;
  while (std::getline(tcp, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state;
    in >> slot >> local >> remote >> state;
    if (state != "0A" || local.size() < port.size() ||
        local.compare(local.size() - port.size(), port.size(), port) != 0) {
      continue;
    }
    ++listening;
    EXPECT_EQ(local, "0100007F" + port);
  }
  EXPECT_EQ(listening, 1);
  std::ifstream tcp6("/proc/net/tcp6");
  while (std::getline(tcp6, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state;
    in >> slot >> local >> remote >> state;
    if (state == "0A" && local.size() >= port.size()) {
      EXPECT_NE(local.compare(local.size() - port.size(), port.size(), port), 0)
          << "listening on IPv6: " << local;
    }
  }
}

TEST_F(AppServerTest, LockedApiAnswers423AndAWrongPassphraseIsOnePlainSentence) {
  StartApp();
  Launch();
  auto created = Post("/api/profile", Json{{"passphrase", "correct horse battery"}});
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 200) << created->body;
  EXPECT_TRUE(Json::parse(created->body)["unlocked"].get<bool>());
  ASSERT_EQ(Post("/api/lock", Json::object())->status, 200);
  auto contacts = Get("/api/contacts");
  ASSERT_TRUE(contacts);
  EXPECT_EQ(contacts->status, 423);
  auto wrong = Post("/api/unlock", Json{{"passphrase", "not it at all"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  EXPECT_EQ(Json::parse(wrong->body)["error"], "That passphrase is not right.");
  auto right = Post("/api/unlock", Json{{"passphrase", "correct horse battery"}});
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  EXPECT_TRUE(Json::parse(right->body)["unlocked"].get<bool>());
}

TEST_F(AppServerTest, ATooShortPassphraseIsRefusedAndNoProfileIsMade) {
  StartApp();
  Launch();
  auto res = Post("/api/profile", Json{{"passphrase", "short"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_FALSE(Json::parse(Get("/api/state")->body)["profile"].get<bool>());
}

TEST_F(AppServerTest, LocksItselfWhenIdleAndTellsTheEventStream) {
  StartApp(absl::Seconds(2));
  Launch();
  ASSERT_EQ(Post("/api/profile", Json{{"passphrase", "correct horse battery"}})->status, 200);
  // Read the event stream on its own connection until it says `locked`.
  bool saw_locked = false;
  httplib::Client stream("127.0.0.1", app_->port());
  stream.set_read_timeout(20, 0);
  std::string received;
  stream.Get("/api/events", Auth(), [&](const char* data, size_t n) {
    received.append(data, n);
    saw_locked = received.find("event: locked") != std::string::npos;
    return !saw_locked;
  });
  EXPECT_TRUE(saw_locked) << received;
  EXPECT_FALSE(app_->session().unlocked());
  EXPECT_EQ(Get("/api/contacts")->status, 423);
}

TEST_F(AppServerTest, RegistersThroughTheApiAndSendsToItsTherapist) {
  auto admin = Join("admin", bootstrap_);
  ASSERT_NE(admin, nullptr);
  auto t_invite = admin->CreateInvite(v1::ROLE_THERAPIST);
  ASSERT_TRUE(t_invite.ok());
  auto therapist = Join("therapist", *client::ParseInviteCode(t_invite->code));
  ASSERT_NE(therapist, nullptr);
  auto c_invite = therapist->CreateInvite(v1::ROLE_CLIENT);
  ASSERT_TRUE(c_invite.ok());

  StartApp();
  Launch();
  ASSERT_EQ(Post("/api/profile", Json{{"passphrase", "correct horse battery"}})->status, 200);
  auto bad = Post("/api/register", Json{{"invite", "1234"}, {"relay", Address()}, {"name", "Sam"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto reg = Post("/api/register",
                  Json{{"invite", c_invite->code}, {"relay", Address()}, {"name", "Sam"}});
  ASSERT_TRUE(reg);
  ASSERT_EQ(reg->status, 200) << reg->body;
  Json state = Json::parse(reg->body);
  EXPECT_TRUE(state["registered"].get<bool>());
  EXPECT_EQ(state["account"]["role"], "client");

  auto contacts = Get("/api/contacts");
  ASSERT_EQ(contacts->status, 200) << contacts->body;
  Json list = Json::parse(contacts->body);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["role"], "therapist");
  const std::string id = list[0]["id"];
  auto sent = Post("/api/contacts/" + id + "/send",
                   Json{{"body", "Hello from the app"}, {"intent", "fyi"}});
  ASSERT_EQ(sent->status, 200) << sent->body;
  Json s = Json::parse(sent->body);
  EXPECT_TRUE(s["sent"].get<bool>());
  EXPECT_EQ(s["message"]["body"], "Hello from the app");
  EXPECT_EQ(s["message"]["intent"], "fyi");

  auto got = therapist->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].body, "Hello from the app");

  auto crisis = Post("/api/contacts/" + id + "/send",
                     Json{{"body", "I want to kill myself"}, {"intent", "needs_reply"}});
  ASSERT_EQ(crisis->status, 200);
  Json c = Json::parse(crisis->body);
  EXPECT_TRUE(c["crisis_prompt"].get<bool>());
  EXPECT_FALSE(c["sent"].get<bool>());
  EXPECT_TRUE(c["emergency_notice"].is_string());

  auto unknown = Get("/api/contacts/" + std::string(32, 'a') + "/thread");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto malformed = Post("/api/contacts/" + id + "/send", Json{{"body", 42}});
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);

  // Garbage into every route that takes a body: one plain sentence, never a crash or a 500.
  const std::vector<std::string> routes = {
      "/api/contacts/" + id + "/send",        "/api/contacts/" + id + "/agreement",
      "/api/contacts/" + id + "/concerns",    "/api/contacts/" + id + "/goals",
      "/api/contacts/" + id + "/verify",      "/api/contacts/" + id + "/accept",
      "/api/out-of-office",                   "/api/admin/invites",
      "/api/settings",                        "/api/unlock",
      "/api/contacts/" + id + "/concerns/" + std::string(32, 'b'),
      "/api/contacts/" + id + "/goals/" + std::string(32, 'c')};
  const std::vector<std::string> bodies = {
      "", "null", "[]", "{", "\"text\"", "{\"body\":[1,2]}", "{\"percent\":1e400}",
      "{\"windows\":[{\"day\":7}],\"time_zone\":\"Mars/Base\"}",
      "{\"periods\":[{\"start\":-1,\"end\":18446744073709551615}]}",
      "{\"idle_minutes\":9999999999999}", std::string(1000, '[')};
  for (const std::string& route : routes) {
    for (const std::string& body : bodies) {
      auto res = http_->Post(route.c_str(), Auth(), body, "application/json");
      ASSERT_TRUE(res) << route << " " << body;
      EXPECT_GE(res->status, 400) << route << " " << body;
      EXPECT_LT(res->status, 500) << route << " " << body << " -> " << res->body;
      EXPECT_TRUE(Json::parse(res->body, nullptr, false).contains("error")) << res->body;
    }
  }
  EXPECT_EQ(Get("/api/state")->status, 200);
}

// Deterministic bytes of `size`, all 256 values (a file, not text).
std::string FileBytes(size_t size, uint32_t seed) {
  std::string s(size, '\0');
  for (char& c : s) {
    seed = seed * 1103515245 + 12345;
    c = static_cast<char>(seed >> 24);
  }
  return s;
}

// A preview the library accepts: PNG bytes (it checks the signature and the size).
std::string PngBytes() { return std::string("\x89PNG\r\n\x1a\n", 8) + FileBytes(600, 7); }

TEST_F(AppServerTest, SendsFilesAsMultipartAndSavesReceivedOnesThroughTheApp) {
  const std::string id = RegisterAppAsClient();
  ASSERT_FALSE(id.empty());
  const std::string pdf = FileBytes(300 * 1000, 1);
  const std::string png = PngBytes();
  auto sent = PostFiles("/api/contacts/" + id + "/send",
                        {{"body", "Here is the worksheet", "", ""},
                         {"intent", "fyi", "", ""},
                         {"file", pdf, "worksheet.pdf", "application/pdf"},
                         {"file", png, "drawing.png", "image/png"},
                         {"thumbnail_1", png, "preview.png", "image/png"}});
  ASSERT_TRUE(sent);
  ASSERT_EQ(sent->status, 200) << sent->body;
  Json s = Json::parse(sent->body);
  EXPECT_TRUE(s["sent"].get<bool>());
  Json files = s["message"]["attachments"];
  ASSERT_EQ(files.size(), 2u) << s.dump();
  EXPECT_EQ(files[0]["file_name"], "worksheet.pdf");
  EXPECT_EQ(files[0]["media_type"], "application/pdf");
  EXPECT_EQ(files[0]["size"], pdf.size());
  EXPECT_EQ(files[0]["size_text"], "300 KB");
  EXPECT_TRUE(files[0]["thumbnail"].is_null());
  EXPECT_EQ(files[1]["thumbnail"], "data:image/png;base64," + absl::Base64Escape(png));
  EXPECT_TRUE(StagingIsEmpty());

  // The therapist gets both files, byte for byte.
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_FALSE(got->empty());
  const client::MessageView& m = got->back();
  ASSERT_EQ(m.attachments.size(), 2u);
  const std::filesystem::path saved = root_ / "therapist-saved";
  std::filesystem::create_directories(saved);
  auto path = therapist_->SaveAttachment(m.id, 0, saved.string());
  ASSERT_TRUE(path.ok()) << path.status();
  std::ifstream in(*path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), pdf);

  // A file from the therapist, with a name that needs encoding, saved through the app.
  const std::string reply = FileBytes(70 * 1000, 2);
  const std::filesystem::path source = root_ / "plan.txt";
  std::ofstream(source, std::ios::binary) << reply;
  client::SendOptions o;
  o.attachments.push_back({.path = source.string(), .file_name = "Plan für Woche 2.txt"});
  auto back = therapist_->SendText("Sam", "", o);
  ASSERT_TRUE(back.ok()) << back.status();
  // The app's listener stores it when it arrives.
  Json last = Json::object();
  for (int i = 0; i < 200 && last.value("direction", "") != "in"; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto thread = Get("/api/contacts/" + id + "/thread");
    ASSERT_EQ(thread->status, 200);
    last = Json::parse(thread->body)["messages"].back();
  }
  ASSERT_EQ(last["direction"], "in") << last.dump();
  ASSERT_EQ(last["attachments"].size(), 1u) << last.dump();
  EXPECT_EQ(last["body"], "");
  EXPECT_EQ(last["attachments"][0]["file_name"], "Plan für Woche 2.txt");
  auto download = Get("/api/attachments/" + last["id"].get<std::string>() + "/0");
  ASSERT_TRUE(download);
  ASSERT_EQ(download->status, 200) << download->body;
  EXPECT_EQ(download->body, reply);
  EXPECT_EQ(download->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(download->get_header_value("X-Content-Type-Options"), "nosniff");
  // httplib's client percent-decodes header values: read the raw head.
  const std::string head = RawGetHead("/api/attachments/" + last["id"].get<std::string>() + "/0");
  EXPECT_TRUE(absl::StrContains(
      head, "\r\nContent-Disposition: attachment; filename=\"Plan f__r Woche 2.txt\"; "
            "filename*=UTF-8''Plan%20f%C3%BCr%20Woche%202.txt\r\n"))
      << head;
  EXPECT_EQ(download->get_header_value("Cache-Control"), "no-store");
  EXPECT_TRUE(StagingIsEmpty());

  // Its own sent file, too (the ciphertext is kept in the profile).
  auto own = Get("/api/attachments/" + s["message"]["id"].get<std::string>() + "/1");
  ASSERT_EQ(own->status, 200) << own->body;
  EXPECT_EQ(own->body, png);

  auto missing = Get("/api/attachments/" + last["id"].get<std::string>() + "/5");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(Json::parse(missing->body)["error"].is_string());
  auto no_csrf = http_->Get(("/api/attachments/" + last["id"].get<std::string>() + "/0").c_str(),
                            httplib::Headers{{"Cookie", cookie_}});
  ASSERT_TRUE(no_csrf);
  EXPECT_EQ(no_csrf->status, 403);
  EXPECT_EQ(no_csrf->body.find(reply.substr(0, 64)), std::string::npos);
  // The JSON send still works on the same route.
  EXPECT_EQ(Post("/api/contacts/" + id + "/send", Json{{"body", "Thanks"}})->status, 200);
}

TEST_F(AppServerTest, NineFilesOrAFileOverTheRelaysLimitIsOnePlainSentence) {
  limits_.max_attachment_bytes = 1 << 20;
  RestartRelay();
  const std::string id = RegisterAppAsClient();
  ASSERT_FALSE(id.empty());
  httplib::MultipartFormDataItems nine = {{"body", "nine", "", ""}};
  for (int i = 0; i < 9; ++i) {
    nine.push_back({"file", "x", absl::StrCat("f", i, ".txt"), "text/plain"});
  }
  auto refused = PostFiles("/api/contacts/" + id + "/send", nine);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  EXPECT_EQ(Json::parse(refused->body)["error"], "You can send up to 8 files with one message.");
  EXPECT_TRUE(StagingIsEmpty());

  auto big = PostFiles("/api/contacts/" + id + "/send",
                       {{"body", "", "", ""},
                        {"file", FileBytes((1 << 20) + 1, 3), "scan.pdf", "application/pdf"}});
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 400);
  EXPECT_EQ(Json::parse(big->body)["error"],
            "The file scan.pdf is too large to send: the clinic's server takes files up to 1 MB.");
  EXPECT_TRUE(StagingIsEmpty());

  auto big_preview = PostFiles("/api/contacts/" + id + "/send",
                               {{"file", "x", "a.png", "image/png"},
                                {"thumbnail_0", PngBytes() + std::string(25 * 1024, 'x'), "p.png",
                                 "image/png"}});
  ASSERT_TRUE(big_preview);
  EXPECT_EQ(big_preview->status, 400);
  EXPECT_EQ(Json::parse(big_preview->body)["error"], "A preview image is too large.");

  // With the relay away, a text is queued but a message with files is not: the page is told.
  StopRelay();
  auto away = PostFiles("/api/contacts/" + id + "/send",
                        {{"body", "later", "", ""}, {"file", "x", "a.txt", "text/plain"}});
  ASSERT_TRUE(away);
  EXPECT_EQ(away->status, 409);
  EXPECT_EQ(Json::parse(away->body)["error"],
            "Can't reach the clinic's server right now, so the files were not sent; please try "
            "again when it's back.");
  EXPECT_TRUE(StagingIsEmpty());
  RestartRelay();

  // Nothing above was sent; the connection still works.
  auto thread = Get("/api/contacts/" + id + "/thread");
  ASSERT_EQ(thread->status, 200);
  for (const Json& m : Json::parse(thread->body)["messages"]) EXPECT_NE(m["direction"], "out");
}

TEST_F(AppServerTest, ABodyOverTheBoundIsRefusedBeforeItIsRead) {
  StartApp();
  Launch();
  const std::string host = absl::StrCat("Host: 127.0.0.1:", app_->port(), "\r\n");
  const std::string auth = absl::StrCat("Cookie: ", cookie_, "\r\nX-Alliance-CSRF: ", csrf_, "\r\n");
  const std::string send = absl::StrCat("/api/contacts/", std::string(32, 'a'), "/send");
  EXPECT_EQ(RawStatusLine(absl::StrCat(
                "POST ", send, " HTTP/1.1\r\n", host, auth,
                "Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: ",
                kMaxUploadBody + 1, "\r\n\r\n")),
            "HTTP/1.1 413 Payload Too Large");
  EXPECT_EQ(RawStatusLine(absl::StrCat("POST ", send, " HTTP/1.1\r\n", host, auth,
                                       "Content-Type: application/json\r\nContent-Length: ",
                                       kMaxJsonBody + 1, "\r\n\r\n")),
            "HTTP/1.1 413 Payload Too Large");
  EXPECT_EQ(RawStatusLine(absl::StrCat("POST /api/lock HTTP/1.1\r\n", host, auth,
                                       "Content-Type: application/json\r\n"
                                       "Transfer-Encoding: chunked\r\n\r\n")),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(Get("/api/state")->status, 200);
}

}  // namespace
}  // namespace alliance::app

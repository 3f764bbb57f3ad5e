// The app's web server over real sockets on 127.0.0.1 (cpp-httplib's client), with a real relay
// where a test needs one: the protections of a local UI (launch token, cookie, CSRF, Host,
// CSP, loopback only), locking, and the JSON API driving a real profile.
#include "app/app_server.h"

#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

}  // namespace
}  // namespace alliance::app

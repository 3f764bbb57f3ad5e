// The real alliance-relay binary: init prints a bootstrap invite, serve answers gRPC health
// checks and /metrics, SIGTERM makes it exit 0, check verifies the database afterwards.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <future>
#include <regex>

#include "alliance/v1/accounts_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/relay_harness.h"

namespace alliance::server {
namespace {

const std::string kBinary = std::string(ALLIANCE_BINARY_DIR) + "/server/alliance-relay";

using testing::RunCommand;

class ProcessTest : public ::testing::Test {
 protected:
  ProcessTest() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "alliance-proc-XXXXXX").string();
    root_ = mkdtemp(tmpl.data());
  }
  ~ProcessTest() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  // Starts `serve`; returns the first line it prints.
  std::string Serve(const std::vector<std::string>& extra) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<std::string> args = {kBinary, "serve"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(kBinary.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    FILE* out = fdopen(fds[0], "r");
    char line[256] = {0};
    if (fgets(line, sizeof(line), out) == nullptr) line[0] = 0;
    fclose(out);
    return line;
  }

  int WaitExit() {
    int status = 0;
    for (int i = 0; i < 400; ++i) {  // at most ~20 s
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      usleep(50'000);
    }
    return -1;
  }

  std::string root_;
  pid_t pid_ = -1;
};

TEST_F(ProcessTest, InitServeHealthMetricsSigtermCheck) {
  const std::string data = root_ + "/db";
  auto [init_code, init_out] = RunCommand(kBinary + " init --data " + data);
  ASSERT_EQ(init_code, 0) << init_out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(init_out, m, std::regex("\n([0-9a-f]{32})\n"))) << init_out;

  std::string line = Serve({"--data", data, "--listen", "127.0.0.1:0", "--metrics-listen",
                            "127.0.0.1:0", "--log-file", root_ + "/relay.log"});
  std::smatch ports;
  ASSERT_TRUE(std::regex_search(line, ports,
                                std::regex("listening on port (\\d+), metrics on port (\\d+)")))
      << line;
  const std::string target = "127.0.0.1:" + ports[1].str();
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());

  // grpc.health.v1.Health/Check with an empty request; SERVING encodes as 08 01.
  grpc::GenericStub generic(channel);
  grpc::ClientContext ctx;
  grpc::Slice empty("", 0);  // HealthCheckRequest{service: ""} encodes as zero bytes
  grpc::ByteBuffer request(&empty, 1), response;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                    [&done](grpc::Status s) { done.set_value(s); });
  grpc::Status health = done.get_future().get();
  ASSERT_TRUE(health.ok()) << health.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string body;
  for (auto& s : slices) body.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(body, std::string("\x08\x01", 2));

  // The Accounts service answers.
  auto accounts = v1::Accounts::NewStub(channel);
  grpc::ClientContext challenge_ctx;
  v1::ChallengeResponse challenge;
  ASSERT_TRUE(accounts->Challenge(&challenge_ctx, {}, &challenge).ok());
  EXPECT_EQ(challenge.nonce().size(), 32u);

  // /metrics on its own port.
  httplib::Client http("127.0.0.1", std::stoi(ports[2].str()));
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("alliance_sends_total 0"), std::string::npos);
  EXPECT_NE(res->body.find("alliance_rpc_latency_seconds_bucket{method=\"Challenge\""),
            std::string::npos);

  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(WaitExit(), 0);

  auto [check_code, check_out] = RunCommand(kBinary + " check --data " + data);
  EXPECT_EQ(check_code, 0) << check_out;
  EXPECT_NE(check_out.find("audit chain of 2 entries verified"), std::string::npos) << check_out;
}

TEST_F(ProcessTest, RefusesPlaintextOnNonLoopback) {
  const std::string data = root_ + "/db";
  ASSERT_EQ(RunCommand(kBinary + " init --data " + data + " >/dev/null").first, 0);
  auto [code, out] = RunCommand(kBinary + " serve --data " + data +
                                " --listen 0.0.0.0:0 --log-file " + root_ + "/relay.log 2>&1");
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("refusing to serve plaintext"), std::string::npos) << out;
}

TEST_F(ProcessTest, ConfigFileProvidesTheSettings) {
  const std::string data = root_ + "/db";
  ASSERT_EQ(RunCommand(kBinary + " init --data " + data + " >/dev/null").first, 0);
  const std::string config = root_ + "/relay.toml";
  FILE* f = fopen(config.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fprintf(f, "data = \"%s\"\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"\"\nlog_file = \"%s\"\n",
          data.c_str(), (root_ + "/relay.log").c_str());
  fclose(f);
  std::string line = Serve({"--config", config});
  EXPECT_NE(line.find("metrics on port 0"), std::string::npos) << line;
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(WaitExit(), 0);
}

// PostgreSQL through the real binary: init (a second init refused), two serving processes on
// the same database, the first one killed while the second goes on, then a restart of the
// first; check verifies it. (What the nodes agree on is in relay_multinode_test.)
TEST_F(ProcessTest, PostgresServesFromTwoProcessesAndSurvivesAKilledOne) {
  const std::string url = testing::NewTestDatabaseUrl();
  auto [init_code, init_out] =
      RunCommand(kBinary + " init --storage postgres --database-url '" + url + "'");
  ASSERT_EQ(init_code, 0) << init_out;
  EXPECT_NE(init_out.find("Relay database created in PostgreSQL"), std::string::npos);
  auto [again_code, again_out] =
      RunCommand(kBinary + " init --storage postgres --database-url '" + url + "' 2>&1");
  EXPECT_EQ(again_code, 1);
  EXPECT_NE(again_out.find("already holds a relay"), std::string::npos) << again_out;

  const std::vector<std::string> serve = {"--storage", "postgres", "--database-url", url,
                                          "--listen", "127.0.0.1:0", "--metrics-listen", "",
                                          "--log-file", root_ + "/a.log"};
  std::string line = Serve(serve);
  ASSERT_NE(line.find("listening on port"), std::string::npos) << line;
  const pid_t first = pid_;
  std::vector<std::string> serve_b = serve;
  serve_b.back() = root_ + "/b.log";
  line = Serve(serve_b);
  ASSERT_NE(line.find("listening on port"), std::string::npos) << line;
  const pid_t second = pid_;

  ASSERT_EQ(kill(first, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(first, &status, 0), first);
  EXPECT_TRUE(WIFSIGNALED(status));
  line = Serve(serve);
  ASSERT_NE(line.find("listening on port"), std::string::npos) << line;
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(WaitExit(), 0);
  pid_ = second;
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(WaitExit(), 0);

  auto [check_code, check_out] =
      RunCommand(kBinary + " check --storage postgres --database-url '" + url + "'");
  EXPECT_EQ(check_code, 0) << check_out;
  EXPECT_NE(check_out.find(" on PostgreSQL, relay id"), std::string::npos) << check_out;

  auto [bad_code, bad_out] = RunCommand(
      kBinary + " check --storage postgres --database-url 'host=" + root_ + " port=1' 2>&1");
  EXPECT_EQ(bad_code, 1);
  EXPECT_NE(bad_out.find("cannot connect to PostgreSQL"), std::string::npos) << bad_out;
  EXPECT_EQ(std::count(bad_out.begin(), bad_out.end(), '\n'), 1) << bad_out;
}

}  // namespace
}  // namespace alliance::server

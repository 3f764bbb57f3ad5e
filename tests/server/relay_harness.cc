#include "tests/server/relay_harness.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>

#include "gtest/gtest.h"
#include "base/bytes.h"
#include "wire/signed_strings.h"

namespace alliance::server::testing {

TestAccount NewIdentity() {
  TestAccount a;
  a.public_key.resize(crypto_sign_PUBLICKEYBYTES);
  a.secret_key.resize(crypto_sign_SECRETKEYBYTES);
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(a.public_key.data()),
                      reinterpret_cast<unsigned char*>(a.secret_key.data()));
  return a;
}

std::string Sign(const TestAccount& account, const std::string& message) {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       reinterpret_cast<const unsigned char*>(account.secret_key.data()));
  return sig;
}

v1::SignedPreKey MakeSignedPreKey(const TestAccount& account, uint32_t id) {
  v1::SignedPreKey spk;
  spk.set_id(id);
  spk.set_created_at(1'700'000'000);
  std::string pub(32, '\0');
  randombytes_buf(pub.data(), pub.size());
  spk.set_public_key(pub);
  std::string message = "alliance/v1/spk";
  base::AppendU32BE(&message, id);
  base::AppendU64BE(&message, spk.created_at());
  message += pub;
  spk.set_signature(Sign(account, message));
  return spk;
}

std::string NewMessageId() {
  std::string id(16, '\0');
  randombytes_buf(id.data(), id.size());
  return id;
}

bool TestOnPostgres() {
  const char* storage = std::getenv("ALLIANCE_TEST_STORAGE");
  return (storage != nullptr && std::string_view(storage) == "postgres") ||
         std::getenv("ALLIANCE_TEST_PG_DIR") != nullptr;
}

namespace {

std::string ServerConninfo(const std::string& dir, std::string_view options = {}) {
  std::string info = "host=" + dir + " port=5432 user=alliance dbname=postgres";
  if (!options.empty()) info += " options=" + std::string(options);
  return info;
}

// The process's PostgreSQL server directory, starting a private server on first use when
// CTest did not start one.
const std::string& TestServerDir() {
  static const std::string* const dir = [] {
    const char* shared = std::getenv("ALLIANCE_TEST_PG_DIR");
    if (shared != nullptr && std::filesystem::exists(std::string(shared) + "/.s.PGSQL.5432")) {
      return new std::string(shared);
    }
    auto* own = new std::string("/tmp/alliance-pg-" + std::to_string(getpid()));
    const std::string script = std::string(ALLIANCE_SOURCE_DIR) + "/tests/server/pg_test_server.sh";
    EXPECT_EQ(std::system((script + " start " + *own + " > /dev/null").c_str()), 0)
        << "could not start a PostgreSQL server for the tests";
    static const std::string stop = script + " stop " + *own;
    std::atexit([] { (void)std::system(stop.c_str()); });
    return own;
  }();
  return *dir;
}

}  // namespace

std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return {-1, ""};
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string NewTestDatabaseUrl() {
  std::string schema(8, '\0');
  randombytes_buf(schema.data(), schema.size());
  schema = "relay_" + base::ToHex(schema);
  const std::string& dir = TestServerDir();
  PGconn* conn = PQconnectdb(ServerConninfo(dir).c_str());
  EXPECT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult* r = PQexec(conn, ("CREATE SCHEMA " + schema).c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(conn);
  PQclear(r);
  PQfinish(conn);
  return ServerConninfo(dir, "-csearch_path=" + schema);
}

RelayHarness::RelayHarness(Limits limits, Storage storage)
    : clock_(absl::FromUnixSeconds(1'700'000'000)) {
  EXPECT_GE(sodium_init(), 0);
  std::string tmpl = (std::filesystem::temp_directory_path() / "alliance-relay-XXXXXX").string();
  root_dir_ = mkdtemp(tmpl.data());
  log_file_ = root_dir_ + "/relay.log";
  if (storage == Storage::kPostgres ||
      (storage == Storage::kFromEnvironment && TestOnPostgres())) {
    options_.storage = "postgres";
    options_.database_url = NewTestDatabaseUrl();
  } else {
    data_dir_ = root_dir_ + "/db";
    options_.data_dir = data_dir_;
  }
  absl::StatusOr<std::string> code = RelayServer::Initialize(options_, &clock_);
  EXPECT_TRUE(code.ok()) << code.status();
  if (code.ok()) bootstrap_code_ = *code;
  options_.listen = "127.0.0.1:0";
  options_.metrics_listen = "127.0.0.1:0";
  options_.log_file = log_file_;
  options_.log_level = "debug";
  options_.commit_threads = 8;
  options_.limits = limits;
  Start();
}

RelayHarness::RelayHarness(JoinTag, const RelayHarness& first, Limits limits)
    : clock_(absl::FromUnixSeconds(1'700'000'000)) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "alliance-relay-XXXXXX").string();
  root_dir_ = mkdtemp(tmpl.data());
  log_file_ = root_dir_ + "/relay.log";
  bootstrap_code_ = first.bootstrap_code_;
  options_ = first.options_;
  options_.log_file = log_file_;
  options_.limits = limits;
  Start();
}

std::unique_ptr<RelayHarness> RelayHarness::SecondNode(const RelayHarness& first, Limits limits) {
  EXPECT_TRUE(first.postgres()) << "only a PostgreSQL relay has room for a second node";
  return std::unique_ptr<RelayHarness>(new RelayHarness(JoinTag(), first, std::move(limits)));
}

RelayHarness::RelayHarness(ClientTag, const std::string& target, std::string relay_id,
                           std::string bootstrap_code)
    : clock_(absl::FromUnixSeconds(1'700'000'000)),
      bootstrap_code_(std::move(bootstrap_code)),
      client_relay_id_(std::move(relay_id)) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "alliance-relay-XXXXXX").string();
  root_dir_ = mkdtemp(tmpl.data());
  Connect(target);
}

std::unique_ptr<RelayHarness> RelayHarness::ClientOf(const std::string& target,
                                                     const std::string& relay_id,
                                                     const std::string& bootstrap_code) {
  return std::unique_ptr<RelayHarness>(
      new RelayHarness(ClientTag(), target, relay_id, bootstrap_code));
}

void RelayHarness::Connect(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // A node that was killed comes back on the same port: reconnect at once, not after backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  accounts_ = v1::Accounts::NewStub(channel_);
  keys_ = v1::Keys::NewStub(channel_);
  relay_stub_ = v1::Relay::NewStub(channel_);
  clinic_ = v1::Clinic::NewStub(channel_);
  blobs_ = v1::Blobs::NewStub(channel_);
}

RelayHarness::~RelayHarness() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(root_dir_, ec);
}

void RelayHarness::Start() {
  absl::StatusOr<std::unique_ptr<Logger>> logger =
      Logger::Create(options_.log_file, options_.log_level);
  ASSERT_TRUE(logger.ok()) << logger.status();
  logger_ = std::move(*logger);
  absl::StatusOr<std::unique_ptr<RelayServer>> relay =
      RelayServer::Start(options_, &clock_, logger_.get());
  ASSERT_TRUE(relay.ok()) << relay.status();
  relay_ = std::move(*relay);
  Connect("127.0.0.1:" + std::to_string(relay_->port()));
}

void RelayHarness::Stop() {
  accounts_.reset();
  keys_.reset();
  relay_stub_.reset();
  clinic_.reset();
  channel_.reset();
  if (relay_ != nullptr) relay_->Shutdown();
  relay_.reset();
  logger_.reset();
}

void RelayHarness::Restart() {
  Stop();
  Start();
}

std::string RelayHarness::relay_id() {
  return relay_ != nullptr ? relay_->relay_id() : client_relay_id_;
}

std::vector<std::pair<std::string, std::string>> RelayHarness::StoredBytes() {
  std::vector<std::pair<std::string, std::string>> out;
  auto read_all = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  if (!postgres()) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(data_dir_)) {
      if (entry.is_regular_file()) out.emplace_back(entry.path().string(), read_all(entry.path()));
    }
    return out;
  }
  const std::string schema = options_.database_url.substr(
      options_.database_url.find("search_path=") + std::string_view("search_path=").size());
  const std::string dump = root_dir_ + "/dump.sql";
  const std::string command = "pg_dump --schema=" + schema + " --no-owner \"" +
                              options_.database_url.substr(0, options_.database_url.find(" options=")) +
                              "\" > " + dump;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  out.emplace_back("pg_dump of " + schema, read_all(dump));
  EXPECT_NE(out.back().second.find("alliance_mailbox"), std::string::npos);
  return out;
}

std::unique_ptr<grpc::ClientContext> RelayHarness::Ctx(const TestAccount& account) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!account.token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + base::ToHex(account.token));
  }
  return ctx;
}

grpc::Status RelayHarness::Register(const std::string& code, TestAccount* account) {
  v1::RegisterRequest request;
  request.set_invite_code(code);
  request.set_identity_key(account->public_key);
  request.set_proof(
      Sign(*account, "alliance/v1/register" + relay_id() + code + account->public_key));
  v1::RegisterResponse response;
  grpc::ClientContext ctx;
  grpc::Status s = accounts_->Register(&ctx, request, &response);
  if (s.ok()) {
    account->account_id = response.account_id();
    account->role = response.role();
  }
  return s;
}

grpc::Status RelayHarness::Login(TestAccount* account) {
  v1::ChallengeResponse challenge;
  {
    grpc::ClientContext ctx;
    grpc::Status s = accounts_->Challenge(&ctx, v1::ChallengeRequest(), &challenge);
    if (!s.ok()) return s;
  }
  v1::LoginRequest request;
  *request.mutable_address() = account->address();
  request.set_nonce(challenge.nonce());
  request.set_expires_at(challenge.expires_at());
  if (account->device_secret_key.empty()) {
    std::string message = "alliance/v1/login" + challenge.relay_id() + challenge.nonce();
    base::AppendU64BE(&message, challenge.expires_at());
    request.set_signature(Sign(*account, message));
  } else {
    TestAccount device;
    device.secret_key = account->device_secret_key;
    request.set_signature(Sign(device, wire::DeviceLoginMessage(
                                           challenge.relay_id(), account->account_id,
                                           account->device_id, challenge.nonce(),
                                           challenge.expires_at())));
  }
  v1::LoginResponse response;
  grpc::ClientContext ctx;
  grpc::Status s = accounts_->Login(&ctx, request, &response);
  if (s.ok()) account->token = response.token();
  return s;
}

grpc::Status RelayHarness::CreateInvite(const TestAccount& inviter, v1::Role role,
                                        std::string* code, std::string* invite_id) {
  v1::CreateInviteRequest request;
  request.set_role(role);
  v1::CreateInviteResponse response;
  grpc::Status s = clinic_->CreateInvite(Ctx(inviter).get(), request, &response);
  if (s.ok()) {
    *code = response.invite_code();
    if (invite_id != nullptr) *invite_id = response.invite_id();
  }
  return s;
}

TestAccount RelayHarness::NewAdmin() {
  TestAccount admin = NewIdentity();
  EXPECT_TRUE(Register(bootstrap_code_, &admin).ok());
  EXPECT_TRUE(Login(&admin).ok());
  return admin;
}

TestAccount RelayHarness::Invite(const TestAccount& inviter, v1::Role role) {
  std::string code;
  grpc::Status s = CreateInvite(inviter, role, &code);
  EXPECT_TRUE(s.ok()) << s.error_message();
  TestAccount account = NewIdentity();
  s = Register(code, &account);
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Login(&account);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return account;
}

grpc::Status RelayHarness::Send(const TestAccount& from, const TestAccount& to,
                                const std::string& payload, v1::SendResponse* response,
                                std::string message_id) {
  v1::SendRequest request;
  request.set_version(1);
  request.set_message_id(message_id.empty() ? NewMessageId() : message_id);
  *request.mutable_recipient() = to.address();
  request.set_type(v1::ENVELOPE_TYPE_MESSAGE);
  request.set_payload(payload);
  v1::SendResponse ignored;
  return relay_stub_->Send(Ctx(from).get(), request, response != nullptr ? response : &ignored);
}

grpc::Status RelayHarness::SendToDevices(const TestAccount& from, const std::string& to_account,
                                         const std::vector<v1::Address>& destinations,
                                         const std::string& payload, v1::SendResponse* response,
                                         std::string message_id) {
  v1::SendRequest request;
  request.set_version(1);
  request.set_message_id(message_id.empty() ? NewMessageId() : message_id);
  request.set_recipient_account_id(to_account);
  for (const v1::Address& d : destinations) {
    v1::DeviceMessage* m = request.add_messages();
    *m->mutable_destination() = d;
    m->set_type(v1::ENVELOPE_TYPE_MESSAGE);
    m->set_payload(payload);
  }
  v1::SendResponse ignored;
  return relay_stub_->Send(Ctx(from).get(), request, response != nullptr ? response : &ignored);
}

std::vector<v1::Envelope> RelayHarness::ReadBacklog(const TestAccount& account) {
  std::vector<v1::Envelope> out;
  auto ctx = Ctx(account);
  auto reader = relay_stub_->Receive(ctx.get(), v1::ReceiveRequest());
  v1::ReceiveResponse response;
  while (reader->Read(&response)) {
    if (response.backlog_complete()) break;
    out.push_back(response.envelope());
  }
  ctx->TryCancel();
  (void)reader->Finish();
  return out;
}

grpc::Status RelayHarness::Ack(const TestAccount& account, const std::vector<uint64_t>& sequences,
                               uint32_t* deleted) {
  v1::AckRequest request;
  for (uint64_t s : sequences) request.add_sequences(s);
  v1::AckResponse response;
  grpc::Status s = relay_stub_->Ack(Ctx(account).get(), request, &response);
  if (deleted != nullptr) *deleted = response.deleted();
  return s;
}

}  // namespace alliance::server::testing

// RelayHarness: an in-process relay on 127.0.0.1 port 0 with a temporary database, a manual
// clock and generated stubs, plus helpers that act as well-behaved clients (register, login,
// publish keys, send). Used by every tests/server test.
//
//   RelayHarness h;                       // initialized and started
//   TestAccount admin = h.NewAdmin();     // redeems the bootstrap invite and logs in
//   TestAccount therapist = h.Invite(admin, v1::ROLE_THERAPIST);
//   auto ctx = h.Ctx(therapist);          // carries "authorization: Bearer <hex>"
#ifndef ALLIANCE_TESTS_SERVER_RELAY_HARNESS_H_
#define ALLIANCE_TESTS_SERVER_RELAY_HARNESS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "alliance/v1/accounts_service.grpc.pb.h"
#include "alliance/v1/blobs_service.grpc.pb.h"
#include "alliance/v1/clinic_service.grpc.pb.h"
#include "alliance/v1/keys_service.grpc.pb.h"
#include "alliance/v1/relay_service.grpc.pb.h"
#include "server/infra/clock.h"
#include "server/infra/config.h"
#include "server/infra/logging.h"
#include "server/relay_server.h"

namespace alliance::server::testing {

struct TestAccount {
  std::string public_key;  // Ed25519, 32
  std::string secret_key;  // Ed25519, 64 (libsodium form)
  std::string account_id;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string token;  // raw 32 bytes
  uint32_t device_id = 1;
  // The device's own Ed25519 key pair once the account's device list gives it one; Login then
  // signs with it.
  std::string device_public_key;
  std::string device_secret_key;

  v1::Address address() const {
    v1::Address a;
    a.set_account_id(account_id);
    a.set_device_id(device_id);
    return a;
  }
};

// Fresh Ed25519 key pair (no account yet).
TestAccount NewIdentity();
// Ed25519 signature by `account`'s identity key.
std::string Sign(const TestAccount& account, const std::string& message);
// A signed prekey for `account` with the given id, signed correctly.
v1::SignedPreKey MakeSignedPreKey(const TestAccount& account, uint32_t id);
// 16 random bytes.
std::string NewMessageId();

// Runs a shell command; returns (exit code, what it printed on stdout).
std::pair<int, std::string> RunCommand(const std::string& command);

// Which storage the relay tests run on: PostgreSQL when ALLIANCE_TEST_STORAGE=postgres or
// ALLIANCE_TEST_PG_DIR is set (CTest registers every relay suite a second time with the latter
// and the suffix ".postgres"), else RocksDB.
bool TestOnPostgres();
// A connection string for a fresh, empty schema of the test PostgreSQL server: the server
// CTest's `postgres_start` fixture started (ALLIANCE_TEST_PG_DIR), or one this process starts
// itself and stops at exit (tests/server/pg_test_server.sh).
std::string NewTestDatabaseUrl();
// RocksDB-only tests (files, checkpoints, disk space) call this first.
#define ALLIANCE_SKIP_ON_POSTGRES(why) \
  do {                                  \
    if (::alliance::server::testing::TestOnPostgres()) GTEST_SKIP() << (why); \
  } while (0)

class RelayHarness {
 public:
  enum class Storage { kFromEnvironment, kRocksDb, kPostgres };
  // Starts at Unix time 1 700 000 000 on a manual clock. `limits` apply to the relay. The
  // storage is TestOnPostgres()'s unless `storage` names one.
  explicit RelayHarness(Limits limits = Limits(), Storage storage = Storage::kFromEnvironment);
  ~RelayHarness();

  // A second relay process on `first`'s PostgreSQL database (its own port, log and clock).
  static std::unique_ptr<RelayHarness> SecondNode(const RelayHarness& first,
                                                  Limits limits = Limits());
  // No relay of its own: the stubs and helpers talk to `target` ("127.0.0.1:port", a relay
  // another process runs), whose id is `relay_id`.
  static std::unique_ptr<RelayHarness> ClientOf(const std::string& target,
                                                const std::string& relay_id,
                                                const std::string& bootstrap_code);

  // Restarts the relay on the same database (e.g. after changing options()).
  void Restart();
  void Stop();
  void Start();

  RelayOptions& options() { return options_; }
  ManualClock& clock() { return clock_; }
  RelayServer& relay() { return *relay_; }
  // The RocksDB directory; empty on PostgreSQL (the relay keeps no files of its own).
  const std::string& data_dir() const { return data_dir_; }
  bool postgres() const { return options_.storage == "postgres"; }
  const std::string& log_file() const { return log_file_; }
  const std::string& bootstrap_code() const { return bootstrap_code_; }
  std::string relay_id();

  v1::Accounts::Stub& accounts() { return *accounts_; }
  v1::Keys::Stub& keys() { return *keys_; }
  v1::Relay::Stub& relay_stub() { return *relay_stub_; }
  v1::Clinic::Stub& clinic() { return *clinic_; }
  v1::Blobs::Stub& blobs() { return *blobs_; }

  // A client context authenticated as `account` (no token when account.token is empty).
  std::unique_ptr<grpc::ClientContext> Ctx(const TestAccount& account);

  // What the relay has stored, as (where, bytes): every file of the RocksDB directory, or a
  // plain pg_dump of the relay's PostgreSQL schema (bytea in hex). Call with the relay stopped.
  std::vector<std::pair<std::string, std::string>> StoredBytes();

  // Redeems `code` for `account` (which has keys) with a valid proof.
  grpc::Status Register(const std::string& code, TestAccount* account);
  // Challenge + Login with a correct signature; stores the token.
  grpc::Status Login(TestAccount* account);
  // Creates an invite as `inviter`.
  grpc::Status CreateInvite(const TestAccount& inviter, v1::Role role, std::string* code,
                            std::string* invite_id = nullptr);

  // Registered and logged in; ASSERTs on failure.
  TestAccount NewAdmin();
  TestAccount Invite(const TestAccount& inviter, v1::Role role);

  // Sends `payload` from `from` to `to`.
  grpc::Status Send(const TestAccount& from, const TestAccount& to, const std::string& payload,
                    v1::SendResponse* response = nullptr, std::string message_id = "");
  // Opens Receive as `account`, reads the backlog up to the backlog_complete marker, cancels.
  // One message to several devices (`to_account`'s and the sender's own), one payload each.
  grpc::Status SendToDevices(const TestAccount& from, const std::string& to_account,
                             const std::vector<v1::Address>& destinations,
                             const std::string& payload, v1::SendResponse* response = nullptr,
                             std::string message_id = "");
  std::vector<v1::Envelope> ReadBacklog(const TestAccount& account);
  // Acks `sequences` as `account`.
  grpc::Status Ack(const TestAccount& account, const std::vector<uint64_t>& sequences,
                   uint32_t* deleted = nullptr);

 private:
  struct JoinTag {};
  struct ClientTag {};
  RelayHarness(JoinTag, const RelayHarness& first, Limits limits);
  RelayHarness(ClientTag, const std::string& target, std::string relay_id,
               std::string bootstrap_code);
  void Connect(const std::string& target);

  ManualClock clock_;
  std::string root_dir_;
  std::string data_dir_;
  std::string log_file_;
  std::string bootstrap_code_;
  RelayOptions options_;
  std::unique_ptr<Logger> logger_;
  std::unique_ptr<RelayServer> relay_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Accounts::Stub> accounts_;
  std::unique_ptr<v1::Keys::Stub> keys_;
  std::unique_ptr<v1::Relay::Stub> relay_stub_;
  std::unique_ptr<v1::Clinic::Stub> clinic_;
  std::unique_ptr<v1::Blobs::Stub> blobs_;
  std::string client_relay_id_;  // ClientOf
};

}  // namespace alliance::server::testing

#endif  // ALLIANCE_TESTS_SERVER_RELAY_HARNESS_H_

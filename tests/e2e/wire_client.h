// A protocol-level client of a relay running in another process (the real `alliance-relay
// serve`): generated gRPC stubs over one channel, plus the few protocol steps the drills need
// (register with a signed proof, log in, invite, send, ack). Unlike tests/server/relay_harness.h
// it knows nothing of the relay's internals, so it keeps working across relay restarts: the
// channel reconnects within ~100 ms of the port reopening.
//
//   WireRelay relay("127.0.0.1:7443");
//   WireAccount admin = WireAccount::Generate();
//   ASSERT_TRUE(relay.Register(bootstrap_code, &admin).ok());
//   ASSERT_TRUE(relay.Login(&admin).ok());
//
// Thread-safe: the stubs are; WireAccount values belong to the caller.
#ifndef ALLIANCE_TESTS_E2E_WIRE_CLIENT_H_
#define ALLIANCE_TESTS_E2E_WIRE_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "alliance/v1/accounts_service.grpc.pb.h"
#include "alliance/v1/clinic_service.grpc.pb.h"
#include "alliance/v1/relay_service.grpc.pb.h"

namespace alliance::e2e {

struct WireAccount {
  std::string public_key;  // Ed25519, 32 bytes
  std::string secret_key;  // Ed25519, 64 bytes (libsodium form)
  std::string account_id;  // 16 bytes once registered
  std::string token;       // raw session token once logged in

  // A fresh identity key pair, not registered.
  static WireAccount Generate();
  v1::Address address() const;
};

// 16 random bytes (a message id).
std::string RandomMessageId();

class WireRelay {
 public:
  // `address` is host:port; plaintext (the drills run on 127.0.0.1).
  explicit WireRelay(const std::string& address);

  // Redeems `code` for `account` with a valid registration proof; fills account_id.
  grpc::Status Register(const std::string& code, WireAccount* account);
  // Challenge + signed Login; fills token.
  grpc::Status Login(WireAccount* account);
  // An invite code for `role`, created by `inviter`.
  grpc::Status CreateInvite(const WireAccount& inviter, v1::Role role, std::string* code);
  // One Send of `payload` under `message_id`; gives up after `timeout` (a safety net).
  grpc::Status Send(const WireAccount& from, const v1::Address& to, const std::string& message_id,
                    const std::string& payload, v1::SendResponse* response,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Acks `sequence` in `account`'s mailbox.
  grpc::Status Ack(const WireAccount& account, uint64_t sequence);

  // A context carrying `account`'s token and a deadline `timeout` from now.
  static std::unique_ptr<grpc::ClientContext> Context(const WireAccount& account,
                                                      std::chrono::milliseconds timeout);
  v1::Relay::Stub& relay() { return *relay_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Accounts::Stub> accounts_;
  std::unique_ptr<v1::Clinic::Stub> clinic_;
  std::unique_ptr<v1::Relay::Stub> relay_;
};

}  // namespace alliance::e2e

#endif  // ALLIANCE_TESTS_E2E_WIRE_CLIENT_H_

// An in-process relay for the request fuzz target: the stores, authenticator and the four gRPC
// service objects wired exactly as RelayServer::Build wires them, over RocksDB in a temporary
// directory, with no gRPC server and no sockets. Three accounts (an admin, a therapist and the
// therapist's client) are registered and logged in; their tokens are kept valid between inputs
// (Refresh logs in again after a Logout, and rebuilds everything after a deletion).
//
// Calls go straight to the service methods: each gets a grpc::CallbackServerContext whose
// default reactor is in gRPC's test mode (grpcpp/test/default_reactor_test_peer.h) and whose
// "authorization" metadata the fixture sets, and the call waits until the handler (or the
// commit thread, for Send) has finished it.
//
//   RelayFixture& relay = RelayFixture::Get();
//   grpc::Status s = relay.Call(&KeysService::GetPreKeyStatus, relay.keys(), request, token);
//
// Thread safety: none (one fuzz input at a time); the services use their own threads inside.
#ifndef ALLIANCE_TESTS_FUZZ_RELAY_FIXTURE_H_
#define ALLIANCE_TESTS_FUZZ_RELAY_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <array>
#include <functional>
#include <memory>
#include <string>

#include "crypto/keys.h"
#include "server/auth/authenticator.h"
#include "server/infra/clock.h"
#include "server/infra/commit_pool.h"
#include "server/infra/config.h"
#include "server/infra/db.h"
#include "server/infra/logging.h"
#include "server/infra/metrics.h"
#include "server/infra/rate_limiter.h"
#include "server/services/accounts_service.h"
#include "server/services/blobs_service.h"
#include "server/services/clinic_service.h"
#include "server/services/devices_service.h"
#include "server/services/keys_service.h"
#include "server/services/relay_service.h"
#include "server/services/service_util.h"
#include "server/store/audit_log.h"
#include "server/store/blob_store.h"
#include "server/store/directory.h"
#include "server/store/mailbox.h"
#include "server/store/prekey_store.h"

namespace alliance::fuzz {

// Who an input acts as.
enum class As : uint8_t { kNobody, kAdmin, kTherapist, kClient, kForged };
inline constexpr int kAccounts = 3;  // admin, therapist, client

// Method numbers of relay_requests_fuzz: its first input byte, modulo kMethods.
enum Method : uint8_t {
  kRegister,
  kChallenge,
  kLogin,
  kLogout,
  kListContacts,
  kDeleteAccount,
  kCreateInvite,
  kRevokeInvite,
  kListMembers,
  kDeactivateAccount,
  kReadAudit,
  kPublishPreKeys,
  kFetchPreKeyBundle,
  kGetPreKeyStatus,
  kSend,
  kAck,
  kReceive,
  kPublishDeviceList,
  kListDevices,
  kStartLink,
  kApproveLink,
  kAwaitLink,
  kCompleteLink,
  kListAccountDevices,
  kRemoveAccountDevice,
  kUploadStatus,
  kMethods
};

// In inputs, these 16-byte values stand for the accounts' real (random) ids and are replaced
// before the request is parsed, so seeds can name accounts that exist.
inline constexpr std::array<uint8_t, 3> kAliasFill = {0xA1, 0xA2, 0xA3};

class RelayFixture {
 public:
  // The process-wide fixture (built on first use; torn down at exit).
  static RelayFixture& Get();

  // Replaces every account alias in `bytes` with the account's id.
  void ResolveAliases(std::string* bytes) const;

  // "Bearer <hex>" for `as` (empty for kNobody, a well-formed unknown token for kForged).
  std::string Authorization(As as) const;

  // Calls a unary method of `service` directly and returns the status it finished with.
  // Aborts if the handler never finishes (10 s).
  template <class Service, class Request, class Response>
  grpc::Status Call(grpc::ServerUnaryReactor* (Service::*method)(grpc::CallbackServerContext*,
                                                                 const Request*, Response*),
                    Service* service, const Request& request, const std::string& authorization);

  // After an input: keeps every account's token valid (login again; rebuild after a deletion)
  // and moves the clock on by one second, so rate limits refill as they would in real use.
  void Refresh();

  server::AccountsService* accounts() { return accounts_.get(); }
  server::ClinicService* clinic() { return clinic_.get(); }
  server::KeysService* keys() { return keys_.get(); }
  server::DevicesService* devices() { return devices_.get(); }
  server::RelayService* relay() { return relay_.get(); }
  server::BlobsService* blobs() { return blobs_service_.get(); }
  const server::ServiceDeps& deps() const { return deps_; }
  const std::string& account_id(int i) const { return account_ids_[i]; }

  void Teardown();

 private:
  RelayFixture() = default;
  void Build();
  // Puts `ctx`'s default reactor in test mode, runs `invoke` and waits for the finish.
  static grpc::Status RunToFinish(grpc::CallbackServerContext* ctx,
                                  const std::function<void()>& invoke);
  void SetAuthorization(grpc::CallbackServerContext* ctx, const std::string& authorization);
  bool Login(int i);

  std::string dir_;
  server::ManualClock clock_{absl::FromUnixSeconds(1'790'000'000)};
  server::Limits limits_;
  std::unique_ptr<server::Logger> logger_;
  std::unique_ptr<server::Metrics> metrics_;
  std::unique_ptr<server::RelayDb> db_;
  std::unique_ptr<server::AuditLog> audit_;
  std::unique_ptr<server::CommitPool> pool_;
  std::unique_ptr<server::Authenticator> auth_;
  std::unique_ptr<server::Directory> directory_;
  std::unique_ptr<server::PreKeyStore> prekeys_;
  std::unique_ptr<server::Mailbox> mailbox_;
  std::unique_ptr<server::BlobStore> blobs_;
  std::unique_ptr<server::RateLimiter> send_rate_;
  std::unique_ptr<server::RateLimiter> fetch_rate_;
  std::unique_ptr<server::RateLimiter> publish_rate_;
  server::ServiceDeps deps_;
  std::unique_ptr<server::AccountsService> accounts_;
  std::unique_ptr<server::ClinicService> clinic_;
  std::unique_ptr<server::KeysService> keys_;
  std::unique_ptr<server::DevicesService> devices_;
  std::unique_ptr<server::RelayService> relay_;
  std::unique_ptr<server::BlobsService> blobs_service_;
  std::array<std::unique_ptr<crypto::IdentityKeyPair>, kAccounts> identities_;
  std::array<std::string, kAccounts> account_ids_;
  std::array<std::string, kAccounts> tokens_;  // "Bearer <hex>"
};

template <class Service, class Request, class Response>
grpc::Status RelayFixture::Call(
    grpc::ServerUnaryReactor* (Service::*method)(grpc::CallbackServerContext*, const Request*,
                                                 Response*),
    Service* service, const Request& request, const std::string& authorization) {
  grpc::CallbackServerContext ctx;
  SetAuthorization(&ctx, authorization);
  Response response;
  return RunToFinish(&ctx, [&] { (service->*method)(&ctx, &request, &response); });
}

}  // namespace alliance::fuzz

#endif  // ALLIANCE_TESTS_FUZZ_RELAY_FIXTURE_H_

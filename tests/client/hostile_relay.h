// A relay that misbehaves on purpose, for tests of the client against a hostile relay (DESIGN §2:
// "a curious or compromised relay"). It is a gRPC proxy on 127.0.0.1 that implements the relay's
// four services (Accounts, Keys, Relay, Clinic) by forwarding every call, with its metadata, to a
// real relay, and lets a test rewrite what comes back:
//   * the envelopes a Receive stream delivers (drop, duplicate, reorder, replay, re-address,
//     or make up new ones), through a DeliveryHook;
//   * the prekey bundles FetchPreKeyBundle hands out, through a BundleHook.
// Everything else passes through unchanged, the relay id in Challenge included, so a client's
// pinned relay id matches and its login signatures verify at the real relay.
//
//   auto hostile = HostileRelay::Start("127.0.0.1:" + std::to_string(relay->port()));
//   options.relay.address = (*hostile)->address();
//   (*hostile)->SetDeliveryHook([](const v1::Address& to, std::vector<v1::Envelope> backlog) {
//     std::reverse(backlog.begin(), backlog.end());  // Deliver the mailbox backwards.
//     return backlog;
//   });
//
// A hook sees who it is answering: the proxy learns which address each session token belongs to
// from the Login that issued it (as the relay itself does), so a hook can single out one victim.
//
// Thread safety: all methods may be called from any thread while calls are in flight; hooks run
// on gRPC threads, one call at a time per stream, with no lock of the proxy held.
#ifndef ALLIANCE_TESTS_CLIENT_HOSTILE_RELAY_H_
#define ALLIANCE_TESTS_CLIENT_HOSTILE_RELAY_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "alliance/v1/accounts_service.grpc.pb.h"
#include "alliance/v1/devices_service.grpc.pb.h"
#include "alliance/v1/clinic_service.grpc.pb.h"
#include "alliance/v1/keys_service.grpc.pb.h"
#include "alliance/v1/relay_service.grpc.pb.h"

namespace alliance::client::testing {

class HostileRelay {
 public:
  // Rewrites what a Receive stream delivers to `caller`. It is given the envelopes of the
  // caller's mailbox present at stream start (the backlog, in sequence order) and returns what
  // to deliver instead, before the backlog-complete marker. Envelopes that arrive live, after
  // the marker, go through it one at a time.
  using DeliveryHook = std::function<std::vector<v1::Envelope>(const v1::Address& caller,
                                                               std::vector<v1::Envelope> backlog)>;
  // Rewrites a bundle the relay hands to `caller` (after it was recorded in Bundles()).
  using BundleHook = std::function<void(const v1::Address& caller, v1::PreKeyBundle* bundle)>;
  // Rewrites the contact list (identity keys, device lists, active device ids) the relay
  // hands to `caller`.
  using ContactsHook = std::function<void(const v1::Address& caller, v1::ListContactsResponse*)>;

  // Listens on 127.0.0.1 (a free port) and forwards to the relay at `upstream` (host:port,
  // plaintext). INTERNAL when the port cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HostileRelay>> Start(
      const std::string& upstream);
  // Ends every call in flight (streams included), then stops.
  ~HostileRelay();
  HostileRelay(const HostileRelay&) = delete;
  HostileRelay& operator=(const HostileRelay&) = delete;

  // host:port for ClientOptions::relay.address.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Installs a hook; an empty one restores honest behaviour. Takes effect for the next stream
  // or fetch.
  void SetDeliveryHook(DeliveryHook hook);
  void SetBundleHook(BundleHook hook);
  void SetContactsHook(ContactsHook hook);

  // Every envelope the relay accepted through this proxy, as the relay stores it: sender from
  // the caller's login, sequence and time from the relay's answer. Oldest first.
  std::vector<v1::Envelope> Sent() const;
  // Every envelope delivered to a client (after the hook), oldest first.
  std::vector<v1::Envelope> Delivered() const;
  // Every bundle the relay handed out, as it made it (before the hook), oldest first.
  std::vector<v1::PreKeyBundle> Bundles() const;

 private:
  class AccountsProxy;
  class KeysProxy;
  class RelayProxy;
  class ClinicProxy;
  class DevicesProxy;

  explicit HostileRelay(const std::string& upstream);

  // The address that logged in with the token on `server`'s call (empty when unknown).
  v1::Address CallerOf(const grpc::ServerContext& server) const;
  // A context for the upstream call made on behalf of `server`'s call: its deadline and
  // cancellation propagate, and its authorization is passed on.
  static std::unique_ptr<grpc::ClientContext> UpstreamContext(const grpc::ServerContext& server);

  void NoteLogin(const v1::LoginRequest& request, const v1::LoginResponse& response);
  void NoteSent(const v1::Address& caller, const v1::SendRequest& request,
                const v1::SendResponse& response);
  std::vector<v1::Envelope> Deliver(const v1::Address& caller, std::vector<v1::Envelope> backlog);
  void HandOut(const v1::Address& caller, v1::PreKeyBundle* bundle);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Accounts::Stub> accounts_;
  std::unique_ptr<v1::Keys::Stub> keys_;
  std::unique_ptr<v1::Relay::Stub> relay_;
  std::unique_ptr<v1::Clinic::Stub> clinic_;
  std::unique_ptr<v1::Devices::Stub> devices_;
  std::unique_ptr<AccountsProxy> accounts_proxy_;
  std::unique_ptr<KeysProxy> keys_proxy_;
  std::unique_ptr<RelayProxy> relay_proxy_;
  std::unique_ptr<ClinicProxy> clinic_proxy_;
  std::unique_ptr<DevicesProxy> devices_proxy_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  mutable base::Mutex mu_;
  DeliveryHook delivery_hook_ ABSL_GUARDED_BY(mu_);
  BundleHook bundle_hook_ ABSL_GUARDED_BY(mu_);
  ContactsHook contacts_hook_ ABSL_GUARDED_BY(mu_);
  // Session token (raw bytes) -> the address that logged in with it.
  absl::flat_hash_map<std::string, v1::Address> callers_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Envelope> sent_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Envelope> delivered_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::PreKeyBundle> bundles_ ABSL_GUARDED_BY(mu_);
};

}  // namespace alliance::client::testing

#endif  // ALLIANCE_TESTS_CLIENT_HOSTILE_RELAY_H_

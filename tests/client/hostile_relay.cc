#include "tests/client/hostile_relay.h"

#include <utility>

#include "absl/strings/escaping.h"

namespace alliance::client::testing {
namespace {

constexpr std::string_view kBearer = "Bearer ";

// Runs one forwarded unary call; `call` makes the upstream call with the given context.
template <typename Call>
grpc::Status Forward(std::unique_ptr<grpc::ClientContext> upstream, Call call) {
  return call(upstream.get());
}

}  // namespace

// The services' handlers: each forwards to the real relay and lets the HostileRelay see (and
// for bundles and envelopes, rewrite) the answer. The synchronous API is enough: a test makes
// a handful of calls, and a blocked stream handler is released by cancellation propagating
// from the client's call to the upstream one.

class HostileRelay::AccountsProxy final : public v1::Accounts::Service {
 public:
  explicit AccountsProxy(HostileRelay* relay) : relay_(relay) {}

  grpc::Status Register(grpc::ServerContext* c, const v1::RegisterRequest* req,
                        v1::RegisterResponse* resp) override {
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->accounts_->Register(u, *req, resp);
    });
  }
  grpc::Status Challenge(grpc::ServerContext* c, const v1::ChallengeRequest* req,
                         v1::ChallengeResponse* resp) override {
    // Passed through untouched: the relay id in it is what the client pinned.
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->accounts_->Challenge(u, *req, resp);
    });
  }
  grpc::Status Login(grpc::ServerContext* c, const v1::LoginRequest* req,
                     v1::LoginResponse* resp) override {
    grpc::Status s = Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->accounts_->Login(u, *req, resp);
    });
    if (s.ok()) relay_->NoteLogin(*req, *resp);
    return s;
  }
  grpc::Status Logout(grpc::ServerContext* c, const v1::LogoutRequest* req,
                      v1::LogoutResponse* resp) override {
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->accounts_->Logout(u, *req, resp);
    });
  }
  grpc::Status ListContacts(grpc::ServerContext* c, const v1::ListContactsRequest* req,
                            v1::ListContactsResponse* resp) override {
    grpc::Status s = Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->accounts_->ListContacts(u, *req, resp);
    });
    if (s.ok()) {
      ContactsHook hook;
      {
        base::MutexLock lock(&relay_->mu_);
        hook = relay_->contacts_hook_;
      }
      if (hook) hook(relay_->CallerOf(*c), resp);
    }
    return s;
  }
  grpc::Status DeleteAccount(grpc::ServerContext* c, const v1::DeleteAccountRequest* req,
                             v1::DeleteAccountResponse* resp) override {
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->accounts_->DeleteAccount(u, *req, resp);
    });
  }

 private:
  HostileRelay* const relay_;
};

class HostileRelay::KeysProxy final : public v1::Keys::Service {
 public:
  explicit KeysProxy(HostileRelay* relay) : relay_(relay) {}

  grpc::Status PublishPreKeys(grpc::ServerContext* c, const v1::PublishPreKeysRequest* req,
                              v1::PublishPreKeysResponse* resp) override {
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->keys_->PublishPreKeys(u, *req, resp);
    });
  }
  grpc::Status FetchPreKeyBundle(grpc::ServerContext* c, const v1::FetchPreKeyBundleRequest* req,
                                 v1::FetchPreKeyBundleResponse* resp) override {
    grpc::Status s = Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->keys_->FetchPreKeyBundle(u, *req, resp);
    });
    if (s.ok()) relay_->HandOut(relay_->CallerOf(*c), resp->mutable_bundle());
    return s;
  }
  grpc::Status GetPreKeyStatus(grpc::ServerContext* c, const v1::GetPreKeyStatusRequest* req,
                               v1::GetPreKeyStatusResponse* resp) override {
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->keys_->GetPreKeyStatus(u, *req, resp);
    });
  }

 private:
  HostileRelay* const relay_;
};

class HostileRelay::RelayProxy final : public v1::Relay::Service {
 public:
  explicit RelayProxy(HostileRelay* relay) : relay_(relay) {}

  grpc::Status Send(grpc::ServerContext* c, const v1::SendRequest* req,
                    v1::SendResponse* resp) override {
    grpc::Status s = Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->relay_->Send(u, *req, resp);
    });
    if (s.ok() && !resp->duplicate()) relay_->NoteSent(relay_->CallerOf(*c), *req, *resp);
    return s;
  }

  grpc::Status Receive(grpc::ServerContext* c, const v1::ReceiveRequest* req,
                       grpc::ServerWriter<v1::ReceiveResponse>* writer) override {
    const v1::Address caller = relay_->CallerOf(*c);
    std::unique_ptr<grpc::ClientContext> upstream = UpstreamContext(*c);
    std::unique_ptr<grpc::ClientReader<v1::ReceiveResponse>> reader =
        relay_->relay_->Receive(upstream.get(), *req);
    // The whole backlog first, so that the hook can reorder, drop or add to it as a unit.
    std::vector<v1::Envelope> backlog;
    v1::ReceiveResponse in;
    bool complete = false;
    while (!complete && reader->Read(&in)) {
      if (in.backlog_complete()) {
        complete = true;
      } else {
        backlog.push_back(in.envelope());
      }
    }
    bool open = complete && WriteAll(relay_->Deliver(caller, std::move(backlog)), writer);
    if (open) {
      v1::ReceiveResponse marker;
      marker.set_backlog_complete(true);
      open = writer->Write(marker);
    }
    while (open && reader->Read(&in)) {
      open = WriteAll(relay_->Deliver(caller, {in.envelope()}), writer);
    }
    if (!open) upstream->TryCancel();  // The client went away: end the relay's stream too.
    return reader->Finish();
  }

  grpc::Status Ack(grpc::ServerContext* c, const v1::AckRequest* req,
                   v1::AckResponse* resp) override {
    return Forward(UpstreamContext(*c),
                   [&](grpc::ClientContext* u) { return relay_->relay_->Ack(u, *req, resp); });
  }

 private:
  static bool WriteAll(const std::vector<v1::Envelope>& envelopes,
                       grpc::ServerWriter<v1::ReceiveResponse>* writer) {
    for (const v1::Envelope& e : envelopes) {
      v1::ReceiveResponse out;
      *out.mutable_envelope() = e;
      if (!writer->Write(out)) return false;
    }
    return true;
  }

  HostileRelay* const relay_;
};

class HostileRelay::ClinicProxy final : public v1::Clinic::Service {
 public:
  explicit ClinicProxy(HostileRelay* relay) : relay_(relay) {}

  grpc::Status CreateInvite(grpc::ServerContext* c, const v1::CreateInviteRequest* req,
                            v1::CreateInviteResponse* resp) override {
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->clinic_->CreateInvite(u, *req, resp);
    });
  }
  grpc::Status RevokeInvite(grpc::ServerContext* c, const v1::RevokeInviteRequest* req,
                            v1::RevokeInviteResponse* resp) override {
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->clinic_->RevokeInvite(u, *req, resp);
    });
  }
  grpc::Status ListMembers(grpc::ServerContext* c, const v1::ListMembersRequest* req,
                           v1::ListMembersResponse* resp) override {
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->clinic_->ListMembers(u, *req, resp);
    });
  }
  grpc::Status DeactivateAccount(grpc::ServerContext* c, const v1::DeactivateAccountRequest* req,
                                 v1::DeactivateAccountResponse* resp) override {
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->clinic_->DeactivateAccount(u, *req, resp);
    });
  }
  grpc::Status ReadAudit(grpc::ServerContext* c, const v1::ReadAuditRequest* req,
                         v1::ReadAuditResponse* resp) override {
    return Forward(UpstreamContext(*c), [&](grpc::ClientContext* u) {
      return relay_->clinic_->ReadAudit(u, *req, resp);
    });
  }

 private:
  HostileRelay* const relay_;
};

class HostileRelay::DevicesProxy final : public v1::Devices::Service {
 public:
  explicit DevicesProxy(HostileRelay* relay) : relay_(relay) {}

#define ALLIANCE_FORWARD_DEVICES(Method)                                                     \
  grpc::Status Method(grpc::ServerContext* c, const v1::Method##Request* req,               \
                      v1::Method##Response* resp) override {                                \
    return Forward(UpstreamContext(*c),                                                     \
                   [&](grpc::ClientContext* u) { return relay_->devices_->Method(u, *req, resp); }); \
  }
  ALLIANCE_FORWARD_DEVICES(PublishDeviceList)
  ALLIANCE_FORWARD_DEVICES(ListDevices)
  ALLIANCE_FORWARD_DEVICES(StartLink)
  ALLIANCE_FORWARD_DEVICES(ApproveLink)
  ALLIANCE_FORWARD_DEVICES(AwaitLink)
  ALLIANCE_FORWARD_DEVICES(CompleteLink)
#undef ALLIANCE_FORWARD_DEVICES

 private:
  HostileRelay* const relay_;
};

HostileRelay::HostileRelay(const std::string& upstream)
    : channel_(grpc::CreateChannel(upstream, grpc::InsecureChannelCredentials())),
      accounts_(v1::Accounts::NewStub(channel_)),
      keys_(v1::Keys::NewStub(channel_)),
      relay_(v1::Relay::NewStub(channel_)),
      clinic_(v1::Clinic::NewStub(channel_)),
      devices_(v1::Devices::NewStub(channel_)),
      accounts_proxy_(std::make_unique<AccountsProxy>(this)),
      keys_proxy_(std::make_unique<KeysProxy>(this)),
      relay_proxy_(std::make_unique<RelayProxy>(this)),
      clinic_proxy_(std::make_unique<ClinicProxy>(this)),
      devices_proxy_(std::make_unique<DevicesProxy>(this)) {}

absl::StatusOr<std::unique_ptr<HostileRelay>> HostileRelay::Start(const std::string& upstream) {
  std::unique_ptr<HostileRelay> relay(new HostileRelay(upstream));
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &relay->port_);
  builder.RegisterService(relay->accounts_proxy_.get());
  builder.RegisterService(relay->keys_proxy_.get());
  builder.RegisterService(relay->relay_proxy_.get());
  builder.RegisterService(relay->clinic_proxy_.get());
  builder.RegisterService(relay->devices_proxy_.get());
  relay->server_ = builder.BuildAndStart();
  if (relay->server_ == nullptr || relay->port_ == 0) {
    return absl::InternalError("hostile relay cannot listen on 127.0.0.1");
  }
  return relay;
}

HostileRelay::~HostileRelay() {
  // An immediate deadline cancels the calls in flight; cancellation reaches their upstream calls,
  // so no handler stays blocked on the real relay.
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

void HostileRelay::SetDeliveryHook(DeliveryHook hook) {
  base::MutexLock lock(&mu_);
  delivery_hook_ = std::move(hook);
}

void HostileRelay::SetContactsHook(ContactsHook hook) {
  base::MutexLock lock(&mu_);
  contacts_hook_ = std::move(hook);
}

void HostileRelay::SetBundleHook(BundleHook hook) {
  base::MutexLock lock(&mu_);
  bundle_hook_ = std::move(hook);
}

std::vector<v1::Envelope> HostileRelay::Sent() const {
  base::MutexLock lock(&mu_);
  return sent_;
}

std::vector<v1::Envelope> HostileRelay::Delivered() const {
  base::MutexLock lock(&mu_);
  return delivered_;
}

std::vector<v1::PreKeyBundle> HostileRelay::Bundles() const {
  base::MutexLock lock(&mu_);
  return bundles_;
}

v1::Address HostileRelay::CallerOf(const grpc::ServerContext& server) const {
  auto it = server.client_metadata().find("authorization");
  if (it == server.client_metadata().end()) return v1::Address();
  const std::string value(it->second.data(), it->second.size());
  if (!value.starts_with(kBearer)) return v1::Address();
  const std::string token = absl::HexStringToBytes(value.substr(kBearer.size()));
  base::MutexLock lock(&mu_);
  auto found = callers_.find(token);
  return found == callers_.end() ? v1::Address() : found->second;
}

std::unique_ptr<grpc::ClientContext> HostileRelay::UpstreamContext(
    const grpc::ServerContext& server) {
  std::unique_ptr<grpc::ClientContext> upstream = grpc::ClientContext::FromServerContext(server);
  auto it = server.client_metadata().find("authorization");
  if (it != server.client_metadata().end()) {
    upstream->AddMetadata("authorization", std::string(it->second.data(), it->second.size()));
  }
  return upstream;
}

void HostileRelay::NoteLogin(const v1::LoginRequest& request, const v1::LoginResponse& response) {
  base::MutexLock lock(&mu_);
  callers_[response.token()] = request.address();
}

void HostileRelay::NoteSent(const v1::Address& caller, const v1::SendRequest& request,
                            const v1::SendResponse& response) {
  if (response.mismatches_size() > 0) return;  // Nothing was stored.
  // One envelope per destination device, as the relay stores them.
  std::vector<v1::DeviceMessage> messages(request.messages().begin(), request.messages().end());
  if (messages.empty()) {
    v1::DeviceMessage& m = messages.emplace_back();
    *m.mutable_destination() = request.recipient();
    m.set_type(request.type());
    m.set_payload(request.payload());
  }
  base::MutexLock lock(&mu_);
  for (size_t i = 0; i < messages.size(); ++i) {
    v1::Envelope e;
    e.set_version(request.version());
    e.set_message_id(request.message_id());
    *e.mutable_sender() = caller;
    *e.mutable_recipient() = messages[i].destination();
    e.set_type(messages[i].type());
    e.set_payload(messages[i].payload());
    e.set_sequence(static_cast<int>(i) < response.sequences_size() ? response.sequences(i)
                                                                   : response.sequence());
    e.set_server_time_ms(response.server_time_ms());
    sent_.push_back(std::move(e));
  }
}

std::vector<v1::Envelope> HostileRelay::Deliver(const v1::Address& caller,
                                                std::vector<v1::Envelope> backlog) {
  DeliveryHook hook;
  {
    base::MutexLock lock(&mu_);
    hook = delivery_hook_;
  }
  std::vector<v1::Envelope> out = hook ? hook(caller, std::move(backlog)) : std::move(backlog);
  base::MutexLock lock(&mu_);
  delivered_.insert(delivered_.end(), out.begin(), out.end());
  return out;
}

void HostileRelay::HandOut(const v1::Address& caller, v1::PreKeyBundle* bundle) {
  BundleHook hook;
  {
    base::MutexLock lock(&mu_);
    bundles_.push_back(*bundle);
    hook = bundle_hook_;
  }
  if (hook) hook(caller, bundle);
}

}  // namespace alliance::client::testing

// Fuzz target: the relay's request handling, in process (tests/fuzz/relay_fixture.h).
//
// Input: method byte ‖ caller byte ‖ request bytes. The method byte picks one of the relay's
// RPCs, the caller byte whom the call comes from (nobody, the admin, the therapist, their
// client, or a well-formed token nobody holds), and the rest is the serialized request, with
// account aliases (16 × 0xA1/0xA2/0xA3) replaced by the real account ids. Bytes that do not
// parse as the request are dropped, as gRPC drops them before any handler runs.
//
// The sixteen unary RPCs go straight to the service objects (AccountsService, ClinicService,
// KeysService, RelayService). Receive is a server stream whose reactor needs a live call, so it
// is driven one layer down, as its reactor does: authenticate, check the mailbox is the
// caller's own, Subscribe, Read the backlog, Unsubscribe.
//
// Invariants: no crash, leak or UB; every call finishes; no request yields INTERNAL, UNKNOWN or
// DATA_LOSS (a request can be refused, never break the relay); Receive only ever returns the
// caller's own envelopes, in ascending order, up to the backlog end.
#include "alliance/v1/accounts_service.pb.h"
#include "alliance/v1/blobs_service.pb.h"
#include "alliance/v1/clinic_service.pb.h"
#include "alliance/v1/keys_service.pb.h"
#include "alliance/v1/relay_service.pb.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/relay_fixture.h"

namespace alliance::fuzz {
namespace {

using server::AccountsService;
using server::BlobsService;
using server::ClinicService;
using server::DevicesService;
using server::KeysService;
using server::RelayService;


void RequireSound(const grpc::Status& s) {
  const grpc::StatusCode c = s.error_code();
  if (c == grpc::StatusCode::INTERNAL || c == grpc::StatusCode::UNKNOWN ||
      c == grpc::StatusCode::DATA_LOSS) {
    std::fprintf(stderr, "status %d: %s\n", static_cast<int>(c), s.error_message().c_str());
    Fail("a request never yields INTERNAL, UNKNOWN or DATA_LOSS");
  }
}

template <class Service, class Request, class Response>
void Unary(grpc::ServerUnaryReactor* (Service::*method)(grpc::CallbackServerContext*,
                                                        const Request*, Response*),
           Service* service, const std::string& bytes, const std::string& authorization) {
  Request request;
  if (!request.ParseFromString(bytes)) return;
  RequireSound(RelayFixture::Get().Call(method, service, request, authorization));
}

class NoSubscriber final : public server::Mailbox::Subscription {
 public:
  void OnAvailable() override {}
  void OnClosed(absl::Status) override {}
};

void Receive(const std::string& bytes, const std::string& authorization) {
  v1::ReceiveRequest request;
  if (!request.ParseFromString(bytes)) return;
  const server::ServiceDeps& deps = RelayFixture::Get().deps();
  absl::StatusOr<server::Caller> caller = deps.auth->Authenticate(authorization);
  if (!caller.ok()) return;
  if (request.has_mailbox() && !server::IsOwnAddress(*caller, request.mailbox())) return;
  auto subscriber = std::make_shared<NoSubscriber>();
  const v1::Address address = caller->address();
  absl::StatusOr<uint64_t> end = deps.mailbox->Subscribe(address, subscriber);
  RequireSound(server::ToGrpcStatus(end.status(), nullptr));
  if (end.ok()) {
    uint64_t scanned = 0;
    absl::StatusOr<std::vector<v1::Envelope>> backlog =
        deps.mailbox->Read(address, 0, *end, 100, &scanned);
    RequireOk(backlog.status(), "read the backlog");
    uint64_t last = 0;
    for (const v1::Envelope& e : *backlog) {
      Require(e.sequence() > last && e.sequence() <= *end, "envelopes in order, within the backlog");
      Require(e.recipient().account_id() == address.account_id() &&
                  e.recipient().device_id() == address.device_id(),
              "only the caller's own envelopes");
      last = e.sequence();
    }
  }
  deps.mailbox->Unsubscribe(address, subscriber.get());
}

void Dispatch(Method method, const std::string& bytes, const std::string& auth) {
  RelayFixture& r = RelayFixture::Get();
  switch (method) {
    case kRegister: return Unary(&AccountsService::Register, r.accounts(), bytes, auth);
    case kChallenge: return Unary(&AccountsService::Challenge, r.accounts(), bytes, auth);
    case kLogin: return Unary(&AccountsService::Login, r.accounts(), bytes, auth);
    case kLogout: return Unary(&AccountsService::Logout, r.accounts(), bytes, auth);
    case kListContacts: return Unary(&AccountsService::ListContacts, r.accounts(), bytes, auth);
    case kDeleteAccount: return Unary(&AccountsService::DeleteAccount, r.accounts(), bytes, auth);
    case kCreateInvite: return Unary(&ClinicService::CreateInvite, r.clinic(), bytes, auth);
    case kRevokeInvite: return Unary(&ClinicService::RevokeInvite, r.clinic(), bytes, auth);
    case kListMembers: return Unary(&ClinicService::ListMembers, r.clinic(), bytes, auth);
    case kDeactivateAccount: return Unary(&ClinicService::DeactivateAccount, r.clinic(), bytes, auth);
    case kReadAudit: return Unary(&ClinicService::ReadAudit, r.clinic(), bytes, auth);
    case kPublishPreKeys: return Unary(&KeysService::PublishPreKeys, r.keys(), bytes, auth);
    case kFetchPreKeyBundle: return Unary(&KeysService::FetchPreKeyBundle, r.keys(), bytes, auth);
    case kGetPreKeyStatus: return Unary(&KeysService::GetPreKeyStatus, r.keys(), bytes, auth);
    case kSend: return Unary(&RelayService::Send, r.relay(), bytes, auth);
    case kAck: return Unary(&RelayService::Ack, r.relay(), bytes, auth);
    case kReceive: return Receive(bytes, auth);
    case kPublishDeviceList:
      return Unary(&DevicesService::PublishDeviceList, r.devices(), bytes, auth);
    case kListDevices: return Unary(&DevicesService::ListDevices, r.devices(), bytes, auth);
    case kStartLink: return Unary(&DevicesService::StartLink, r.devices(), bytes, auth);
    case kApproveLink: return Unary(&DevicesService::ApproveLink, r.devices(), bytes, auth);
    case kAwaitLink: return Unary(&DevicesService::AwaitLink, r.devices(), bytes, auth);
    case kCompleteLink: return Unary(&DevicesService::CompleteLink, r.devices(), bytes, auth);
    case kListAccountDevices:
      return Unary(&ClinicService::ListAccountDevices, r.clinic(), bytes, auth);
    case kRemoveAccountDevice:
      return Unary(&ClinicService::RemoveAccountDevice, r.clinic(), bytes, auth);
    case kUploadStatus: return Unary(&BlobsService::UploadStatus, r.blobs(), bytes, auth);
    case kMethods: return;
  }
}

}  // namespace
}  // namespace alliance::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  alliance::fuzz::InitSodiumOrDie();
  (void)alliance::fuzz::RelayFixture::Get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alliance::fuzz;
  if (size < 2) return 0;
  RelayFixture& relay = RelayFixture::Get();
  const auto method = static_cast<Method>(data[0] % kMethods);
  const auto as = static_cast<As>(data[1] % 5);
  std::string bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  relay.ResolveAliases(&bytes);
  Dispatch(method, bytes, relay.Authorization(as));
  relay.Refresh();
  return 0;
}

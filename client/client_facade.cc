// The Client facade: every public call forwards to ClientCore (client/internal/client_core.h),
// which owns the state; this file exists so that client.h carries no gRPC or RocksDB type.
#include <utility>

#include "base/status_macros.h"
#include "client/client.h"
#include "client/internal/client_core.h"

namespace alliance::client {

Client::Client(std::unique_ptr<ClientCore> core) : core_(std::move(core)) {}

absl::StatusOr<std::unique_ptr<Client>> Client::Init(const ClientOptions& options,
                                                     crypto::ByteSpan passphrase) {
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<ClientCore> core,
                            ClientCore::Init(options, passphrase));
  return std::unique_ptr<Client>(new Client(std::move(core)));
}

absl::StatusOr<std::unique_ptr<Client>> Client::Open(const ClientOptions& options,
                                                     crypto::ByteSpan passphrase) {
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<ClientCore> core,
                            ClientCore::Open(options, passphrase));
  return std::unique_ptr<Client>(new Client(std::move(core)));
}

Client::~Client() = default;

absl::Status Client::Register(const std::string& invite_code, const std::string& display_name) {
  return core_->Register(invite_code, display_name);
}

absl::Status Client::Register(const std::string& invite_code, const std::string& display_name,
                              const RelayOptions& relay) {
  return core_->RegisterWith(invite_code, display_name, relay);
}

absl::StatusOr<AccountView> Client::Account() { return core_->Account(); }

absl::StatusOr<std::vector<ContactView>> Client::Contacts(bool refresh) {
  return core_->Contacts(refresh);
}

absl::StatusOr<ContactView> Client::ResolveContact(const std::string& ref) {
  return core_->ResolveContact(ref);
}

absl::StatusOr<SafetyNumberView> Client::SafetyNumber(const std::string& ref) {
  return core_->SafetyNumber(ref);
}

absl::Status Client::Verify(const std::string& ref, const std::string& typed) {
  return core_->Verify(ref, typed);
}

absl::Status Client::AcceptKey(const std::string& ref, const std::string& typed) {
  return core_->AcceptKey(ref, typed);
}

absl::StatusOr<ComposePreview> Client::Preview(const std::string& ref,
                                               const SendOptions& options) {
  return core_->Preview(ref, options);
}

absl::StatusOr<SendResult> Client::SendText(const std::string& ref, const std::string& body,
                                            const SendOptions& options) {
  return core_->SendText(ref, body, options);
}

absl::StatusOr<std::vector<MessageView>> Client::Sync() { return core_->Sync(); }

absl::StatusOr<std::string> Client::SaveAttachment(const std::string& message_id, size_t index,
                                                   const std::string& directory) {
  return core_->SaveAttachment(message_id, index, directory);
}

absl::StatusOr<std::vector<AttachmentView>> Client::MessageAttachments(
    const std::string& message_id) {
  return core_->MessageAttachments(message_id);
}

absl::Status Client::Listen(const std::function<void(const MessageView&)>& on_message) {
  return core_->Listen(on_message);
}

void Client::StopListening() { core_->StopListening(); }

absl::StatusOr<std::vector<MessageView>> Client::History(const std::string& ref, bool mark_read) {
  return core_->History(ref, mark_read);
}

absl::StatusOr<std::string> Client::ExportJson(const std::string& ref) {
  return core_->ExportJson(ref);
}

absl::Status Client::SetReadReceipts(bool enabled) { return core_->SetReadReceipts(enabled); }

absl::Status Client::ProposeAgreement(const std::string& ref, v1::CareAgreement draft) {
  return core_->ProposeAgreement(ref, std::move(draft));
}

absl::Status Client::AcceptAgreement(const std::string& ref) { return core_->AcceptAgreement(ref); }

absl::StatusOr<AgreementView> Client::Agreement(const std::string& ref) {
  return core_->Agreement(ref);
}

absl::Status Client::SetOutOfOffice(std::vector<v1::OutOfOffice> periods) {
  return core_->SetOutOfOffice(std::move(periods));
}

absl::StatusOr<std::vector<DueView>> Client::DueList() { return core_->DueList(); }

absl::StatusOr<std::vector<DueView>> Client::Digest(const std::string& ref) {
  return core_->Digest(ref);
}

absl::StatusOr<std::optional<absl::Time>> Client::HeldUntil(const std::string& ref) {
  return core_->HeldUntil(ref);
}

absl::StatusOr<std::string> Client::OpenConcern(const std::string& ref, const std::string& title,
                                                const std::string& note) {
  return core_->OpenConcern(ref, title, note);
}

absl::Status Client::StepConcern(const std::string& ref, const std::string& concern_id,
                                 ConcernStep step, const std::string& note) {
  return core_->StepConcern(ref, concern_id, step, note);
}

absl::StatusOr<std::vector<ConcernView>> Client::Concerns(const std::string& ref) {
  return core_->Concerns(ref);
}

absl::StatusOr<std::string> Client::AddGoal(const std::string& ref, const std::string& title,
                                            const std::string& description) {
  return core_->AddGoal(ref, title, description);
}

absl::Status Client::StepGoal(const std::string& ref, const std::string& goal_id, GoalStep step,
                              const std::string& text, std::optional<uint32_t> percent) {
  return core_->StepGoal(ref, goal_id, step, text, percent);
}

absl::StatusOr<std::vector<GoalView>> Client::Goals(const std::string& ref) {
  return core_->Goals(ref);
}

absl::StatusOr<size_t> Client::ApplyRetention() { return core_->ApplyRetention(); }

absl::StatusOr<InviteView> Client::CreateInvite(v1::Role role) { return core_->CreateInvite(role); }

absl::StatusOr<std::vector<v1::Member>> Client::Members() { return core_->Members(); }

absl::Status Client::Deactivate(const std::string& account_id_hex) {
  return core_->Deactivate(account_id_hex);
}

absl::StatusOr<std::vector<v1::AuditEntry>> Client::Audit(uint64_t after, uint32_t limit,
                                                          bool security_only) {
  return core_->Audit(after, limit, security_only);
}

absl::Status Client::MaintainPreKeys() { return core_->MaintainPreKeys(); }
absl::StatusOr<LinkCodeView> Client::StartLink(const RelayOptions& relay) {
  return core_->StartLink(relay);
}
absl::Status Client::FinishLink(absl::Duration max_wait) { return core_->FinishLink(max_wait); }
absl::StatusOr<uint32_t> Client::ApproveLink(const std::string& code,
                                             const std::string& device_name) {
  return core_->ApproveLink(code, device_name);
}
absl::StatusOr<std::vector<DeviceView>> Client::Devices() { return core_->Devices(); }
absl::Status Client::RemoveDevice(uint32_t device_id) { return core_->RemoveDevice(device_id); }
absl::StatusOr<std::vector<v1::DeviceStatus>> Client::AccountDevices(
    const std::string& account_id_hex) {
  return core_->AccountDevices(account_id_hex);
}
absl::Status Client::RemoveAccountDevice(const std::string& account_id_hex, uint32_t device_id) {
  return core_->RemoveAccountDevice(account_id_hex, device_id);
}

absl::StatusOr<v1::GetPreKeyStatusResponse> Client::PreKeyStatus() { return core_->PreKeyStatus(); }

uint64_t Client::Subscribe(EventHandler handler) { return core_->Subscribe(std::move(handler)); }

void Client::Unsubscribe(uint64_t subscription) { core_->Unsubscribe(subscription); }

}  // namespace alliance::client

#include "client/relay_connection.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/loopback.h"
#include "base/status_macros.h"
#include "wire/signed_strings.h"

namespace alliance::client {
namespace {

constexpr absl::Duration kReconnectWait = absl::Seconds(2);

absl::StatusCode ToAbslCode(grpc::StatusCode c) { return static_cast<absl::StatusCode>(c); }

}  // namespace

absl::Status FromGrpc(const grpc::Status& s, const std::string& address) {
  if (s.ok()) return absl::OkStatus();
  const std::string& m = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::string why = "unavailable";
    if (absl::StrContains(m, "Connection refused")) {
      why = "connection refused";
    } else if (absl::StrContains(m, "DNS") || absl::StrContains(m, "resolve")) {
      why = "cannot resolve host";
    } else if (absl::StrContains(m, "handshake") || absl::StrContains(m, "SSL") ||
               absl::StrContains(m, "ssl")) {
      why = "TLS handshake failed (is --ca-file the CA that signed the relay's certificate?)";
    } else if (absl::StrContains(absl::AsciiStrToLower(m), "socket closed")) {
      why = "the relay closed the connection (does it require TLS? give --ca-file)";
    } else if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      why = "timed out";
    } else if (!m.empty() && m.size() < 120) {
      why = absl::AsciiStrToLower(m);
    }
    return absl::UnavailableError(absl::StrCat("cannot reach relay ", address, ": ", why));
  }
  return absl::Status(ToAbslCode(s.error_code()), absl::StrCat("relay: ", m));
}

absl::StatusOr<std::unique_ptr<RelayConnection>> RelayConnection::Create(
    const RelayOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  std::string target = options.address;
  if (options.ca_file.empty()) {
    if (!options.insecure) {
      // Plaintext only to loopback, decided by the resolved address; the channel then uses
      // that literal address, so a later lookup cannot point it elsewhere.
      absl::StatusOr<std::string> loopback = base::ResolveLoopbackTarget(options.address);
      if (!loopback.ok()) {
        return absl::InvalidArgumentError(
            "refusing plaintext to " + options.address +
            ": give --ca-file for a TLS relay (or --insecure on a trusted network)");
      }
      target = *std::move(loopback);
    }
    creds = grpc::InsecureChannelCredentials();
  } else {
    std::ifstream in(options.ca_file);
    if (!in) return absl::InvalidArgumentError("cannot read CA file " + options.ca_file);
    std::stringstream pem;
    pem << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(4 * 1024 * 1024);
  // Reconnect quickly after a relay restart instead of gRPC's default multi-second backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  auto channel = grpc::CreateCustomChannel(target, creds, args);
  return std::unique_ptr<RelayConnection>(new RelayConnection(options, std::move(channel)));
}

RelayConnection::RelayConnection(const RelayOptions& options,
                                 std::shared_ptr<grpc::Channel> channel)
    : options_(options),
      channel_(std::move(channel)),
      accounts_(v1::Accounts::NewStub(channel_)),
      keys_(v1::Keys::NewStub(channel_)),
      relay_(v1::Relay::NewStub(channel_)),
      clinic_(v1::Clinic::NewStub(channel_)),
      devices_(v1::Devices::NewStub(channel_)),
      blobs_(v1::Blobs::NewStub(channel_)) {}

void RelayConnection::SetLogin(const crypto::IdentityKeyPair* identity,
                               const std::string& account_id, uint32_t device_id,
                               const std::string& relay_id) {
  base::MutexLock lock(&mu_);
  identity_ = identity;
  account_id_ = account_id;
  device_id_ = device_id;
  relay_id_ = relay_id;
  token_hex_.clear();
}

void RelayConnection::SetDeviceKey(const crypto::IdentityKeyPair* device_key, bool device_login) {
  base::MutexLock lock(&mu_);
  if (device_key_ != device_key || device_login_ != device_login) token_hex_.clear();
  device_key_ = device_key;
  device_login_ = device_login && device_key != nullptr;
}

void RelayConnection::SetDeadline(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
}

absl::StatusOr<std::string> RelayConnection::Token() {
  {
    base::MutexLock lock(&mu_);
    if (!token_hex_.empty()) return token_hex_;
  }
  return Login();
}

absl::StatusOr<v1::ChallengeResponse> RelayConnection::Challenge() {
  v1::ChallengeResponse resp;
  grpc::Status s;
  grpc::Status first_unavailable;
  for (int attempt = 0; attempt < 2; ++attempt) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    if (attempt == 1) {
      // After UNAVAILABLE: give a reconnecting channel (relay restart) a moment.
      ctx.set_wait_for_ready(true);
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + kReconnectWait));
    }
    s = accounts_->Challenge(&ctx, v1::ChallengeRequest(), &resp);
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
        !(attempt == 1 && s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
      break;
    }
    if (attempt == 0) {
      first_unavailable = s;
    } else {
      s = first_unavailable;  // Still down: report why the first attempt failed.
    }
  }
  ALLIANCE_RETURN_IF_ERROR(FromGrpc(s, options_.address));
  if (resp.relay_id().size() != 16 || resp.nonce().size() != 32) {
    return absl::DataLossError("relay sent a malformed challenge");
  }
  return resp;
}

absl::StatusOr<v1::RegisterResponse> RelayConnection::Register(const v1::RegisterRequest& req) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::RegisterResponse resp;
  ALLIANCE_RETURN_IF_ERROR(FromGrpc(accounts_->Register(&ctx, req, &resp), options_.address));
  return resp;
}

absl::StatusOr<std::string> RelayConnection::Login() {
  bool device_first;
  bool can_switch;
  {
    base::MutexLock lock(&mu_);
    device_first = device_login_;
    can_switch = device_key_ != nullptr;
  }
  absl::StatusOr<std::string> token = LoginOnce(device_first);
  if (!token.ok() && absl::IsUnauthenticated(token.status()) && can_switch) {
    absl::StatusOr<std::string> other = LoginOnce(!device_first);
    if (other.ok()) {
      base::MutexLock lock(&mu_);
      device_login_ = !device_first;
      return other;
    }
  }
  return token;
}

absl::StatusOr<std::string> RelayConnection::LoginOnce(bool with_device_key) {
  const crypto::IdentityKeyPair* signer;
  std::string pinned_relay_id;
  std::string account_id;
  uint32_t device_id;
  v1::LoginRequest req;
  {
    base::MutexLock lock(&mu_);
    if (identity_ == nullptr) return absl::FailedPreconditionError("profile is not registered");
    signer = with_device_key ? device_key_ : identity_;
    if (signer == nullptr) return absl::FailedPreconditionError("this device has no device key");
    pinned_relay_id = relay_id_;
    account_id = account_id_;
    device_id = device_id_;
    req.mutable_address()->set_account_id(account_id_);
    req.mutable_address()->set_device_id(device_id_);
  }
  ALLIANCE_ASSIGN_OR_RETURN(v1::ChallengeResponse ch, Challenge());
  if (!pinned_relay_id.empty() && ch.relay_id() != pinned_relay_id) {
    return absl::PermissionDeniedError("relay at " + options_.address +
                                       " is not the relay this profile registered with");
  }
  const std::string message =
      with_device_key
          ? wire::DeviceLoginMessage(ch.relay_id(), account_id, device_id, ch.nonce(),
                                     ch.expires_at())
          : wire::LoginMessage(ch.relay_id(), ch.nonce(), ch.expires_at());
  crypto::Signature sig = signer->Sign(crypto::AsBytes(message));
  req.set_nonce(ch.nonce());
  req.set_expires_at(ch.expires_at());
  req.set_signature(reinterpret_cast<const char*>(sig.data()), sig.size());
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::LoginResponse resp;
  ALLIANCE_RETURN_IF_ERROR(FromGrpc(accounts_->Login(&ctx, req, &resp), options_.address));
  if (resp.token().size() != 32) return absl::DataLossError("relay sent a malformed token");
  std::string token = absl::BytesToHexString(resp.token());
  base::MutexLock lock(&mu_);
  token_hex_ = token;
  return token;
}

void RelayConnection::ForgetToken() {
  base::MutexLock lock(&mu_);
  token_hex_.clear();
}

absl::StatusOr<v1::UploadStatusResponse> RelayConnection::UploadStatus(
    const v1::UploadStatusRequest& req) {
  return Authed<v1::UploadStatusResponse>(
      [&](grpc::ClientContext* ctx, v1::UploadStatusResponse* resp) {
        return blobs_->UploadStatus(ctx, req, resp);
      });
}

namespace {
// A transfer stream may take long on a slow link, but never forever.
constexpr absl::Duration kTransferDeadline = absl::Minutes(30);
}  // namespace

absl::StatusOr<v1::UploadResponse> RelayConnection::Upload(
    const v1::UploadStart& start, const std::function<absl::StatusOr<bool>(std::string*)>& next) {
  grpc::ClientContext ctx;
  ALLIANCE_RETURN_IF_ERROR(PrepareStream(&ctx));
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTransferDeadline));
  v1::UploadResponse resp;
  std::unique_ptr<grpc::ClientWriter<v1::UploadRequest>> writer = blobs_->Upload(&ctx, &resp);
  v1::UploadRequest req;
  *req.mutable_start() = start;
  bool open = writer->Write(req);
  absl::Status source_error;
  while (open) {
    req.Clear();
    absl::StatusOr<bool> more = next(req.mutable_data());
    if (!more.ok()) {
      source_error = more.status();
      ctx.TryCancel();
      break;
    }
    if (!req.data().empty()) open = writer->Write(req);
    if (!*more) break;
  }
  if (open && source_error.ok()) writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!source_error.ok()) return source_error;
  if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) ForgetToken();
  ALLIANCE_RETURN_IF_ERROR(FromGrpc(s, options_.address));
  return resp;
}

absl::Status RelayConnection::Download(
    const v1::DownloadRequest& req,
    const std::function<absl::Status(const v1::DownloadResponse&)>& sink) {
  grpc::ClientContext ctx;
  ALLIANCE_RETURN_IF_ERROR(PrepareStream(&ctx));
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTransferDeadline));
  std::unique_ptr<grpc::ClientReader<v1::DownloadResponse>> reader = blobs_->Download(&ctx, req);
  v1::DownloadResponse resp;
  absl::Status sink_error;
  while (reader->Read(&resp)) {
    sink_error = sink(resp);
    if (!sink_error.ok()) {
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (!sink_error.ok()) return sink_error;
  if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) ForgetToken();
  return FromGrpc(s, options_.address);
}

absl::Status RelayConnection::PrepareStream(grpc::ClientContext* context) {
  ALLIANCE_ASSIGN_OR_RETURN(std::string token, Token());
  context->AddMetadata("authorization", "Bearer " + token);
  return absl::OkStatus();
}

template <typename Response, typename Call>
absl::StatusOr<Response> RelayConnection::Authed(Call call) {
  bool relogged = false;
  bool waited = false;
  grpc::Status first_unavailable;
  while (true) {
    ALLIANCE_ASSIGN_OR_RETURN(std::string token, Token());
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    if (waited) {
      // Second attempt after UNAVAILABLE: give a reconnecting channel a moment.
      ctx.set_wait_for_ready(true);
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + kReconnectWait));
    }
    ctx.AddMetadata("authorization", "Bearer " + token);
    Response resp;
    grpc::Status s = call(&ctx, &resp);
    if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED && !relogged) {
      relogged = true;
      base::MutexLock lock(&mu_);
      token_hex_.clear();  // Expired or revoked (e.g. relay restarted): log in again once.
      continue;
    }
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE && !waited) {
      waited = true;
      first_unavailable = s;
      continue;
    }
    if (waited && (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                   s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
      s = first_unavailable;  // Still down: report why the first attempt failed.
    }
    ALLIANCE_RETURN_IF_ERROR(FromGrpc(s, options_.address));
    return resp;
  }
}

absl::StatusOr<v1::ListContactsResponse> RelayConnection::ListContacts() {
  return Authed<v1::ListContactsResponse>([&](grpc::ClientContext* c, auto* r) {
    return accounts_->ListContacts(c, v1::ListContactsRequest(), r);
  });
}
absl::StatusOr<v1::PublishPreKeysResponse> RelayConnection::PublishPreKeys(
    const v1::PublishPreKeysRequest& req) {
  return Authed<v1::PublishPreKeysResponse>(
      [&](grpc::ClientContext* c, auto* r) { return keys_->PublishPreKeys(c, req, r); });
}
absl::StatusOr<v1::FetchPreKeyBundleResponse> RelayConnection::FetchPreKeyBundle(
    const v1::FetchPreKeyBundleRequest& req) {
  return Authed<v1::FetchPreKeyBundleResponse>(
      [&](grpc::ClientContext* c, auto* r) { return keys_->FetchPreKeyBundle(c, req, r); });
}
absl::StatusOr<v1::GetPreKeyStatusResponse> RelayConnection::GetPreKeyStatus() {
  return Authed<v1::GetPreKeyStatusResponse>([&](grpc::ClientContext* c, auto* r) {
    return keys_->GetPreKeyStatus(c, v1::GetPreKeyStatusRequest(), r);
  });
}
absl::StatusOr<v1::SendResponse> RelayConnection::Send(const v1::SendRequest& req) {
  return Authed<v1::SendResponse>(
      [&](grpc::ClientContext* c, auto* r) { return relay_->Send(c, req, r); });
}
absl::StatusOr<v1::AckResponse> RelayConnection::Ack(const v1::AckRequest& req) {
  return Authed<v1::AckResponse>(
      [&](grpc::ClientContext* c, auto* r) { return relay_->Ack(c, req, r); });
}
absl::StatusOr<v1::CreateInviteResponse> RelayConnection::CreateInvite(
    const v1::CreateInviteRequest& req) {
  return Authed<v1::CreateInviteResponse>(
      [&](grpc::ClientContext* c, auto* r) { return clinic_->CreateInvite(c, req, r); });
}
absl::StatusOr<v1::ListMembersResponse> RelayConnection::ListMembers(
    const v1::ListMembersRequest& req) {
  return Authed<v1::ListMembersResponse>(
      [&](grpc::ClientContext* c, auto* r) { return clinic_->ListMembers(c, req, r); });
}
absl::StatusOr<v1::DeactivateAccountResponse> RelayConnection::DeactivateAccount(
    const v1::DeactivateAccountRequest& req) {
  return Authed<v1::DeactivateAccountResponse>(
      [&](grpc::ClientContext* c, auto* r) { return clinic_->DeactivateAccount(c, req, r); });
}
absl::StatusOr<v1::ReadAuditResponse> RelayConnection::ReadAudit(const v1::ReadAuditRequest& req) {
  return Authed<v1::ReadAuditResponse>(
      [&](grpc::ClientContext* c, auto* r) { return clinic_->ReadAudit(c, req, r); });
}
absl::StatusOr<v1::DeleteAccountResponse> RelayConnection::DeleteAccount(
    const v1::DeleteAccountRequest& req) {
  return Authed<v1::DeleteAccountResponse>(
      [&](grpc::ClientContext* c, auto* r) { return accounts_->DeleteAccount(c, req, r); });
}

absl::StatusOr<v1::PublishDeviceListResponse> RelayConnection::PublishDeviceList(
    const v1::PublishDeviceListRequest& req) {
  return Authed<v1::PublishDeviceListResponse>(
      [&](grpc::ClientContext* c, auto* r) { return devices_->PublishDeviceList(c, req, r); });
}
absl::StatusOr<v1::ListDevicesResponse> RelayConnection::ListDevices(
    const v1::ListDevicesRequest& req) {
  return Authed<v1::ListDevicesResponse>(
      [&](grpc::ClientContext* c, auto* r) { return devices_->ListDevices(c, req, r); });
}

absl::StatusOr<v1::ListAccountDevicesResponse> RelayConnection::ListAccountDevices(
    const v1::ListAccountDevicesRequest& req) {
  return Authed<v1::ListAccountDevicesResponse>(
      [&](grpc::ClientContext* c, auto* r) { return clinic_->ListAccountDevices(c, req, r); });
}
absl::StatusOr<v1::RemoveAccountDeviceResponse> RelayConnection::RemoveAccountDevice(
    const v1::RemoveAccountDeviceRequest& req) {
  return Authed<v1::RemoveAccountDeviceResponse>(
      [&](grpc::ClientContext* c, auto* r) { return clinic_->RemoveAccountDevice(c, req, r); });
}
absl::StatusOr<v1::ApproveLinkResponse> RelayConnection::ApproveLink(
    const v1::ApproveLinkRequest& req) {
  return Authed<v1::ApproveLinkResponse>(
      [&](grpc::ClientContext* c, auto* r) { return devices_->ApproveLink(c, req, r); });
}

template <typename Response, typename Call>
absl::StatusOr<Response> RelayConnection::Unauthed(Call call) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  Response resp;
  ALLIANCE_RETURN_IF_ERROR(FromGrpc(call(&ctx, &resp), options_.address));
  return resp;
}

absl::StatusOr<v1::StartLinkResponse> RelayConnection::StartLink(const v1::StartLinkRequest& req) {
  return Unauthed<v1::StartLinkResponse>(
      [&](grpc::ClientContext* c, auto* r) { return devices_->StartLink(c, req, r); });
}
absl::StatusOr<v1::AwaitLinkResponse> RelayConnection::AwaitLink(const v1::AwaitLinkRequest& req) {
  return Unauthed<v1::AwaitLinkResponse>(
      [&](grpc::ClientContext* c, auto* r) { return devices_->AwaitLink(c, req, r); });
}
absl::StatusOr<v1::CompleteLinkResponse> RelayConnection::CompleteLink(
    const v1::CompleteLinkRequest& req) {
  return Unauthed<v1::CompleteLinkResponse>(
      [&](grpc::ClientContext* c, auto* r) { return devices_->CompleteLink(c, req, r); });
}

}  // namespace alliance::client

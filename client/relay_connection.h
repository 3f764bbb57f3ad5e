// The client's one gRPC channel to its relay, with the session token attached to every call.
//
// Logs in by itself (Challenge + Login, signing with the identity key) when it has no token or
// the relay answers UNAUTHENTICATED, once per call. gRPC failures become absl statuses with one
// clear, non-identifying line, e.g. "cannot reach relay 127.0.0.1:7443: connection refused".
//
//   RelayConnection relay(options, &identity, address);
//   ALLIANCE_ASSIGN_OR_RETURN(v1::SendResponse r, relay.Send(request));
//
// Thread safety: all methods may be called concurrently.
#ifndef ALLIANCE_CLIENT_RELAY_CONNECTION_H_
#define ALLIANCE_CLIENT_RELAY_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "absl/time/time.h"
#include "alliance/v1/accounts_service.grpc.pb.h"
#include "alliance/v1/blobs_service.grpc.pb.h"
#include "alliance/v1/clinic_service.grpc.pb.h"
#include "alliance/v1/devices_service.grpc.pb.h"
#include "alliance/v1/keys_service.grpc.pb.h"
#include "alliance/v1/relay_service.grpc.pb.h"
#include "client/options.h"
#include "crypto/keys.h"

namespace alliance::client {

// Maps a gRPC status to an absl status whose message is one clear line for `address`.
absl::Status FromGrpc(const grpc::Status& s, const std::string& address);

class RelayConnection {
 public:
  // `identity` is borrowed and must outlive the connection. Returns INVALID_ARGUMENT when the
  // CA file cannot be read.
  // INVALID_ARGUMENT when the CA file cannot be read, or for plaintext to a non-loopback host
  // without `insecure`.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RelayConnection>> Create(
      const RelayOptions& options);

  // Account used for Login (set after registration or when the profile is opened).
  // `relay_id` (16 bytes, from registration) is pinned: a relay presenting another id is
  // refused, so a login signature can never be relayed to a different relay. Empty: not pinned.
  void SetLogin(const crypto::IdentityKeyPair* identity, const std::string& account_id,
                uint32_t device_id, const std::string& relay_id);
  // This device's own key (borrowed; must outlive the connection). Once the account's device
  // list gives the device its key (`device_login` true), logins are signed with it over
  // wire::DeviceLoginMessage; before that with the identity key. If the relay refuses the login
  // one way (a list published by a process that crashed before recording it), the other is
  // tried once and kept.
  void SetDeviceKey(const crypto::IdentityKeyPair* device_key, bool device_login);

  // Unauthenticated calls.
  [[nodiscard]] absl::StatusOr<v1::ChallengeResponse> Challenge();
  [[nodiscard]] absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& req);

  // Authenticated calls (log in first when needed).
  [[nodiscard]] absl::StatusOr<v1::ListContactsResponse> ListContacts();
  [[nodiscard]] absl::StatusOr<v1::PublishPreKeysResponse> PublishPreKeys(
      const v1::PublishPreKeysRequest& req);
  [[nodiscard]] absl::StatusOr<v1::FetchPreKeyBundleResponse> FetchPreKeyBundle(
      const v1::FetchPreKeyBundleRequest& req);
  [[nodiscard]] absl::StatusOr<v1::GetPreKeyStatusResponse> GetPreKeyStatus();
  [[nodiscard]] absl::StatusOr<v1::SendResponse> Send(const v1::SendRequest& req);
  [[nodiscard]] absl::StatusOr<v1::AckResponse> Ack(const v1::AckRequest& req);
  [[nodiscard]] absl::StatusOr<v1::CreateInviteResponse> CreateInvite(
      const v1::CreateInviteRequest& req);
  [[nodiscard]] absl::StatusOr<v1::ListMembersResponse> ListMembers(
      const v1::ListMembersRequest& req);
  [[nodiscard]] absl::StatusOr<v1::DeactivateAccountResponse> DeactivateAccount(
      const v1::DeactivateAccountRequest& req);
  [[nodiscard]] absl::StatusOr<v1::ReadAuditResponse> ReadAudit(const v1::ReadAuditRequest& req);
  [[nodiscard]] absl::StatusOr<v1::DeleteAccountResponse> DeleteAccount(
      const v1::DeleteAccountRequest& req);
  [[nodiscard]] absl::StatusOr<v1::PublishDeviceListResponse> PublishDeviceList(
      const v1::PublishDeviceListRequest& req);
  [[nodiscard]] absl::StatusOr<v1::ListDevicesResponse> ListDevices(
      const v1::ListDevicesRequest& req);
  [[nodiscard]] absl::StatusOr<v1::ListAccountDevicesResponse> ListAccountDevices(
      const v1::ListAccountDevicesRequest& req);
  [[nodiscard]] absl::StatusOr<v1::RemoveAccountDeviceResponse> RemoveAccountDevice(
      const v1::RemoveAccountDeviceRequest& req);
  [[nodiscard]] absl::StatusOr<v1::ApproveLinkResponse> ApproveLink(
      const v1::ApproveLinkRequest& req);
  // Unauthenticated (the device being linked has no account yet).
  [[nodiscard]] absl::StatusOr<v1::StartLinkResponse> StartLink(const v1::StartLinkRequest& req);
  [[nodiscard]] absl::StatusOr<v1::AwaitLinkResponse> AwaitLink(const v1::AwaitLinkRequest& req);
  [[nodiscard]] absl::StatusOr<v1::CompleteLinkResponse> CompleteLink(
      const v1::CompleteLinkRequest& req);

  // Attachments (blobs_service.proto). Upload streams `start`, then each piece `next` yields
  // (it returns false after the last); Download hands each response to `sink` (an error from
  // it cancels the stream and is returned). Neither retries: a stream cut off ends with the
  // relay's or the channel's error (UNAUTHENTICATED also forgets the token), and the caller
  // resumes from UploadStatus or from the bytes it holds.
  [[nodiscard]] absl::StatusOr<v1::UploadStatusResponse> UploadStatus(
      const v1::UploadStatusRequest& req);
  [[nodiscard]] absl::StatusOr<v1::UploadResponse> Upload(
      const v1::UploadStart& start, const std::function<absl::StatusOr<bool>(std::string*)>& next);
  [[nodiscard]] absl::Status Download(
      const v1::DownloadRequest& req,
      const std::function<absl::Status(const v1::DownloadResponse&)>& sink);

  // Prepares a context for a Receive stream (token attached, no deadline).
  [[nodiscard]] absl::Status PrepareStream(grpc::ClientContext* context);
  // Drops the session token after a stream ended UNAUTHENTICATED (expired, or revoked as after
  // a relay restore), so the next call or stream logs in again.
  void ForgetToken();
  v1::Relay::Stub* relay_stub() { return relay_.get(); }
  const std::string& address() const { return options_.address; }

  // Logs in now and returns the session token (hex). UNAUTHENTICATED / RESOURCE_EXHAUSTED as
  // the relay answers; PERMISSION_DENIED when the relay's id is not the pinned one.
  [[nodiscard]] absl::StatusOr<std::string> Login();

 private:
  explicit RelayConnection(const RelayOptions& options, std::shared_ptr<grpc::Channel> channel);
  // The current token, logging in when there is none.
  absl::StatusOr<std::string> Token();
  void SetDeadline(grpc::ClientContext* context) const;

  // Runs an authenticated unary call, logging in first if needed and retrying once on
  // UNAUTHENTICATED.
  template <typename Response, typename Call>
  absl::StatusOr<Response> Authed(Call call);
  template <typename Response, typename Call>
  absl::StatusOr<Response> Unauthed(Call call);
  // One Challenge + Login signed the given way.
  absl::StatusOr<std::string> LoginOnce(bool with_device_key);

  RelayOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Accounts::Stub> accounts_;
  std::unique_ptr<v1::Keys::Stub> keys_;
  std::unique_ptr<v1::Relay::Stub> relay_;
  std::unique_ptr<v1::Clinic::Stub> clinic_;
  std::unique_ptr<v1::Devices::Stub> devices_;
  std::unique_ptr<v1::Blobs::Stub> blobs_;

  base::Mutex mu_;
  const crypto::IdentityKeyPair* identity_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string account_id_ ABSL_GUARDED_BY(mu_);
  uint32_t device_id_ ABSL_GUARDED_BY(mu_) = 0;
  const crypto::IdentityKeyPair* device_key_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool device_login_ ABSL_GUARDED_BY(mu_) = false;
  std::string relay_id_ ABSL_GUARDED_BY(mu_);  // Pinned at registration.
  std::string token_hex_ ABSL_GUARDED_BY(mu_);
};

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_RELAY_CONNECTION_H_

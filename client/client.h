// alliance::client::Client — the library a front end embeds (the `alliance` CLI is one).
//
// It owns everything secret: the identity key, prekeys, sessions, contacts and their
// verification state, and the message history, all in a sealed local store (local_store.h).
// The relay only ever sees ciphertext envelopes.
//
//   ClientOptions opts{.profile_dir = dir, .relay = {.address = "127.0.0.1:7443"}};
//   ALLIANCE_ASSIGN_OR_RETURN(auto client, Client::Init(opts, passphrase));
//   ALLIANCE_RETURN_IF_ERROR(client->Register(invite_code, "Sam"));
//   ALLIANCE_ASSIGN_OR_RETURN(SendResult r, client->SendText("therapist", "Hello", {}));
//   ALLIANCE_ASSIGN_OR_RETURN(std::vector<MessageView> got, client->Sync());
//
// Contacts are named by their role ("therapist"), a prefix (≥ 4 hex digits) of their account
// id, or the display name they shared end to end. All three are matched at once: a name must
// point at exactly one contact, otherwise the call fails and lists the candidates by role and
// id, so a name a contact chose for itself can never shadow a role or another contact.
//
// Guarantees:
//  * A changed identity key of a contact is never silent: sending to it fails with
//    FAILED_PRECONDITION until AcceptKey(); messages received under the new key are kept and
//    flagged.
//  * An envelope is acknowledged to the relay only after its plaintext and the new session state
//    are durably stored; a redelivered envelope is recognized and not stored twice.
//  * An outgoing message is stored (with the advanced ratchet state) before it is sent; if the
//    relay cannot be reached it stays queued and is retried with identical bytes.
//
// Thread safety: all methods may be called from several threads (store access is serialized),
// except Register, which must finish before any other call starts.
#ifndef ALLIANCE_CLIENT_CLIENT_H_
#define ALLIANCE_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "alliance/v1/care.pb.h"
#include "alliance/v1/clinic_service.pb.h"
#include "alliance/v1/content.pb.h"
#include "alliance/v1/devices_service.pb.h"
#include "alliance/v1/keys_service.pb.h"
#include "client/events.h"
#include "client/options.h"
#include "client/views.h"
#include "crypto/secret.h"

namespace alliance::client {

class ClientCore;  // client/internal/client_core.h

class Client {
 public:
  // Creates a profile with a fresh identity. ALREADY_EXISTS if the directory has one;
  // INVALID_ARGUMENT for an empty passphrase.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Client>> Init(const ClientOptions& options,
                                                                    crypto::ByteSpan passphrase);
  // Opens an existing profile. NOT_FOUND, PERMISSION_DENIED (wrong passphrase), DATA_LOSS.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Client>> Open(const ClientOptions& options,
                                                                    crypto::ByteSpan passphrase);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Redeems an invite (16 bytes), uploads prekeys and stores the account. `display_name` is
  // shared end to end with contacts only. FAILED_PRECONDITION if already registered; relay
  // errors as they come (NOT_FOUND unknown invite, FAILED_PRECONDITION used/expired...).
  [[nodiscard]] absl::Status Register(const std::string& invite_code,
                                      const std::string& display_name);
  // Register with the relay `relay` instead of the one in ClientOptions (a front end that asks
  // for the address after the profile exists). Errors as Register.
  [[nodiscard]] absl::Status Register(const std::string& invite_code,
                                      const std::string& display_name, const RelayOptions& relay);
  // FAILED_PRECONDITION ("profile is not registered") before Register.
  [[nodiscard]] absl::StatusOr<AccountView> Account();

  // Contacts, refreshed from the relay when `refresh` (identity keys pinned on first use).
  [[nodiscard]] absl::StatusOr<std::vector<ContactView>> Contacts(bool refresh = true);
  // The one contact `ref` names: its role, an id prefix of at least 4 hex digits, or its
  // display name (case-insensitive), all matched together; a whole 32-digit id names that
  // contact only. NOT_FOUND when nothing matches; INVALID_ARGUMENT when several contacts do,
  // with a one-line message listing them ("'admin' could be: admin 1a2b3c4d, client 5e6f7a8b
  // (calls itself admin); use the id").
  [[nodiscard]] absl::StatusOr<ContactView> ResolveContact(const std::string& ref);

  // The safety number with a contact; with a pending key change, the number for the new key
  // (the one the user must compare). `verified` is true only when the contact was verified
  // for the key pinned now.
  [[nodiscard]] absl::StatusOr<SafetyNumberView> SafetyNumber(const std::string& ref);
  // Marks the contact verified for its pinned identity key, after the user compared safety
  // numbers out of band. `typed` is what the user compared: the whole 60-digit number or the
  // scanned QR payload (ConfirmSafetyNumber). INVALID_ARGUMENT for a prefix or other text;
  // FAILED_PRECONDITION when it is not the current number or the key changed (accept-key
  // first); NOT_FOUND / INVALID_ARGUMENT for `ref` as ResolveContact.
  [[nodiscard]] absl::Status Verify(const std::string& ref, const std::string& typed);
  // Accepts a changed identity key: pins it, clears verification, ends the old key's sessions.
  // `typed` is the safety number the user compared for the NEW key: the whole 60 digits or the
  // QR payload (ConfirmSafetyNumber), never a prefix. INVALID_ARGUMENT for a prefix or other
  // text; FAILED_PRECONDITION if it is not the current number (e.g. the pending key changed
  // meanwhile) or the key did not change.
  [[nodiscard]] absl::Status AcceptKey(const std::string& ref, const std::string& typed);

  // What sending a message with `options` to `ref` now would mean under the care agreement in
  // force, for a front end to show before the person writes ("outside agreed hours — expect a
  // reply by Thu 10:00"). Empty notice for a therapist or an admin, and inside the hours.
  // NOT_FOUND / INVALID_ARGUMENT for `ref` as ResolveContact.
  [[nodiscard]] absl::StatusOr<ComposePreview> Preview(const std::string& ref,
                                                       const SendOptions& options = {});
  // Encrypts and sends a text, with the files in options.attachments (each encrypted here and
  // uploaded before the message is queued; an upload that fails fails the send, naming the
  // file, and nothing is queued). INVALID_ARGUMENT (empty without files, > 60 000 bytes, more
  // than 8 files, `ref` ambiguous), RESOURCE_EXHAUSTED (a file over the relay's limit),
  // FAILED_PRECONDITION (identity changed, or the contact has no prekeys), NOT_FOUND (contact).
  // A relay that cannot be reached is not an error: SendResult.sent is false and the message
  // is queued. A care agreement that cannot be evaluated is not an error either: the message is
  // sent and SendResult.care_error is set (with the emergency notice in `notice`). The notice
  // and reply due are kept with the message (MessageView.notice, reply_due).
  [[nodiscard]] absl::StatusOr<SendResult> SendText(const std::string& ref, const std::string& body,
                                                    const SendOptions& options = {});

  // Sends queued messages, pulls and stores everything waiting at the relay, acknowledges it,
  // sends delivery receipts and keeps prekeys topped up. Returns the new incoming messages.
  [[nodiscard]] absl::StatusOr<std::vector<MessageView>> Sync();

  // Streams incoming messages until StopListening() or an error: calls `on_message` for each
  // after it is stored. Returns OK when stopped; UNAVAILABLE when the relay goes away;
  // ABORTED when another stream of this device replaced it.
  [[nodiscard]] absl::Status Listen(const std::function<void(const MessageView&)>& on_message);
  void StopListening();

  // History with a contact, oldest first. With `mark_read`, incoming messages become read (and a
  // read receipt is sent when both sides share them).
  [[nodiscard]] absl::StatusOr<std::vector<MessageView>> History(const std::string& ref,
                                                                 bool mark_read = false);
  // The decrypted history with a contact as a JSON document ("alliance-export/1"), for the
  // caller to save (the CLI writes it with mode 0600, never through a symlink). NOT_FOUND /
  // INVALID_ARGUMENT for `ref` as ResolveContact.
  [[nodiscard]] absl::StatusOr<std::string> ExportJson(const std::string& ref);
  // Fetches and decrypts attachment `index` (from 0) of the message whose id starts with
  // `message_id` (at least 6 hex digits) into `directory` (created files are 0600), under the
  // sender's name made safe, never replacing a file ("worksheet (1).pdf" instead). Returns the
  // path written. Nothing is left under the real name unless every chunk, the final tag and
  // the hash check out. The ciphertext stays cached in the profile, so a later call works
  // after the relay deleted it. INVALID_ARGUMENT (id malformed or ambiguous), NOT_FOUND (no
  // such message or attachment, not a directory, the relay no longer has it), DATA_LOSS
  // ("worksheet.pdf is damaged or was altered; nothing was saved"), PERMISSION_DENIED (no
  // longer linked to its sender), relay errors.
  [[nodiscard]] absl::StatusOr<std::string> SaveAttachment(const std::string& message_id,
                                                           size_t index,
                                                           const std::string& directory);
  // The attachments of the message whose id starts with `message_id`. Errors as
  // SaveAttachment.
  [[nodiscard]] absl::StatusOr<std::vector<AttachmentView>> MessageAttachments(
      const std::string& message_id);
  // Shares read receipts (they flow only when both sides share them).
  [[nodiscard]] absl::Status SetReadReceipts(bool enabled);

  // Care agreement (client_care.cc). Therapist: proposes a new version to a client (version,
  // keys and time are filled in). INVALID_ARGUMENT for an invalid draft, PERMISSION_DENIED
  // unless a therapist proposes to a client.
  [[nodiscard]] absl::Status ProposeAgreement(const std::string& ref, v1::CareAgreement draft);
  // Client: countersigns the pending proposal. FAILED_PRECONDITION when none is pending.
  [[nodiscard]] absl::Status AcceptAgreement(const std::string& ref);
  [[nodiscard]] absl::StatusOr<AgreementView> Agreement(const std::string& ref);
  // Therapist: announces out-of-office periods to every client (replacing earlier ones).
  // INVALID_ARGUMENT (one line naming the rule) for more than 32 periods or a period that
  // care::ValidateOutOfOfficePeriod refuses (empty, reversed, longer than 366 days, notice
  // too long); PERMISSION_DENIED unless a therapist.
  [[nodiscard]] absl::Status SetOutOfOffice(std::vector<v1::OutOfOffice> periods);
  // Therapist: threads awaiting a reply, ordered by due time (overdue flagged).
  [[nodiscard]] absl::StatusOr<std::vector<DueView>> DueList();
  // "For our next session" messages and deferred concerns of one client.
  [[nodiscard]] absl::StatusOr<std::vector<DueView>> Digest(const std::string& ref);
  // When the contact's agreement says we (the therapist) are outside our windows now: the next
  // working time. nullopt inside the windows or without an agreement.
  [[nodiscard]] absl::StatusOr<std::optional<absl::Time>> HeldUntil(const std::string& ref);

  // Concerns and goals, derived from the message log on both sides.
  [[nodiscard]] absl::StatusOr<std::string> OpenConcern(const std::string& ref,
                                                        const std::string& title,
                                                        const std::string& note);
  [[nodiscard]] absl::Status StepConcern(const std::string& ref, const std::string& concern_id,
                                         ConcernStep step, const std::string& note);
  [[nodiscard]] absl::StatusOr<std::vector<ConcernView>> Concerns(const std::string& ref);
  [[nodiscard]] absl::StatusOr<std::string> AddGoal(const std::string& ref,
                                                    const std::string& title,
                                                    const std::string& description);
  [[nodiscard]] absl::Status StepGoal(const std::string& ref, const std::string& goal_id,
                                      GoalStep step, const std::string& text,
                                      std::optional<uint32_t> percent);
  [[nodiscard]] absl::StatusOr<std::vector<GoalView>> Goals(const std::string& ref);

  // Deletes history older than the device-retention period of each contact's agreement in
  // force. Returns how many entries were removed. Sync runs it.
  [[nodiscard]] absl::StatusOr<size_t> ApplyRetention();

  // Clinic administration (admins; therapists may invite clients).
  [[nodiscard]] absl::StatusOr<InviteView> CreateInvite(v1::Role role);
  [[nodiscard]] absl::StatusOr<std::vector<v1::Member>> Members();
  [[nodiscard]] absl::Status Deactivate(const std::string& account_id_hex);
  // Audit entries after sequence `after` (at most `limit`, 1..1000); with `security_only`,
  // only security events (registrations, redeemed and revoked invites, deactivations,
  // deletions), found through the relay's index under any flood. PERMISSION_DENIED unless an
  // admin; INVALID_ARGUMENT for a limit over 1000.
  [[nodiscard]] absl::StatusOr<std::vector<v1::AuditEntry>> Audit(uint64_t after, uint32_t limit,
                                                                  bool security_only = false);

  // Keeps at least 20 one-time prekeys at the relay (tops up to 100) and rotates the signed
  // prekey every 7 days, keeping the previous ones 30 days.
  [[nodiscard]] absl::Status MaintainPreKeys();

  // Devices (DESIGN §4, "Several devices"). A new device, on a profile that is not registered,
  // opens a link code on `relay` (StartLink) and shows it; a device of the account approves
  // it (ApproveLink, naming the new device), sealing the account to the code; the new device
  // then finishes (FinishLink, waiting up to `max_wait` for the approval), becoming a device of
  // the account with its contacts, verification and agreements (not the history).
  // StartLink: FAILED_PRECONDITION (already registered), relay errors. FinishLink:
  // FAILED_PRECONDITION (no code started), DEADLINE_EXCEEDED (not approved in time), NOT_FOUND
  // (the code expired), PERMISSION_DENIED (sealed by someone without the code, or another
  // relay). ApproveLink: INVALID_ARGUMENT (not a code), NOT_FOUND (expired or unknown code),
  // FAILED_PRECONDITION (code used, or the device limit reached); returns the new device's id.
  [[nodiscard]] absl::StatusOr<LinkCodeView> StartLink(const RelayOptions& relay);
  [[nodiscard]] absl::Status FinishLink(absl::Duration max_wait);
  [[nodiscard]] absl::StatusOr<uint32_t> ApproveLink(const std::string& code,
                                                     const std::string& device_name);
  // The account's devices as its signed device list names them.
  [[nodiscard]] absl::StatusOr<std::vector<DeviceView>> Devices();
  // Removes another device of the account: the relay drops its tokens, mailbox and prekeys at
  // once and contacts stop encrypting to it. NOT_FOUND (no such device), FAILED_PRECONDITION
  // (this device).
  [[nodiscard]] absl::Status RemoveDevice(uint32_t device_id);
  // Admin: an account's active devices, and removing one (its last: FAILED_PRECONDITION).
  // INVALID_ARGUMENT (not 32 hex digits), PERMISSION_DENIED (not an admin), NOT_FOUND.
  [[nodiscard]] absl::StatusOr<std::vector<v1::DeviceStatus>> AccountDevices(
      const std::string& account_id_hex);
  [[nodiscard]] absl::Status RemoveAccountDevice(const std::string& account_id_hex,
                                                 uint32_t device_id);
  // What the relay holds for this device: signed prekey id and age, one-time prekeys left.
  [[nodiscard]] absl::StatusOr<v1::GetPreKeyStatusResponse> PreKeyStatus();

  // Subscribes to typed events (events.h): new and sent messages, delivery and read states,
  // identity and contact changes, agreement, care and due-list changes. Returns an id for
  // Unsubscribe. Handlers run after the change is durably stored, on the thread that caused
  // it, with no client lock held.
  uint64_t Subscribe(EventHandler handler);
  void Unsubscribe(uint64_t subscription);

 private:
  explicit Client(std::unique_ptr<ClientCore> core);
  std::unique_ptr<ClientCore> core_;
};

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_CLIENT_H_

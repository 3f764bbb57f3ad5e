// ClientCore: the state and logic behind the Client facade (client.h). Internal to client/:
// front ends use Client, which keeps gRPC and RocksDB types out of their includes.
//
// Its definitions are split by job: core_profile.cc (profile, registration, prekeys, admin),
// core_contacts.cc (contacts and verification), core_outbox.cc (sessions and sending),
// core_inbox.cc (receiving, one handler per content kind), core_history.cc (history, export,
// receipts), core_care*.cc (agreement, out-of-office, concerns, goals, due list).
//
// Thread safety: as Client.
#ifndef ALLIANCE_CLIENT_INTERNAL_CLIENT_CORE_H_
#define ALLIANCE_CLIENT_INTERNAL_CLIENT_CORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "absl/time/time.h"
#include "client/events.h"
#include "client/local_store.h"
#include "client/options.h"
#include "client/receive_stream.h"
#include "client/relay_connection.h"
#include "client/views.h"
#include "crypto/keys.h"
#include "crypto/random.h"

namespace alliance::client {

class ClientCore {
 public:
  // Each public method is Client's (client.h), where its contract and error codes are written;
  // the facade forwards to it one for one.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ClientCore>> Init(
      const ClientOptions& options, crypto::ByteSpan passphrase);
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ClientCore>> Open(
      const ClientOptions& options, crypto::ByteSpan passphrase);
  ~ClientCore();

  [[nodiscard]] absl::Status RegisterWith(const std::string& invite_code,
                                          const std::string& display_name,
                                          const RelayOptions& relay);
  [[nodiscard]] absl::Status Register(const std::string& invite_code,
                                      const std::string& display_name);
  [[nodiscard]] absl::StatusOr<AccountView> Account();

  [[nodiscard]] absl::StatusOr<std::vector<ContactView>> Contacts(bool refresh = true);
  [[nodiscard]] absl::StatusOr<ContactView> ResolveContact(const std::string& ref);

  [[nodiscard]] absl::StatusOr<SafetyNumberView> SafetyNumber(const std::string& ref);
  [[nodiscard]] absl::Status Verify(const std::string& ref, const std::string& typed);
  [[nodiscard]] absl::Status AcceptKey(const std::string& ref, const std::string& typed);

  [[nodiscard]] absl::StatusOr<ComposePreview> Preview(const std::string& ref,
                                                       const SendOptions& options);
  [[nodiscard]] absl::StatusOr<SendResult> SendText(const std::string& ref, const std::string& body,
                                                    const SendOptions& options = {});

  [[nodiscard]] absl::StatusOr<std::vector<MessageView>> Sync();

  [[nodiscard]] absl::Status Listen(const std::function<void(const MessageView&)>& on_message);
  void StopListening();

  [[nodiscard]] absl::StatusOr<std::vector<MessageView>> History(const std::string& ref,
                                                                 bool mark_read = false);
  [[nodiscard]] absl::StatusOr<std::string> ExportJson(const std::string& ref);
  [[nodiscard]] absl::StatusOr<std::string> SaveAttachment(const std::string& message_id,
                                                           size_t index,
                                                           const std::string& directory);
  [[nodiscard]] absl::StatusOr<std::vector<AttachmentView>> MessageAttachments(
      const std::string& message_id);
  [[nodiscard]] absl::Status SetReadReceipts(bool enabled);

  [[nodiscard]] absl::Status ProposeAgreement(const std::string& ref, v1::CareAgreement draft);
  [[nodiscard]] absl::Status AcceptAgreement(const std::string& ref);
  [[nodiscard]] absl::StatusOr<AgreementView> Agreement(const std::string& ref);
  [[nodiscard]] absl::Status SetOutOfOffice(std::vector<v1::OutOfOffice> periods);
  [[nodiscard]] absl::StatusOr<std::vector<DueView>> DueList();
  [[nodiscard]] absl::StatusOr<std::vector<DueView>> Digest(const std::string& ref);
  [[nodiscard]] absl::StatusOr<std::optional<absl::Time>> HeldUntil(const std::string& ref);

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

  [[nodiscard]] absl::StatusOr<size_t> ApplyRetention();

  [[nodiscard]] absl::StatusOr<InviteView> CreateInvite(v1::Role role);
  [[nodiscard]] absl::StatusOr<std::vector<v1::Member>> Members();
  [[nodiscard]] absl::Status Deactivate(const std::string& account_id_hex);
  [[nodiscard]] absl::StatusOr<std::vector<v1::AuditEntry>> Audit(uint64_t after, uint32_t limit,
                                                                  bool security_only = false);

  [[nodiscard]] absl::Status MaintainPreKeys();

  [[nodiscard]] absl::StatusOr<LinkCodeView> StartLink(const RelayOptions& relay);
  [[nodiscard]] absl::Status FinishLink(absl::Duration max_wait);
  [[nodiscard]] absl::StatusOr<uint32_t> ApproveLink(const std::string& code,
                                                     const std::string& device_name);
  [[nodiscard]] absl::StatusOr<std::vector<DeviceView>> Devices();
  [[nodiscard]] absl::Status RemoveDevice(uint32_t device_id);
  [[nodiscard]] absl::StatusOr<std::vector<v1::DeviceStatus>> AccountDevices(
      const std::string& account_id_hex);
  [[nodiscard]] absl::Status RemoveAccountDevice(const std::string& account_id_hex,
                                                 uint32_t device_id);
  [[nodiscard]] absl::StatusOr<v1::GetPreKeyStatusResponse> PreKeyStatus();

  uint64_t Subscribe(EventHandler handler);
  void Unsubscribe(uint64_t id);
  void Emit(const ClientEvent& event);

 private:
  struct Processed;

  ClientCore(ClientOptions options, std::unique_ptr<LocalStore> store);
  absl::Time Now() const;
  absl::Status LoadIdentity();
  // Publishes this device's first device list (giving it its device key) when the relay has
  // none naming it, or records a newer one the relay serves; then logins use the device key.
  absl::Status EnsureOwnDeviceList();
  // Records `list` (verified) as this account's, unless a newer one is recorded; sessions with
  // devices it no longer names go.
  absl::Status RecordOwnDeviceList(const v1::SignedDeviceList& list);
  absl::StatusOr<std::unique_ptr<RelayConnection>> Connect(const std::string& address);
  absl::StatusOr<v1::AccountRecord> RequireAccount();
  absl::Status RefreshContacts();
  absl::StatusOr<v1::ContactRecord> FindContact(const std::string& ref);

  // Messaging internals (client_messaging.cc).
  // Makes sure a session with one device of the contact exists (fetching its bundle and
  // checking it against the pinned identity key and device list).
  absl::Status EnsureSession(const v1::ContactRecord& contact, uint32_t device_id);
  // What a client is told about a message sent now under the agreement with `contact` (and
  // whether the on-device crisis check matched `body`). Therapists and admins get no lines.
  struct CareNotice {
    std::vector<std::string> lines;
    std::optional<absl::Time> reply_due;
    std::string emergency;  // The agreement's emergency notice, or the default one.
    bool has_agreement = false;
    bool crisis_matched = false;
    absl::Status care_error;  // The agreement could not be evaluated.
  };
  CareNotice NoticeFor(const v1::AccountRecord& account, const v1::ContactRecord& contact,
                       const std::string& body, const SendOptions& options);
  // Stores `content` (with `notice` kept in the history entry) and queues it for sending.
  absl::StatusOr<std::string> QueueContent(const v1::ContactRecord& contact, v1::Content content,
                                           bool record_history,
                                           const CareNotice* notice = nullptr);
  absl::Status FlushOutbox(absl::Status* first_error);
  // Our own account as a peer: its identity key and device list (our other devices).
  absl::StatusOr<v1::ContactRecord> SelfContact(const v1::AccountRecord& account);
  // The devices a message to `peer` goes to: the contact's (ContactDevices), or for our own
  // account our other devices.
  absl::StatusOr<std::vector<uint32_t>> DestinationDevices(const v1::AccountRecord& account,
                                                           const v1::ContactRecord& peer);
  absl::Status EnsureSessions(const v1::AccountRecord& account, const v1::ContactRecord& peer);
  // Encrypts `content` with the session of `peer`'s device and appends it to `out`.
  absl::Status EncryptFor(LocalStore::Txn& txn, const v1::ContactRecord& peer, uint32_t device_id,
                          const v1::Content& content, v1::OutboxRecord* out);
  // After the relay answered a send with missing or stale devices: refreshes the device lists,
  // drops the stale devices' copies and encrypts the content for the missing ones.
  absl::Status RepairOutbox(const v1::SendResponse& mismatch, v1::OutboxRecord* r);
  // Attachments (core_attachments.cc). The cache of ciphertext (sent and fetched) in the
  // profile directory.
  std::string AttachmentCacheDir() const;
  // Where the ciphertext of `a` is cached (named by blob id and hash).
  std::string AttachmentCachePath(const v1::Attachment& a) const;
  // Whether the cached ciphertext has the size and hash `a` names.
  absl::StatusOr<bool> CachedHashMatches(const v1::Attachment& a, const std::string& cache);
  // Encrypts `source` into the cache and uploads it for `contact` (and our other devices).
  absl::StatusOr<v1::Attachment> UploadAttachment(const v1::AccountRecord& account,
                                                  const v1::ContactRecord& contact,
                                                  const AttachmentSource& source);
  // Runs `attempt` until it succeeds or fails for good: a few tries on a broken connection,
  // but only two in a row that never reached the relay (`attempt` sets its flag once it did).
  // Errors name `name`.
  absl::Status Transfer(const std::string& name,
                        const std::function<absl::Status(bool* reached)>& attempt);
  struct FoundAttachment {
    v1::ContactRecord contact;
    v1::HistoryEntry entry;
  };
  // The message whose id starts with `message_id` (hex) and has attachment `index`.
  absl::StatusOr<FoundAttachment> FindAttachment(const std::string& message_id, size_t index);
  // Fetches the ciphertext of `a` into `cache` (resuming a partial copy).
  absl::Status FetchCiphertext(const v1::Attachment& a, const std::string& name,
                               const std::string& cache);
  // Decrypts `cache` into `out_fd`, checking every chunk, the final tag and the sizes (the
  // caller checked the hash with CachedHashMatches just before).
  absl::Status DecryptAttachment(const v1::Attachment& a, const std::string& name,
                                 const std::string& cache, int out_fd);

  // Decrypts one envelope (deciding replays before any session changes), then hands its
  // content to the handler of its kind, all in one store transaction.
  absl::StatusOr<Processed> ProcessEnvelope(const v1::Envelope& envelope);
  // An envelope from another device of our own account: SyncMessage transcripts and read
  // marks, from a device our identity key signed for, never from this one.
  absl::StatusOr<Processed> ProcessSiblingEnvelope(const v1::Envelope& envelope);
  // One handler per content kind (core_inbox.cc). `content` is null for a message that could
  // not be opened (stored as undecryptable).
  absl::Status HandleText(LocalStore::Txn& txn, const v1::Envelope& env, const v1::Content* content,
                          bool identity_unverified, int64_t now_ms, v1::ContactRecord& contact,
                          Processed* p);
  // Records on `contact` how many of its messages the ratchet shows missing (see ContactView).
  void NoteMissing(size_t missing, const v1::Envelope& env, v1::ContactRecord& contact,
                   Processed* p);
  absl::Status HandleReceipt(LocalStore::Txn& txn, const v1::Envelope& env,
                             const v1::Receipt& receipt, Processed* p);
  void HandleProfile(const v1::Profile& profile, v1::ContactRecord& contact, Processed* p);
  absl::Status HandleCare(LocalStore::Txn& txn, const v1::Content& content,
                          v1::ContactRecord& contact, Processed* p);
  // ProcessEnvelope; if that fails for good (not a busy profile), stores the envelope as an
  // undecryptable entry so that it can be acknowledged instead of blocking the mailbox.
  absl::StatusOr<Processed> ProcessEnvelopeOrSetAside(const v1::Envelope& envelope);
  absl::Status SendReceipts(const std::string& contact_id, v1::ReceiptType type,
                            const std::vector<std::string>& ids);
  // Queues a delivery receipt for each text in `batch` (to be sent by the next FlushOutbox).
  absl::Status QueueDeliveryReceipts(const std::vector<Processed>& batch);
  absl::StatusOr<std::vector<uint32_t>> PublishOneTimeKeys(uint32_t count);
  // Sends any content to a contact (session, profile, outbox); shared by text and care events.
  absl::StatusOr<SendResult> SendContent(const v1::ContactRecord& contact, v1::Content content,
                                         bool record_history,
                                         const CareNotice* notice = nullptr);
  // Applies a received (or our own sent) care event to the contact's logs inside `txn`.
  // kApplied: stored; kKnown: already held (or older than what is held); kRejected: the care
  // rules refuse it (forged, malformed, over a bound, wrong party). Errors: storage only.
  enum class CareOutcome { kApplied, kKnown, kRejected };
  absl::StatusOr<CareOutcome> ApplyCare(LocalStore::Txn& txn, v1::ContactRecord& contact,
                                        bool from_contact, const v1::Content& content);
  // ApplyCare for an event of ours, already validated when it was made: a refusal (the log is
  // full) is FAILED_PRECONDITION, never silently dropped.
  absl::Status ApplyOwnCare(LocalStore::Txn& txn, v1::ContactRecord& contact,
                            const v1::Content& content);
  // The agreement in force with a contact (OOO periods merged in), or nullopt.
  absl::StatusOr<std::optional<v1::CareAgreement>> AgreementInForce(LocalStore::Txn& txn,
                                                                    const v1::ContactRecord& c);
  absl::StatusOr<v1::ContactRecord> CareContact(const std::string& ref);

  ClientOptions options_;
  std::unique_ptr<LocalStore> store_;
  crypto::SystemRandom rng_;
  std::optional<crypto::IdentityKeyPair> identity_;
  std::optional<crypto::IdentityKeyPair> device_key_;  // This device's own key.
  // While linking this (new) device: the code's key pair and the connection it was opened on.
  std::optional<crypto::DhKeyPair> link_code_;
  std::unique_ptr<RelayConnection> link_relay_;
  std::unique_ptr<RelayConnection> relay_;
  base::Mutex events_mu_;
  uint64_t next_subscription_ ABSL_GUARDED_BY(events_mu_) = 1;
  std::vector<std::pair<uint64_t, EventHandler>> handlers_ ABSL_GUARDED_BY(events_mu_);
  base::Mutex stream_mu_;
  std::shared_ptr<ReceiveStream> stream_ ABSL_GUARDED_BY(stream_mu_);  // The one Listen reads.
  bool stop_listening_ ABSL_GUARDED_BY(stream_mu_) = false;
};

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_INTERNAL_CLIENT_CORE_H_

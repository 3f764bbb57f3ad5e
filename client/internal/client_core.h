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
#include "absl/synchronization/mutex.h"
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
  // Creates a profile with a fresh identity. ALREADY_EXISTS if the directory has one;
  // INVALID_ARGUMENT for an empty passphrase.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ClientCore>> Init(
      const ClientOptions& options, crypto::ByteSpan passphrase);
  // Opens an existing profile. NOT_FOUND, PERMISSION_DENIED (wrong passphrase), DATA_LOSS.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ClientCore>> Open(
      const ClientOptions& options, crypto::ByteSpan passphrase);
  ~ClientCore();

  // Redeems an invite (16 bytes), uploads prekeys and stores the account. `display_name` is
  // shared end to end with contacts only. FAILED_PRECONDITION if already registered; relay
  // errors as they come (NOT_FOUND unknown invite, FAILED_PRECONDITION used/expired...).
  [[nodiscard]] absl::Status Register(const std::string& invite_code,
                                      const std::string& display_name);
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

  // Encrypts and sends a text. INVALID_ARGUMENT (empty or > 60 000 bytes, or `ref` ambiguous),
  // FAILED_PRECONDITION (identity changed, or the contact has no prekeys), NOT_FOUND (contact).
  // A relay that cannot be reached is not an error: SendResult.sent is false and the message
  // is queued. A care agreement that cannot be evaluated is not an error either: the message is
  // sent and SendResult.care_error is set (with the emergency notice in `notice`).
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
  // caller to save. NOT_FOUND / INVALID_ARGUMENT for `ref` as ResolveContact.
  [[nodiscard]] absl::StatusOr<std::string> ExportJson(const std::string& ref);
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
  [[nodiscard]] absl::StatusOr<std::vector<v1::AuditEntry>> Audit(uint64_t after, uint32_t limit,
                                                                  bool security_only = false);

  // Keeps at least 20 one-time prekeys at the relay (tops up to 100) and rotates the signed
  // prekey every 7 days, keeping the previous ones 30 days.
  [[nodiscard]] absl::Status MaintainPreKeys();
  // What the relay holds for this device: signed prekey id and age, one-time prekeys left.
  [[nodiscard]] absl::StatusOr<v1::GetPreKeyStatusResponse> PreKeyStatus();

  // Event subscription (events.h). Returns an id for Unsubscribe.
  uint64_t Subscribe(EventHandler handler);
  void Unsubscribe(uint64_t id);
  // Hands `event` to every subscriber (no lock held while they run).
  void Emit(const ClientEvent& event);

 private:
  struct Processed;

  ClientCore(ClientOptions options, std::unique_ptr<LocalStore> store);
  absl::Time Now() const;
  absl::Status LoadIdentity();
  absl::StatusOr<std::unique_ptr<RelayConnection>> Connect(const std::string& address);
  absl::StatusOr<v1::AccountRecord> RequireAccount();
  absl::Status RefreshContacts();
  absl::StatusOr<v1::ContactRecord> FindContact(const std::string& ref);

  // Messaging internals (client_messaging.cc).
  // Makes sure a session with the contact exists (fetching and checking its bundle).
  absl::Status EnsureSession(v1::ContactRecord& contact);
  absl::StatusOr<std::string> QueueContent(const v1::ContactRecord& contact, v1::Content content,
                                           bool record_history);
  absl::Status FlushOutbox(absl::Status* first_error);
  // Decrypts one envelope (deciding replays before any session changes), then hands its
  // content to the handler of its kind, all in one store transaction.
  absl::StatusOr<Processed> ProcessEnvelope(const v1::Envelope& envelope);
  // One handler per content kind (core_inbox.cc). `content` is null for a message that could
  // not be opened (stored as undecryptable).
  absl::Status HandleText(LocalStore::Txn& txn, const v1::Envelope& env, const v1::Content* content,
                          bool identity_unverified, int64_t now_ms, v1::ContactRecord& contact,
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
  absl::Status AfterReceive(const std::vector<Processed>& batch);
  absl::StatusOr<std::vector<uint32_t>> PublishOneTimeKeys(uint32_t count);
  // Sends any content to a contact (session, profile, outbox); shared by text and care events.
  absl::StatusOr<SendResult> SendContent(const v1::ContactRecord& contact, v1::Content content,
                                         bool record_history);
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
  std::unique_ptr<RelayConnection> relay_;
  absl::Mutex events_mu_;
  uint64_t next_subscription_ ABSL_GUARDED_BY(events_mu_) = 1;
  std::vector<std::pair<uint64_t, EventHandler>> handlers_ ABSL_GUARDED_BY(events_mu_);
  absl::Mutex stream_mu_;
  std::shared_ptr<ReceiveStream> stream_ ABSL_GUARDED_BY(stream_mu_);  // The one Listen reads.
  bool stop_listening_ ABSL_GUARDED_BY(stream_mu_) = false;
};

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_INTERNAL_CLIENT_CORE_H_

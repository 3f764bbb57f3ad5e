// ClientCore, sending: sessions, the outbox (stored before it is sent, retried with identical
// bytes) and the notice a sender sees under the care agreement.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "care/agreement.h"
#include "care/concerns.h"
#include "care/crisis.h"
#include "care/due_list.h"
#include "care/goals.h"
#include "care/notice.h"
#include "care/reply_due.h"
#include "client/envelope_opener.h"
#include "client/internal/crash_point.h"
#include "client/internal/client_core.h"
#include "client/internal/core_helpers.h"
#include "client/receive_stream.h"
#include "client/store_names.h"
#include "crypto/devices.h"
#include "crypto/record_io.h"
#include "crypto/safety_number.h"
#include "crypto/session.h"
#include "nlohmann/json.hpp"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::client {

absl::StatusOr<v1::ContactRecord> ClientCore::SelfContact(const v1::AccountRecord& account) {
  v1::ContactRecord self;
  self.set_account_id(account.account_id());
  const crypto::PublicKey& ik = identity_->public_key();
  self.set_identity_key(reinterpret_cast<const char*>(ik.data()), ik.size());
  *self.mutable_device_list() = account.own_device_list();
  return self;
}

absl::StatusOr<std::vector<uint32_t>> ClientCore::DestinationDevices(
    const v1::AccountRecord& account, const v1::ContactRecord& peer) {
  std::vector<uint32_t> out;
  if (peer.account_id() == account.account_id()) {
    if (account.own_device_list().version() == 0) return out;  // Only this device so far.
    ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord self, SelfContact(account));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<crypto::VerifiedDevice> own,
                              ContactDevices(account, self));
    for (const crypto::VerifiedDevice& d : own) {
      if (d.device_id != account.device_id()) out.push_back(d.device_id);
    }
    return out;
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<crypto::VerifiedDevice> theirs,
                            ContactDevices(account, peer));
  for (const crypto::VerifiedDevice& d : theirs) out.push_back(d.device_id);
  return out;
}

absl::Status ClientCore::EnsureSession(const v1::ContactRecord& contact, uint32_t device_id) {
  const std::string hex = ToHex(contact.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  // Only a device on the list the pinned identity key signed (and active), even when a session
  // with that id exists: the relay must not steer a message to a removed device.
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<uint32_t> allowed, DestinationDevices(account, contact));
  if (std::find(allowed.begin(), allowed.end(), device_id) == allowed.end()) {
    return absl::FailedPreconditionError(
        "the relay lists a device this contact's identity key has not signed for");
  }
  bool exists = false;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> s,
                              txn.GetBytes(names::Session(hex, device_id)));
    exists = s.has_value();
    return absl::OkStatus();
  }));
  if (exists) return absl::OkStatus();
  const bool own = contact.account_id() == account.account_id();

  v1::FetchPreKeyBundleRequest req;
  req.mutable_address()->set_account_id(contact.account_id());
  req.mutable_address()->set_device_id(device_id);
  ALLIANCE_ASSIGN_OR_RETURN(v1::FetchPreKeyBundleResponse resp, relay_->FetchPreKeyBundle(req));
  if (resp.bundle().identity_key().size() != crypto::kKeySize) {
    return absl::FailedPreconditionError("the contact's published keys are invalid");
  }
  if (!own && resp.bundle().identity_key() != contact.identity_key()) {
    // The relay presents another key than the one pinned: never adopt it silently.
    ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
      // Re-read: another process may have stored messages meanwhile.
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                                txn.Get<v1::ContactRecord>(names::Contact(hex)));
      if (!c.has_value()) return absl::OkStatus();
      c->set_pending_identity_key(resp.bundle().identity_key());
      return txn.Put(names::Contact(hex), *c);
    }));
    return absl::FailedPreconditionError(
        "identity key of this contact changed; compare safety numbers, then run "
        "`alliance accept-key`");
  }
  // The device's key comes from the device list signed by the pinned identity key, never from
  // the relay: a device the account key has not signed for is never encrypted to.
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<crypto::VerifiedDevice> devices,
                            ContactDevices(account, contact));
  const crypto::VerifiedDevice* device = nullptr;
  for (const crypto::VerifiedDevice& d : devices) {
    if (d.device_id == device_id) device = &d;
  }
  if (device == nullptr) {
    return absl::FailedPreconditionError(
        "the relay lists a device this contact's identity key has not signed for");
  }
  ALLIANCE_ASSIGN_OR_RETURN(crypto::PublicKey pinned,
                            crypto::ParsePublicKey(crypto::AsBytes(contact.identity_key())));
  absl::StatusOr<crypto::VerifiedBundle> bundle = crypto::VerifyDeviceBundle(
      resp.bundle(), pinned, crypto::AsBytes(contact.account_id()), device_id,
      device->device_key, absl::ToUnixSeconds(Now()));
  if (!bundle.ok()) {
    return absl::FailedPreconditionError("the contact's published keys are invalid: " +
                                         std::string(bundle.status().message()));
  }
  // Initiate refuses a key of small order, whose DH output the relay could predict (the
  // one-time prekey is not signed, so the relay can put anything there): an invalid bundle
  // like the others, never a session.
  absl::StatusOr<crypto::Session> started = crypto::Session::Initiate(*identity_, *bundle, rng_);
  if (!started.ok()) {
    return absl::FailedPreconditionError("the contact's published keys are invalid: " +
                                         std::string(started.status().message()));
  }
  crypto::Session& session = *started;
  return store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> s,
                              txn.GetBytes(names::Session(hex, device_id)));
    if (s.has_value()) return absl::OkStatus();  // Another process made one meanwhile.
    return StoreSession(txn, names::Session(hex, device_id), session);
  });
}

absl::Status ClientCore::EncryptFor(LocalStore::Txn& txn, const v1::ContactRecord& peer,
                                    uint32_t device_id, const v1::Content& content,
                                    v1::OutboxRecord* out) {
  const std::string hex = ToHex(peer.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::Session> session,
                            LoadSession(txn, names::Session(hex, device_id), rng_));
  if (!session.has_value()) return absl::FailedPreconditionError("no session with contact");
  const crypto::PublicKey& remote = session->remote_identity();
  if (std::string(reinterpret_cast<const char*>(remote.data()), remote.size()) !=
      peer.identity_key()) {
    return absl::FailedPreconditionError("session does not match the contact's pinned key");
  }
  ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes plain,
                            crypto::SecretBytes::Allocate(content.ByteSizeLong()));
  if (!content.SerializeToArray(plain.data(), static_cast<int>(plain.size()))) {
    return absl::InternalError("cannot serialize message");
  }
  crypto::OutgoingMessage wire;
  ALLIANCE_RETURN_IF_ERROR(session->Encrypt(plain.span(), &wire));
  ALLIANCE_RETURN_IF_ERROR(StoreSession(txn, names::Session(hex, device_id), *session));
  v1::DeviceMessage* m = out->add_messages();
  m->mutable_destination()->set_account_id(peer.account_id());
  m->mutable_destination()->set_device_id(device_id);
  m->set_type(wire.type == crypto::MessageType::kPreKey ? v1::ENVELOPE_TYPE_PREKEY_MESSAGE
                                                        : v1::ENVELOPE_TYPE_MESSAGE);
  m->set_payload(wire.bytes.data(), wire.bytes.size());
  return absl::OkStatus();
}

namespace {

// Whether our other devices get a transcript of `content`: what shows in a conversation or
// changes its care state; not receipts and profiles (nor transcripts themselves).
bool GoesToOwnDevices(const v1::Content& content) {
  return content.has_text() || content.has_agreement() || content.has_concern() ||
         content.has_goal() || content.has_out_of_office();
}

// The transcript our other devices get of `content` sent to `contact_id`.
v1::Content Transcript(const std::string& contact_id, const v1::Content& content) {
  v1::Content t;
  t.set_version(1);
  t.set_id(content.id());
  t.set_sent_at_ms(content.sent_at_ms());
  t.mutable_sync()->set_contact_account_id(contact_id);
  *t.mutable_sync()->mutable_sent() = content;
  return t;
}

}  // namespace

absl::Status ClientCore::EnsureSessions(const v1::AccountRecord& account,
                                        const v1::ContactRecord& peer) {
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<uint32_t> devices, DestinationDevices(account, peer));
  for (uint32_t d : devices) ALLIANCE_RETURN_IF_ERROR(EnsureSession(peer, d));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ClientCore::QueueContent(const v1::ContactRecord& contact,
                                                     v1::Content content, bool record_history,
                                                     const CareNotice* notice) {
  const std::string hex = ToHex(contact.account_id());
  const std::string id = RandomId();
  const int64_t now_ms = absl::ToUnixMillis(Now());
  content.set_version(1);
  content.set_id(id);
  content.set_sent_at_ms(static_cast<uint64_t>(now_ms));
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord self, SelfContact(account));
  const bool sync_only = contact.account_id() == account.account_id();
  const bool to_own = sync_only || GoesToOwnDevices(content);
  // Sessions first (network), then everything else in one transaction.
  if (!sync_only) ALLIANCE_RETURN_IF_ERROR(EnsureSessions(account, contact));
  if (to_own) ALLIANCE_RETURN_IF_ERROR(EnsureSessions(account, self));
  std::optional<MessageView> queued_view;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    v1::OutboxRecord out;
    out.set_version(2);
    out.set_message_id(id);
    out.set_contact_id(contact.account_id());
    out.set_to_own_devices(to_own);
    out.set_content(content.SerializeAsString());
    if (!sync_only) {
      ALLIANCE_ASSIGN_OR_RETURN(std::vector<uint32_t> theirs, DestinationDevices(account, contact));
      for (uint32_t d : theirs) ALLIANCE_RETURN_IF_ERROR(EncryptFor(txn, contact, d, content, &out));
    }
    if (to_own) {
      const v1::Content transcript = sync_only ? content : Transcript(contact.account_id(), content);
      ALLIANCE_ASSIGN_OR_RETURN(std::vector<uint32_t> mine, DestinationDevices(account, self));
      for (uint32_t d : mine) ALLIANCE_RETURN_IF_ERROR(EncryptFor(txn, self, d, transcript, &out));
    }
    if (out.messages_size() == 0) return absl::OkStatus();  // Sync-only with no other device.

    if (record_history) {
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                                txn.Get<v1::ContactRecord>(names::Contact(hex)));
      if (!c.has_value()) return absl::NotFoundError("contact disappeared");
      v1::HistoryEntry e;
      e.set_version(1);
      e.set_id(id);
      e.set_direction(v1::DIRECTION_OUTGOING);
      e.set_sent_at_ms(static_cast<uint64_t>(now_ms));
      e.set_stored_at_ms(static_cast<uint64_t>(now_ms));
      e.set_state(v1::DELIVERY_STATE_QUEUED);
      *e.mutable_text() = content.text();
      e.set_index(c->history_count());
      if (notice != nullptr) {
        for (const std::string& line : notice->lines) e.add_notice(line);
        if (notice->reply_due.has_value()) {
          e.set_reply_due_ms(static_cast<uint64_t>(absl::ToUnixMillis(*notice->reply_due)));
        }
      }
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::History(hex, e.index()), e));
      queued_view = ToView(e, *c);
      v1::HistoryRef ref;
      ref.set_contact_id(contact.account_id());
      ref.set_index(e.index());
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::MessageRef(ToHex(id)), ref));
      out.set_has_history(true);
      out.set_history_index(e.index());
      c->set_history_count(c->history_count() + 1);
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::Contact(hex), *c));
    }
    ALLIANCE_RETURN_IF_ERROR(txn.Put(names::Outbox(ToHex(id)), out));
    return AddToIndex(txn, names::OutboxIndex(), id);
  }));
  CrashPoint("outbox-stored");
  if (queued_view.has_value()) Emit(MessageEvent{*std::move(queued_view)});
  return id;
}

absl::Status ClientCore::RepairOutbox(const v1::SendResponse& mismatch, v1::OutboxRecord* r) {
  // Fresh device lists first: ours, and the contact's.
  ALLIANCE_RETURN_IF_ERROR(EnsureOwnDeviceList());
  ALLIANCE_RETURN_IF_ERROR(RefreshContacts());
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord self, SelfContact(account));
  v1::Content content;
  if (!content.ParseFromString(r->content())) return absl::DataLossError("outbox record damaged");
  std::optional<v1::ContactRecord> contact;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(contact, txn.Get<v1::ContactRecord>(
                                           names::Contact(ToHex(r->contact_id()))));
    return absl::OkStatus();
  }));
  for (const v1::DeviceMismatch& m : mismatch.mismatches()) {
    const bool own = m.account_id() == account.account_id();
    if (!own && (m.account_id() != r->contact_id() || !contact.has_value())) {
      return absl::InternalError("relay reported devices of an account not sent to");
    }
    const v1::ContactRecord& peer = own ? self : *contact;
    // Stale devices (removed) lose their copy; their sessions stay until the list says so.
    for (uint32_t stale : m.stale()) {
      auto* messages = r->mutable_messages();
      messages->erase(std::remove_if(messages->begin(), messages->end(),
                                     [&](const v1::DeviceMessage& x) {
                                       return x.destination().account_id() == m.account_id() &&
                                              x.destination().device_id() == stale;
                                     }),
                      messages->end());
    }
    // Missing devices get a new encryption of the same content; the copies of the devices
    // already covered stay as they were (encrypting again would skip ratchet steps they
    // would report as withheld messages).
    for (uint32_t missing : m.missing()) {
      ALLIANCE_RETURN_IF_ERROR(EnsureSession(peer, missing));
      ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
        const v1::Content payload =
            own && peer.account_id() != r->contact_id()
                ? Transcript(r->contact_id(), content)
                : content;
        return EncryptFor(txn, peer, missing, payload, r);
      }));
    }
  }
  return store_->Run(
      [&](LocalStore::Txn& txn) { return txn.Put(names::Outbox(ToHex(r->message_id())), *r); });
}

absl::Status ClientCore::FlushOutbox(absl::Status* first_error) {
  std::vector<v1::OutboxRecord> pending;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> index,
                              txn.Get<v1::IdList>(names::OutboxIndex()));
    const v1::IdList index_list = index.value_or(v1::IdList());
    for (const std::string& id : index_list.ids()) {
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::OutboxRecord> r,
                                txn.Get<v1::OutboxRecord>(names::Outbox(ToHex(id))));
      if (r.has_value()) pending.push_back(*std::move(r));
    }
    return absl::OkStatus();
  }));
  for (v1::OutboxRecord& r : pending) {
    absl::StatusOr<v1::SendResponse> resp;
    for (int attempt = 0;; ++attempt) {
      v1::SendRequest req;
      req.set_version(1);
      req.set_message_id(r.message_id());
      if (r.messages_size() > 0) {
        req.set_recipient_account_id(r.contact_id());
        *req.mutable_messages() = r.messages();
      } else {
        *req.mutable_recipient() = r.recipient();
        req.set_type(r.type());
        req.set_payload(r.payload());
      }
      resp = relay_->Send(req);
      if (!resp.ok() || resp->mismatches_size() == 0) break;
      // The devices changed since it was encrypted: refresh, cover them, send again.
      absl::Status repaired = attempt < kMaxDeviceRepairs && r.version() >= 2
                                  ? RepairOutbox(*resp, &r)
                                  : absl::UnavailableError(
                                        "the recipient's devices keep changing; will retry");
      if (!repaired.ok()) {
        // Kept queued (a device list still catching up), unless this device was removed.
        resp = absl::IsPermissionDenied(repaired)
                   ? repaired
                   : absl::UnavailableError(std::string(repaired.message()));
        break;
      }
    }
    const bool permanent = !resp.ok() && IsPermanent(resp.status());
    if (!resp.ok() && !permanent) {
      // Unreachable, rate limited or mailbox full: keep it (and the order) for a later retry.
      if (first_error != nullptr && first_error->ok()) *first_error = resp.status();
      break;
    }
    if (permanent && first_error != nullptr && first_error->ok()) *first_error = resp.status();
    if (resp.ok()) CrashPoint("sent-unmarked");
    std::optional<v1::DeliveryState> changed;
    ALLIANCE_RETURN_IF_ERROR(store_->Run(
        [&](LocalStore::Txn& txn) -> absl::Status {
          txn.Delete(names::Outbox(ToHex(r.message_id())));
          ALLIANCE_RETURN_IF_ERROR(RemoveFromIndex(txn, names::OutboxIndex(), r.message_id()));
          if (!r.has_history()) return absl::OkStatus();
          const std::string name = names::History(ToHex(r.contact_id()), r.history_index());
          ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryEntry> e,
                                    txn.Get<v1::HistoryEntry>(name));
          if (!e.has_value() || e->state() != v1::DELIVERY_STATE_QUEUED) return absl::OkStatus();
          e->set_state(permanent ? v1::DELIVERY_STATE_FAILED : v1::DELIVERY_STATE_SENT);
          changed = e->state();
          return txn.Put(name, *e);
        },
        /*sync=*/false));  // If lost in a crash, the resend is deduplicated by the relay.
    if (changed.has_value()) {
      Emit(DeliveryStateEvent{ToHex(r.contact_id()), ToHex(r.message_id()), *changed});
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SendResult> ClientCore::SendContent(const v1::ContactRecord& contact_in,
                                                   v1::Content content, bool record_history,
                                                   const CareNotice* notice) {
  v1::ContactRecord contact = contact_in;
  if (!contact.pending_identity_key().empty()) {
    return absl::FailedPreconditionError(
        "identity key of this contact changed; compare safety numbers, then run "
        "`alliance accept-key`");
  }
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  if (contact.profile_sent_at_ms() == 0) {
    v1::Content profile;
    profile.mutable_profile()->set_display_name(account.display_name());
    profile.mutable_profile()->set_read_receipts(account.read_receipts());
    ALLIANCE_RETURN_IF_ERROR(QueueContent(contact, profile, /*record_history=*/false).status());
    ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
      const std::string name = names::Contact(ToHex(contact.account_id()));
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                                txn.Get<v1::ContactRecord>(name));
      if (!c.has_value()) return absl::OkStatus();
      c->set_profile_sent_at_ms(static_cast<uint64_t>(absl::ToUnixMillis(Now())));
      return txn.Put(name, *c);
    }));
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::string id,
                            QueueContent(contact, std::move(content), record_history, notice));
  SendResult result;
  result.message_id = ToHex(id);
  absl::Status send_error;
  ALLIANCE_RETURN_IF_ERROR(FlushOutbox(&send_error));
  // Report on this message, not on whichever queued item failed first.
  bool still_queued = false;
  bool failed = false;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> queued,
                              txn.GetBytes(names::Outbox(result.message_id)));
    still_queued = queued.has_value();
    if (!record_history || still_queued) return absl::OkStatus();
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryRef> ref,
                              txn.Get<v1::HistoryRef>(names::MessageRef(result.message_id)));
    if (!ref.has_value()) return absl::OkStatus();
    ALLIANCE_ASSIGN_OR_RETURN(
        std::optional<v1::HistoryEntry> e,
        txn.Get<v1::HistoryEntry>(names::History(ToHex(ref->contact_id()), ref->index())));
    failed = e.has_value() && e->state() == v1::DELIVERY_STATE_FAILED;
    return absl::OkStatus();
  }));
  if (failed) {
    return send_error.ok() ? absl::FailedPreconditionError("the relay refused the message")
                           : send_error;
  }
  result.sent = !still_queued;
  if (still_queued) {
    result.relay_error =
        send_error.ok() ? absl::UnavailableError("message is queued for sending") : send_error;
  }
  return result;
}

ClientCore::CareNotice ClientCore::NoticeFor(const v1::AccountRecord& account,
                                             const v1::ContactRecord& contact,
                                             const std::string& body, const SendOptions& options) {
  CareNotice n;
  // The care state decides what the sender is told; when it cannot be evaluated the message
  // still goes, and the sender is told so and shown the emergency notice (never nothing).
  std::optional<v1::CareAgreement> agreement;
  n.care_error = store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(agreement, AgreementInForce(txn, contact));
    return absl::OkStatus();
  });
  if (!n.care_error.ok()) agreement.reset();
  n.has_agreement = agreement.has_value();
  n.emergency = agreement && !agreement->emergency_notice().empty()
                    ? agreement->emergency_notice()
                    : std::string(kDefaultEmergencyNotice);
  if (account.role() != v1::ROLE_CLIENT) return n;
  // The crisis check runs on this device only: nothing about it is sent or stored.
  n.crisis_matched =
      !body.empty() && care::CheckForCrisis(body, agreement ? &*agreement : nullptr).matched;
  if (n.care_error.ok() && agreement.has_value()) {
    care::SendNoticeOptions no;
    no.intent = options.intent;
    no.urgent = options.urgent;
    no.crisis_matched = n.crisis_matched;
    absl::StatusOr<care::SendNotice> notice =
        care::NoticeForSend(Now(), *agreement, no, absl::LocalTimeZone());
    if (notice.ok()) {
      n.lines = notice->lines;
      n.reply_due = notice->reply_due;
    } else {
      n.care_error = notice.status();
    }
  } else if (n.care_error.ok() && (options.urgent || n.crisis_matched)) {
    n.lines.push_back(kDefaultEmergencyNotice);
  }
  if (!n.care_error.ok()) n.lines = {kCareUnknown, n.emergency};
  return n;
}

absl::StatusOr<ComposePreview> ClientCore::Preview(const std::string& ref,
                                                   const SendOptions& options) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, FindContact(ref));
  CareNotice n = NoticeFor(account, contact, "", options);
  ComposePreview preview;
  preview.notice = std::move(n.lines);
  preview.reply_due = n.reply_due;
  preview.emergency_notice = std::move(n.emergency);
  preview.has_agreement = n.has_agreement;
  return preview;
}

absl::StatusOr<SendResult> ClientCore::SendText(const std::string& ref, const std::string& body,
                                                const SendOptions& options) {
  if (body.empty() && options.attachments.empty()) {
    return absl::InvalidArgumentError("message is empty");
  }
  if (options.attachments.size() > wire::kMaxAttachmentsPerMessage) {
    return absl::InvalidArgumentError("a message carries at most 8 files");
  }
  if (body.size() > kMaxBodySize) {
    return absl::InvalidArgumentError("message is longer than 60000 bytes");
  }
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, FindContact(ref));
  if (!options.attachments.empty() && !contact.pending_identity_key().empty()) {
    // Refused before any file is uploaded (SendContent refuses the message itself).
    return absl::FailedPreconditionError(
        "identity key of this contact changed; compare safety numbers, then run "
        "`alliance accept-key`");
  }
  const ContactView recipient = ViewOf(contact);
  CareNotice notice = NoticeFor(account, contact, body, options);
  SendResult result;
  if (notice.crisis_matched && !options.crisis_acknowledged) {
    result.recipient = recipient;
    result.crisis_prompt = true;
    result.notice.push_back(notice.emergency);
    return result;
  }
  v1::Content content;
  for (const AttachmentSource& file : options.attachments) {
    ALLIANCE_ASSIGN_OR_RETURN(*content.mutable_text()->add_attachments(),
                              UploadAttachment(account, contact, file));
  }
  content.mutable_text()->set_body(body);
  content.mutable_text()->set_intent(options.intent);
  content.mutable_text()->set_urgent(options.urgent);
  ALLIANCE_ASSIGN_OR_RETURN(result, SendContent(contact, std::move(content), true, &notice));
  result.recipient = std::move(recipient);
  result.notice = std::move(notice.lines);
  result.reply_due = notice.reply_due;
  result.care_error = notice.care_error;
  return result;
}

}  // namespace alliance::client

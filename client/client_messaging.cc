// Client: sending (sessions, outbox), receiving (decrypt, store, then ack), receipts, history,
// export.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "care/crisis.h"
#include "care/notice.h"
#include "client/envelope_opener.h"
#include "client/internal/client_core.h"
#include "client/receive_stream.h"
#include "client/store_names.h"
#include "crypto/record_io.h"
#include "crypto/safety_number.h"
#include "crypto/session.h"
#include "nlohmann/json.hpp"

namespace alliance::client {

struct ClientCore::Processed {
  bool duplicate = false;
  // What to tell subscribers once the envelope is stored and acknowledged.
  std::vector<ClientEvent> events;
  bool is_text = false;
  uint64_t sequence = 0;
  std::string contact_id;  // Hex.
  std::string content_id;  // Raw bytes.
  MessageView view;
};

namespace {

constexpr size_t kMaxBodySize = 60000;
constexpr char kDefaultEmergencyNotice[] =
    "This channel is not monitored for emergencies. If you are in danger or might harm "
    "yourself, call your local emergency number (112 or 911) now.";
constexpr char kCareUnknown[] =
    "Your care agreement could not be checked on this device, so no reply time can be given.";
constexpr size_t kMaxDisplayName = 200;
constexpr uint32_t kDevice = 1;

std::string RandomId() {
  std::string id(16, '\0');
  randombytes_buf(id.data(), id.size());
  return id;
}

MessageView ToView(const v1::HistoryEntry& e, const v1::ContactRecord& c) {
  MessageView v;
  v.contact_id = ToHex(c.account_id());
  v.contact_name = c.display_name();
  v.id = ToHex(e.id());
  v.index = e.index();
  v.direction = e.direction();
  v.sent_at = absl::FromUnixMillis(static_cast<int64_t>(e.sent_at_ms()));
  v.stored_at = absl::FromUnixMillis(static_cast<int64_t>(e.stored_at_ms()));
  v.state = e.state();
  v.body = e.text().body();
  v.intent =
      e.text().intent() == v1::INTENT_UNSPECIFIED ? v1::INTENT_NEEDS_REPLY : e.text().intent();
  v.urgent = e.text().urgent();
  v.read = e.read();
  v.identity_unverified = e.identity_unverified();
  v.undecryptable = e.undecryptable();
  return v;
}

absl::Status AddToIndex(LocalStore::Txn& txn, const std::string& index_name,
                        const std::string& id) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> list, txn.Get<v1::IdList>(index_name));
  v1::IdList l = list.value_or(v1::IdList());
  *l.add_ids() = id;
  return txn.Put(index_name, l);
}

absl::Status RemoveFromIndex(LocalStore::Txn& txn, const std::string& index_name,
                             const std::string& id) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> list, txn.Get<v1::IdList>(index_name));
  if (!list.has_value()) return absl::OkStatus();
  v1::IdList kept;
  for (const std::string& x : list->ids()) {
    if (x != id) *kept.add_ids() = x;
  }
  return txn.Put(index_name, kept);
}

bool IsPermanent(const absl::Status& s) {
  return absl::IsPermissionDenied(s) || absl::IsInvalidArgument(s) || absl::IsNotFound(s) ||
         absl::IsFailedPrecondition(s);
}

}  // namespace

absl::Status ClientCore::EnsureSession(v1::ContactRecord& contact) {
  const std::string hex = ToHex(contact.account_id());
  bool exists = false;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> s,
                              txn.GetBytes(names::Session(hex, kDevice)));
    exists = s.has_value();
    return absl::OkStatus();
  }));
  if (exists) return absl::OkStatus();

  v1::FetchPreKeyBundleRequest req;
  req.mutable_address()->set_account_id(contact.account_id());
  req.mutable_address()->set_device_id(kDevice);
  ALLIANCE_ASSIGN_OR_RETURN(v1::FetchPreKeyBundleResponse resp, relay_->FetchPreKeyBundle(req));
  if (resp.bundle().identity_key() != contact.identity_key()) {
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
  absl::StatusOr<crypto::VerifiedBundle> bundle =
      crypto::VerifyPreKeyBundle(resp.bundle(), absl::ToUnixSeconds(Now()));
  if (!bundle.ok()) {
    return absl::FailedPreconditionError("the contact's published keys are invalid: " +
                                         std::string(bundle.status().message()));
  }
  ALLIANCE_ASSIGN_OR_RETURN(crypto::Session session,
                            crypto::Session::Initiate(*identity_, *bundle, rng_));
  return store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> s,
                              txn.GetBytes(names::Session(hex, kDevice)));
    if (s.has_value()) return absl::OkStatus();  // Another process made one meanwhile.
    return StoreSession(txn, names::Session(hex, kDevice), session);
  });
}

absl::StatusOr<std::string> ClientCore::QueueContent(const v1::ContactRecord& contact,
                                                     v1::Content content, bool record_history) {
  const std::string hex = ToHex(contact.account_id());
  const std::string id = RandomId();
  const int64_t now_ms = absl::ToUnixMillis(Now());
  content.set_version(1);
  content.set_id(id);
  content.set_sent_at_ms(static_cast<uint64_t>(now_ms));
  std::optional<MessageView> queued_view;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::Session> session,
                              LoadSession(txn, names::Session(hex, kDevice), rng_));
    if (!session.has_value()) return absl::FailedPreconditionError("no session with contact");
    const crypto::PublicKey& remote = session->remote_identity();
    if (std::string(reinterpret_cast<const char*>(remote.data()), remote.size()) !=
        contact.identity_key()) {
      return absl::FailedPreconditionError("session does not match the contact's pinned key");
    }
    ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes plain,
                              crypto::SecretBytes::Allocate(content.ByteSizeLong()));
    if (!content.SerializeToArray(plain.data(), static_cast<int>(plain.size()))) {
      return absl::InternalError("cannot serialize message");
    }
    crypto::OutgoingMessage wire;
    ALLIANCE_RETURN_IF_ERROR(session->Encrypt(plain.span(), &wire));
    ALLIANCE_RETURN_IF_ERROR(StoreSession(txn, names::Session(hex, kDevice), *session));

    v1::OutboxRecord out;
    out.set_version(1);
    out.set_message_id(id);
    out.mutable_recipient()->set_account_id(contact.account_id());
    out.mutable_recipient()->set_device_id(kDevice);
    out.set_type(wire.type == crypto::MessageType::kPreKey ? v1::ENVELOPE_TYPE_PREKEY_MESSAGE
                                                           : v1::ENVELOPE_TYPE_MESSAGE);
    out.set_payload(wire.bytes.data(), wire.bytes.size());
    out.set_contact_id(contact.account_id());

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
  if (queued_view.has_value()) Emit(MessageEvent{*std::move(queued_view)});
  return id;
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
  for (const v1::OutboxRecord& r : pending) {
    v1::SendRequest req;
    req.set_version(1);
    req.set_message_id(r.message_id());
    *req.mutable_recipient() = r.recipient();
    req.set_type(r.type());
    req.set_payload(r.payload());
    absl::StatusOr<v1::SendResponse> resp = relay_->Send(req);
    const bool permanent = !resp.ok() && IsPermanent(resp.status());
    if (!resp.ok() && !permanent) {
      // Unreachable, rate limited or mailbox full: keep it (and the order) for a later retry.
      if (first_error != nullptr && first_error->ok()) *first_error = resp.status();
      break;
    }
    if (permanent && first_error != nullptr && first_error->ok()) *first_error = resp.status();
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
                                                   v1::Content content, bool record_history) {
  v1::ContactRecord contact = contact_in;
  if (!contact.pending_identity_key().empty()) {
    return absl::FailedPreconditionError(
        "identity key of this contact changed; compare safety numbers, then run "
        "`alliance accept-key`");
  }
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_RETURN_IF_ERROR(EnsureSession(contact));
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
                            QueueContent(contact, std::move(content), record_history));
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

absl::StatusOr<SendResult> ClientCore::SendText(const std::string& ref, const std::string& body,
                                                const SendOptions& options) {
  if (body.empty()) return absl::InvalidArgumentError("message is empty");
  if (body.size() > kMaxBodySize) {
    return absl::InvalidArgumentError("message is longer than 60000 bytes");
  }
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, FindContact(ref));
  ALLIANCE_ASSIGN_OR_RETURN(ContactView recipient, ResolveContact(ToHex(contact.account_id())));
  const bool client_side = account.role() == v1::ROLE_CLIENT;
  // The care state decides what the sender is told; when it cannot be evaluated the message
  // still goes, and the sender is told so and shown the emergency notice (never nothing).
  std::optional<v1::CareAgreement> agreement;
  absl::Status care_error = store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(agreement, AgreementInForce(txn, contact));
    return absl::OkStatus();
  });
  if (!care_error.ok()) agreement.reset();
  const std::string emergency = agreement && !agreement->emergency_notice().empty()
                                    ? agreement->emergency_notice()
                                    : std::string(kDefaultEmergencyNotice);
  // The crisis check runs on this device only: nothing about it is sent or stored.
  const care::CrisisCheck crisis =
      client_side ? care::CheckForCrisis(body, agreement ? &*agreement : nullptr)
                  : care::CrisisCheck{};
  SendResult result;
  if (crisis.matched && !options.crisis_acknowledged) {
    result.recipient = recipient;
    result.crisis_prompt = true;
    result.notice.push_back(emergency);
    return result;
  }
  v1::Content content;
  content.mutable_text()->set_body(body);
  content.mutable_text()->set_intent(options.intent);
  content.mutable_text()->set_urgent(options.urgent);
  ALLIANCE_ASSIGN_OR_RETURN(result, SendContent(contact, std::move(content), true));
  result.recipient = std::move(recipient);
  if (!client_side) return result;
  if (care_error.ok() && agreement.has_value()) {
    care::SendNoticeOptions no;
    no.intent = options.intent;
    no.urgent = options.urgent;
    no.crisis_matched = crisis.matched;
    absl::StatusOr<care::SendNotice> notice =
        care::NoticeForSend(Now(), *agreement, no, absl::LocalTimeZone());
    if (notice.ok()) {
      result.notice = notice->lines;
      result.reply_due = notice->reply_due;
    } else {
      care_error = notice.status();
    }
  } else if (care_error.ok() && (options.urgent || crisis.matched)) {
    result.notice.push_back(kDefaultEmergencyNotice);
  }
  if (!care_error.ok()) {
    result.care_error = care_error;
    result.notice = {kCareUnknown, emergency};
  }
  return result;
}

absl::StatusOr<ClientCore::Processed> ClientCore::ProcessEnvelope(const v1::Envelope& env) {
  Processed p;
  p.sequence = env.sequence();
  if (env.version() != 1 || env.sender().account_id().size() != 16 ||
      env.message_id().size() != 16 || env.payload().empty()) {
    p.duplicate = true;  // Malformed: nothing to store; acknowledge so it does not jam.
    return p;
  }
  const std::string hex = ToHex(env.sender().account_id());
  p.contact_id = hex;
  bool known = false;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                              txn.Get<v1::ContactRecord>(names::Contact(hex)));
    known = c.has_value();
    return absl::OkStatus();
  }));
  if (!known) ALLIANCE_RETURN_IF_ERROR(RefreshContacts());

  const int64_t now_ms = absl::ToUnixMillis(Now());
  const int64_t now_s = now_ms / 1000;
  const std::string seen = names::Seen(hex, ToHex(env.message_id()));
  bool replayed_content = false;
  absl::Status processed = store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> was_seen, txn.GetBytes(seen));
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> contact,
                              txn.Get<v1::ContactRecord>(names::Contact(hex)));
    if (was_seen.has_value() || !contact.has_value()) {
      p.duplicate = true;  // Redelivery (or a sender the relay no longer links to us).
      return absl::OkStatus();
    }
    ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(seen, crypto::AsBytes("1")));

    // Decrypt with a stored session, or build one from a prekey message (envelope_opener.h).
    std::vector<uint8_t> plain;
    ALLIANCE_ASSIGN_OR_RETURN(
        OpenedEnvelope opened,
        OpenEnvelope(txn, *identity_, env, hex, contact->identity_key(), now_s, rng_, &plain));
    if (opened.replay) {
      p.duplicate = true;  // A replayed first message: dropped, only its envelope id is kept.
      return absl::OkStatus();
    }
    const bool identity_unverified = opened.ok && opened.identity_unverified;
    if (identity_unverified) contact->set_pending_identity_key(opened.remote_identity);
    const absl::Status decrypted = opened.ok ? absl::OkStatus() : crypto::DecryptError();

    v1::Content content;
    const bool parsed = decrypted.ok() &&
                        content.ParseFromArray(plain.data(), static_cast<int>(plain.size())) &&
                        content.version() == 1;
    sodium_memzero(plain.data(), plain.size());
    if (parsed && content.id() != env.message_id()) {
      // Content re-sent under another envelope id (a replay, or a relay rewriting ids). The
      // content id must be the envelope id, and the envelope id was not seen (checked above),
      // so a match also means the content id is new. Nothing of this transaction is kept: the
      // sessions stay exactly as they were.
      replayed_content = true;
      return absl::AbortedError("content id does not match its envelope");
    }
    if (!parsed || content.has_text()) {
      v1::HistoryEntry e;
      e.set_version(1);
      e.set_id(env.message_id());
      e.set_direction(v1::DIRECTION_INCOMING);
      e.set_sent_at_ms(parsed ? content.sent_at_ms() : env.server_time_ms());
      e.set_stored_at_ms(static_cast<uint64_t>(now_ms));
      e.set_state(v1::DELIVERY_STATE_RECEIVED);
      if (parsed) *e.mutable_text() = content.text();
      e.set_undecryptable(!parsed);
      e.set_identity_unverified(identity_unverified);
      e.set_index(contact->history_count());
      contact->set_history_count(contact->history_count() + 1);
      contact->set_unread_count(contact->unread_count() + 1);
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::History(hex, e.index()), e));
      p.is_text = parsed;
      p.content_id = env.message_id();
      p.view = ToView(e, *contact);
      p.events.push_back(MessageEvent{p.view});
      if (identity_unverified) p.events.push_back(IdentityChangedEvent{hex});
      p.events.push_back(DueListChangedEvent{});
    } else if (identity_unverified) {
      p.duplicate = true;  // Receipts, profiles and care documents only from the pinned key.
      p.events.push_back(IdentityChangedEvent{hex});
    } else if (content.has_receipt()) {
      const v1::DeliveryState to = content.receipt().type() == v1::RECEIPT_TYPE_READ
                                       ? v1::DELIVERY_STATE_READ
                                       : v1::DELIVERY_STATE_DELIVERED;
      for (const std::string& id : content.receipt().message_ids()) {
        if (id.size() != 16) continue;
        ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryRef> ref,
                                  txn.Get<v1::HistoryRef>(names::MessageRef(ToHex(id))));
        if (!ref.has_value() || ref->contact_id() != env.sender().account_id()) continue;
        const std::string name = names::History(hex, ref->index());
        ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryEntry> e,
                                  txn.Get<v1::HistoryEntry>(name));
        if (!e.has_value() || e->state() >= to || e->state() == v1::DELIVERY_STATE_FAILED) continue;
        e->set_state(to);
        ALLIANCE_RETURN_IF_ERROR(txn.Put(name, *e));
        p.events.push_back(DeliveryStateEvent{hex, ToHex(id), to});
      }
      p.duplicate = true;  // Nothing to show.
    } else if (content.has_profile()) {
      contact->set_display_name(TruncateUtf8(content.profile().display_name(), kMaxDisplayName));
      contact->set_read_receipts(content.profile().read_receipts());
      p.duplicate = true;
      p.events.push_back(ContactChangedEvent{hex});
    } else if (content.has_agreement() || content.has_concern() || content.has_goal() ||
               content.has_out_of_office()) {
      // A care document the care rules refuse (forged, malformed, over a bound) is dropped
      // rather than blocking the mailbox, and reported; a storage failure fails the envelope.
      ALLIANCE_ASSIGN_OR_RETURN(CareOutcome outcome,
                                ApplyCare(txn, *contact, /*from_contact=*/true, content));
      p.duplicate = true;
      if (outcome == CareOutcome::kRejected) {
        p.events.push_back(CareRejectedEvent{hex});
      } else if (outcome == CareOutcome::kApplied) {
        if (content.has_agreement() || content.has_out_of_office()) {
          p.events.push_back(AgreementChangedEvent{hex});
        } else {
          p.events.push_back(CareChangedEvent{hex});
        }
        if (content.has_concern()) p.events.push_back(DueListChangedEvent{});
      }
    } else {
      p.duplicate = true;  // A content kind this version does not know: kept out of history.
    }
    return txn.Put(names::Contact(hex), *contact);
  });
  if (replayed_content) {
    // Only the envelope id is remembered, so that the relay's copy is acknowledged once.
    ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
      return txn.PutBytes(seen, crypto::AsBytes("1"));
    }));
    Processed dropped;
    dropped.sequence = env.sequence();
    dropped.contact_id = hex;
    dropped.duplicate = true;
    return dropped;
  }
  ALLIANCE_RETURN_IF_ERROR(processed);
  return p;
}

absl::StatusOr<ClientCore::Processed> ClientCore::ProcessEnvelopeOrSetAside(
    const v1::Envelope& env) {
  absl::StatusOr<Processed> p = ProcessEnvelope(env);
  if (p.ok() || absl::IsUnavailable(p.status())) return p;  // Busy profile: retry later.
  // The envelope cannot be processed (e.g. a damaged local record): set it aside as an
  // undecryptable entry so that one bad message does not hold back the whole mailbox.
  Processed aside;
  aside.sequence = env.sequence();
  aside.duplicate = true;
  const std::string hex = ToHex(env.sender().account_id());
  absl::Status stored = store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_RETURN_IF_ERROR(
        txn.PutBytes(names::Seen(hex, ToHex(env.message_id())), crypto::AsBytes("1")));
    absl::StatusOr<std::optional<v1::ContactRecord>> c =
        txn.Get<v1::ContactRecord>(names::Contact(hex));
    if (!c.ok() || !c->has_value()) return absl::OkStatus();
    v1::HistoryEntry e;
    e.set_version(1);
    e.set_id(env.message_id());
    e.set_direction(v1::DIRECTION_INCOMING);
    e.set_sent_at_ms(env.server_time_ms());
    e.set_stored_at_ms(static_cast<uint64_t>(absl::ToUnixMillis(Now())));
    e.set_state(v1::DELIVERY_STATE_RECEIVED);
    e.set_undecryptable(true);
    e.set_index((*c)->history_count());
    (*c)->set_history_count((*c)->history_count() + 1);
    ALLIANCE_RETURN_IF_ERROR(txn.Put(names::History(hex, e.index()), e));
    return txn.Put(names::Contact(hex), **c);
  });
  if (!stored.ok()) return p.status();
  return aside;
}

absl::Status ClientCore::SendReceipts(const std::string& contact_hex, v1::ReceiptType type,
                                      const std::vector<std::string>& ids) {
  if (ids.empty()) return absl::OkStatus();
  std::optional<v1::ContactRecord> contact;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(contact, txn.Get<v1::ContactRecord>(names::Contact(contact_hex)));
    return absl::OkStatus();
  }));
  if (!contact.has_value() || !contact->pending_identity_key().empty()) return absl::OkStatus();
  // At most 1000 ids a receipt (16 bytes each), well inside the message size limit.
  for (size_t i = 0; i < ids.size(); i += 1000) {
    v1::Content content;
    content.mutable_receipt()->set_type(type);
    for (size_t j = i; j < std::min(ids.size(), i + 1000); ++j) {
      *content.mutable_receipt()->add_message_ids() = ids[j];
    }
    ALLIANCE_RETURN_IF_ERROR(QueueContent(*contact, content, /*record_history=*/false).status());
  }
  return absl::OkStatus();
}

absl::Status ClientCore::AfterReceive(const std::vector<Processed>& batch) {
  std::map<std::string, std::vector<std::string>> delivered;
  for (const Processed& p : batch) {
    if (p.is_text) delivered[p.contact_id].push_back(p.content_id);
  }
  for (const auto& [contact, ids] : delivered) {
    ALLIANCE_RETURN_IF_ERROR(SendReceipts(contact, v1::RECEIPT_TYPE_DELIVERED, ids));
  }
  absl::Status ignored;
  return FlushOutbox(&ignored);
}

absl::StatusOr<std::vector<MessageView>> ClientCore::Sync() {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  absl::Status send_error;
  ALLIANCE_RETURN_IF_ERROR(FlushOutbox(&send_error));
  if (absl::IsUnavailable(send_error)) return send_error;

  grpc::ClientContext ctx;
  ALLIANCE_RETURN_IF_ERROR(relay_->PrepareStream(&ctx));
  std::unique_ptr<grpc::ClientReader<v1::ReceiveResponse>> reader =
      relay_->relay_stub()->Receive(&ctx, v1::ReceiveRequest());
  std::vector<Processed> batch;
  std::vector<uint64_t> acks;
  v1::ReceiveResponse resp;
  absl::Status process_error;
  while (reader->Read(&resp)) {
    if (resp.backlog_complete()) break;
    absl::StatusOr<Processed> p = ProcessEnvelopeOrSetAside(resp.envelope());
    if (!p.ok()) {
      process_error = p.status();  // Not stored, so not acked: the relay keeps it.
      break;
    }
    acks.push_back(p->sequence);
    batch.push_back(*std::move(p));
  }
  ctx.TryCancel();
  grpc::Status finish = reader->Finish();
  if (options_.before_ack && !acks.empty()) options_.before_ack();
  // Stored durably above; now the relay may forget them.
  for (size_t i = 0; i < acks.size(); i += 1000) {
    v1::AckRequest ack;
    for (size_t j = i; j < std::min(acks.size(), i + 1000); ++j) ack.add_sequences(acks[j]);
    ALLIANCE_RETURN_IF_ERROR(relay_->Ack(ack).status());
  }
  ALLIANCE_RETURN_IF_ERROR(process_error);
  if (!finish.ok() && finish.error_code() != grpc::StatusCode::CANCELLED) {
    return FromGrpc(finish, relay_->address());
  }
  ALLIANCE_RETURN_IF_ERROR(AfterReceive(batch));
  for (const Processed& p : batch) {
    for (const ClientEvent& e : p.events) Emit(e);
  }
  ALLIANCE_RETURN_IF_ERROR(MaintainPreKeys());
  ALLIANCE_RETURN_IF_ERROR(ApplyRetention().status());
  std::vector<MessageView> out;
  for (Processed& p : batch) {
    if (!p.duplicate) out.push_back(std::move(p.view));
  }
  return out;
}

absl::Status ClientCore::Listen(const std::function<void(const MessageView&)>& on_message) {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  absl::Status send_error;
  ALLIANCE_RETURN_IF_ERROR(FlushOutbox(&send_error));
  if (absl::IsUnavailable(send_error)) return send_error;
  ALLIANCE_ASSIGN_OR_RETURN(std::shared_ptr<ReceiveStream> stream,
                            ReceiveStream::Open(relay_.get()));
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (stop_listening_) {
      stop_listening_ = false;
      stream->Cancel();
      (void)stream->Finish();  // Cancelled by us: nothing to report.
      return absl::OkStatus();
    }
    stream_ = stream;
  }
  v1::ReceiveResponse resp;
  absl::Status result;
  while (stream->Read(&resp)) {
    if (resp.backlog_complete()) {
      // Prekeys are topped up and rotated only after the backlog is in: a rotation must not
      // drop a signed prekey that a waiting message still needs.
      result = MaintainPreKeys();
      if (!result.ok()) {
        stream->Cancel();
        break;
      }
      continue;
    }
    absl::StatusOr<Processed> p = ProcessEnvelopeOrSetAside(resp.envelope());
    if (!p.ok()) {
      result = p.status();
      stream->Cancel();
      break;
    }
    // Stored durably: show it now, then let the relay forget it and send the receipt.
    if (!p->duplicate) on_message(p->view);
    if (options_.before_ack) options_.before_ack();
    v1::AckRequest ack;
    ack.add_sequences(p->sequence);
    result = relay_->Ack(ack).status();
    if (result.ok()) result = AfterReceive({*p});
    if (result.ok()) {
      for (const ClientEvent& e : p->events) Emit(e);
    }
    if (!result.ok()) {
      stream->Cancel();
      break;
    }
  }
  absl::Status finish = stream->Finish();
  bool stopped;
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    stream_.reset();
    stopped = stop_listening_;
    stop_listening_ = false;
  }
  if (!result.ok()) return result;
  if (stopped) return absl::OkStatus();
  return finish;
}

void ClientCore::StopListening() {
  std::shared_ptr<ReceiveStream> stream;
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    stop_listening_ = true;
    stream = stream_;
  }
  if (stream != nullptr) stream->Cancel();
}

absl::StatusOr<std::vector<MessageView>> ClientCore::History(const std::string& ref,
                                                             bool mark_read) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, FindContact(ref));
  const std::string hex = ToHex(contact.account_id());
  std::vector<MessageView> out;
  std::vector<std::string> newly_read;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    if (mark_read) {
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                                txn.Get<v1::ContactRecord>(names::Contact(hex)));
      if (c.has_value() && c->unread_count() > 0) {
        c->set_unread_count(0);
        ALLIANCE_RETURN_IF_ERROR(txn.Put(names::Contact(hex), *c));
      }
    }
    for (uint64_t i = contact.history_start(); i < contact.history_count(); ++i) {
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryEntry> e,
                                txn.Get<v1::HistoryEntry>(names::History(hex, i)));
      if (!e.has_value()) continue;  // Removed by retention.
      if (mark_read && e->direction() == v1::DIRECTION_INCOMING && !e->read()) {
        e->set_read(true);
        ALLIANCE_RETURN_IF_ERROR(txn.Put(names::History(hex, i), *e));
        if (!e->undecryptable()) newly_read.push_back(e->id());
      }
      out.push_back(ToView(*e, contact));
    }
    return absl::OkStatus();
  }));
  if (account.read_receipts() && contact.read_receipts() && !newly_read.empty()) {
    ALLIANCE_RETURN_IF_ERROR(SendReceipts(hex, v1::RECEIPT_TYPE_READ, newly_read));
    absl::Status ignored;  // Queued if the relay is unreachable; sent later.
    ALLIANCE_RETURN_IF_ERROR(FlushOutbox(&ignored));
  }
  return out;
}

absl::StatusOr<std::string> ClientCore::ExportJson(const std::string& ref) {
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<MessageView> history, History(ref, false));
  ALLIANCE_ASSIGN_OR_RETURN(ContactView contact, ResolveContact(ref));
  ALLIANCE_ASSIGN_OR_RETURN(SafetyNumberView sn, SafetyNumber(ref));
  nlohmann::json doc;
  doc["format"] = "alliance-export/1";
  doc["exported_at"] = absl::FormatTime(absl::RFC3339_sec, Now(), absl::UTCTimeZone());
  doc["contact"] = {{"id", contact.id},
                    {"display_name", contact.display_name},
                    {"verified", contact.verified},
                    {"safety_number", sn.digits}};
  nlohmann::json messages = nlohmann::json::array();
  for (const MessageView& m : history) {
    messages.push_back(
        {{"id", m.id},
         {"direction", m.direction == v1::DIRECTION_OUTGOING ? "sent" : "received"},
         {"sent_at", absl::FormatTime(absl::RFC3339_sec, m.sent_at, absl::UTCTimeZone())},
         {"state", DeliveryStateName(m.state)},
         {"urgent", m.urgent},
         {"intent", static_cast<int>(m.intent)},
         {"undecryptable", m.undecryptable},
         {"body", m.body}});
  }
  doc["messages"] = std::move(messages);
  return doc.dump(2) + "\n";
}

}  // namespace alliance::client

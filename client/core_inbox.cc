// ClientCore, receiving: decrypt, store, then acknowledge; one branch per content kind; receipts;
// Sync and Listen.
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
#include "crypto/record_io.h"
#include "crypto/safety_number.h"
#include "crypto/session.h"
#include "nlohmann/json.hpp"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::client {

namespace {

// The value of a `seen` marker once the envelope's text is in the history (other envelopes
// leave "1"): a redelivery of it still owes the sender a delivery receipt.
constexpr std::string_view kStoredTextMarker = "t";

bool IsStoredTextMarker(const crypto::SecretBytes& value) {
  return std::string_view(reinterpret_cast<const char*>(value.data()), value.size()) ==
         kStoredTextMarker;
}

}  // namespace

struct ClientCore::Processed {
  // True when the envelope adds no message to show (a receipt, a profile, a care document,
  // a redelivery, a replay, something malformed): it is still acknowledged.
  bool nothing_to_show = false;
  // What to tell subscribers once the envelope is stored and acknowledged.
  std::vector<ClientEvent> events;
  bool is_text = false;
  uint64_t sequence = 0;
  std::string contact_id;  // Hex.
  std::string content_id;  // Raw bytes.
  MessageView view;
};

absl::StatusOr<ClientCore::Processed> ClientCore::ProcessEnvelope(const v1::Envelope& env) {
  Processed p;
  p.sequence = env.sequence();
  if (env.version() != 1 || env.sender().account_id().size() != 16 ||
      env.message_id().size() != 16 || env.payload().empty()) {
    p.nothing_to_show = true;  // Malformed: nothing to store; acknowledge so it does not jam.
    return p;
  }
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  if (env.sender().account_id() == account.account_id()) return ProcessSiblingEnvelope(env);
  const std::string hex = ToHex(env.sender().account_id());
  p.contact_id = hex;
  bool known = false;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                              txn.Get<v1::ContactRecord>(names::Contact(hex)));
    known = c.has_value() && OnDeviceList(*c, env.sender().device_id());
    return absl::OkStatus();
  }));
  // Unknown sender, or a device its pinned list does not name yet: fetch the lists.
  if (!known) ALLIANCE_RETURN_IF_ERROR(RefreshContacts());

  const int64_t now_ms = absl::ToUnixMillis(Now());
  const int64_t now_s = now_ms / 1000;
  const std::string seen = names::Seen(hex, ToHex(env.message_id()));
  bool replayed_content = false;
  absl::Status processed = store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> was_seen, txn.GetBytes(seen));
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> contact,
                              txn.Get<v1::ContactRecord>(names::Contact(hex)));
    if (!was_seen.has_value() && contact.has_value() &&
        !OnDeviceList(*contact, env.sender().device_id())) {
      // A device the contact's identity key never signed for (a relay inventing one): never
      // read, only acknowledged.
      p.nothing_to_show = true;
      return txn.PutBytes(seen, crypto::AsBytes("1"));
    }
    if (was_seen.has_value() || !contact.has_value()) {
      p.nothing_to_show = true;  // Redelivery (or a sender the relay no longer links to us).
      if (was_seen.has_value() && IsStoredTextMarker(*was_seen)) {
        // A text stored by a run that died before acknowledging it may also have died before
        // queuing its delivery receipt: queue it again (receipts only move states forward).
        p.is_text = true;
        p.content_id = env.message_id();
      }
      return absl::OkStatus();
    }
    ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(seen, crypto::AsBytes("1")));

    // Decrypt with a stored session, or build one from a prekey message (envelope_opener.h).
    std::vector<uint8_t> plain;
    ALLIANCE_ASSIGN_OR_RETURN(
        OpenedEnvelope opened,
        OpenEnvelope(txn, *identity_, env, hex, contact->identity_key(), now_s, rng_, &plain));
    if (opened.replay || opened.misaddressed) {
      // A replayed first message, or one the relay re-addressed: dropped, only its envelope id is
      // kept. Its real sender's thread shows the gap once a later message arrives (NoteMissing).
      p.nothing_to_show = true;
      return absl::OkStatus();
    }
    const bool identity_unverified = opened.ok && opened.identity_unverified;
    if (opened.ok) NoteMissing(opened.missing, env, *contact, &p);
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
      ALLIANCE_RETURN_IF_ERROR(HandleText(txn, env, parsed ? &content : nullptr,
                                          identity_unverified, now_ms, *contact, &p));
    } else if (identity_unverified) {
      p.nothing_to_show = true;  // Receipts, profiles and care documents only from the pinned key.
      p.events.push_back(IdentityChangedEvent{hex});
    } else if (content.has_receipt()) {
      ALLIANCE_RETURN_IF_ERROR(HandleReceipt(txn, env, content.receipt(), &p));
    } else if (content.has_profile()) {
      HandleProfile(content.profile(), *contact, &p);
    } else if (content.has_agreement() || content.has_concern() || content.has_goal() ||
               content.has_out_of_office()) {
      ALLIANCE_RETURN_IF_ERROR(HandleCare(txn, content, *contact, &p));
    } else {
      p.nothing_to_show = true;  // A content kind this version does not know: kept out of history.
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
    dropped.nothing_to_show = true;
    return dropped;
  }
  ALLIANCE_RETURN_IF_ERROR(processed);
  return p;
}

absl::StatusOr<ClientCore::Processed> ClientCore::ProcessSiblingEnvelope(
    const v1::Envelope& env) {
  Processed p;
  p.sequence = env.sequence();
  p.nothing_to_show = true;
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  const uint32_t device = env.sender().device_id();
  if (device == account.device_id()) return p;  // Ours, reflected back: never opened.
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord self, SelfContact(account));
  if (!OnDeviceList(self, device)) {
    ALLIANCE_RETURN_IF_ERROR(EnsureOwnDeviceList());  // A device linked since we last looked.
    ALLIANCE_ASSIGN_OR_RETURN(account, RequireAccount());
    ALLIANCE_ASSIGN_OR_RETURN(self, SelfContact(account));
    if (!OnDeviceList(self, device)) return p;  // Not one our identity key signed for.
  }
  const std::string own_hex = ToHex(account.account_id());
  const std::string seen = names::Seen(own_hex, ToHex(env.message_id()));
  const int64_t now_ms = absl::ToUnixMillis(Now());
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> was_seen, txn.GetBytes(seen));
    if (was_seen.has_value()) return absl::OkStatus();
    ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(seen, crypto::AsBytes("1")));
    std::vector<uint8_t> plain;
    ALLIANCE_ASSIGN_OR_RETURN(OpenedEnvelope opened,
                              OpenEnvelope(txn, *identity_, env, own_hex, self.identity_key(),
                                           now_ms / 1000, rng_, &plain));
    if (!opened.ok || opened.identity_unverified) return absl::OkStatus();
    v1::Content content;
    const bool parsed = content.ParseFromArray(plain.data(), static_cast<int>(plain.size()));
    sodium_memzero(plain.data(), plain.size());
    if (!parsed || content.version() != 1 || content.id() != env.message_id() ||
        !content.has_sync() || content.sync().contact_account_id().size() != 16) {
      return absl::OkStatus();
    }
    const v1::SyncMessage& sync = content.sync();
    const std::string hex = ToHex(sync.contact_account_id());
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> contact,
                              txn.Get<v1::ContactRecord>(names::Contact(hex)));
    if (!contact.has_value()) return absl::OkStatus();
    p.contact_id = hex;
    if (sync.has_sent()) {
      const v1::Content& sent = sync.sent();
      if (sent.has_sync() || sent.id() != env.message_id()) return absl::OkStatus();
      if (sent.has_text()) {
        // What we sent from the other device, in this device's history too (receipts from
        // the contact then move it forward here as well).
        v1::HistoryEntry e;
        e.set_version(1);
        e.set_id(sent.id());
        e.set_direction(v1::DIRECTION_OUTGOING);
        e.set_sent_at_ms(sent.sent_at_ms());
        e.set_stored_at_ms(static_cast<uint64_t>(now_ms));
        e.set_state(v1::DELIVERY_STATE_SENT);
        *e.mutable_text() = sent.text();
        e.set_index(contact->history_count());
        ALLIANCE_RETURN_IF_ERROR(txn.Put(names::History(hex, e.index()), e));
        v1::HistoryRef ref;
        ref.set_contact_id(contact->account_id());
        ref.set_index(e.index());
        ALLIANCE_RETURN_IF_ERROR(txn.Put(names::MessageRef(ToHex(sent.id())), ref));
        contact->set_history_count(contact->history_count() + 1);
        p.nothing_to_show = false;
        p.view = ToView(e, *contact);
        p.events.push_back(MessageEvent{p.view});
        p.events.push_back(DueListChangedEvent{});
      } else if (sent.has_agreement() || sent.has_concern() || sent.has_goal() ||
                 sent.has_out_of_office()) {
        ALLIANCE_ASSIGN_OR_RETURN(CareOutcome outcome,
                                  ApplyCare(txn, *contact, /*from_contact=*/false, sent));
        if (outcome == CareOutcome::kApplied) {
          p.events.push_back(AgreementChangedEvent{hex});
          p.events.push_back(DueListChangedEvent{});
        }
      }
    } else if (sync.has_read()) {
      // Read on another device: read here too.
      uint64_t newly_read = 0;
      for (const std::string& id : sync.read().message_ids()) {
        if (id.size() != 16) continue;
        for (uint64_t i = contact->history_count(); i > contact->history_start(); --i) {
          const std::string name = names::History(hex, i - 1);
          ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryEntry> e,
                                    txn.Get<v1::HistoryEntry>(name));
          if (!e.has_value() || e->id() != id) continue;
          if (e->direction() == v1::DIRECTION_INCOMING && !e->read()) {
            e->set_read(true);
            ALLIANCE_RETURN_IF_ERROR(txn.Put(name, *e));
            ++newly_read;
          }
          break;
        }
      }
      contact->set_unread_count(contact->unread_count() -
                                std::min(contact->unread_count(), newly_read));
      if (newly_read > 0) p.events.push_back(ContactChangedEvent{hex});
    }
    return txn.Put(names::Contact(hex), *contact);
  }));
  return p;
}

void ClientCore::NoteMissing(size_t missing, const v1::Envelope& env, v1::ContactRecord& contact,
                             Processed* p) {
  // Every content kind moves the ratchet, so a withheld receipt shows as a gap too: the count is
  // of messages, whatever they carried.
  const uint32_t now_missing = static_cast<uint32_t>(std::min<size_t>(missing, UINT32_MAX));
  if (now_missing == contact.missing_messages()) return;
  if (now_missing > contact.missing_messages()) {
    // The relay's clock, not the sender's: the sender's is inside the ciphertext of a content
    // not parsed yet, and the relay stamps every envelope it stores.
    contact.set_missing_before_ms(env.server_time_ms());
  }
  contact.set_missing_messages(now_missing);
  if (now_missing == 0) contact.clear_missing_before_ms();
  p->events.push_back(ContactChangedEvent{ToHex(contact.account_id())});
}

absl::Status ClientCore::HandleText(LocalStore::Txn& txn, const v1::Envelope& env,
                                    const v1::Content* content, bool identity_unverified,
                                    int64_t now_ms, v1::ContactRecord& contact, Processed* p) {
  // A text, or anything that could not be opened: both go into the history (the latter
  // flagged undecryptable, so that nothing is silently dropped).
  const std::string hex = ToHex(contact.account_id());
  v1::HistoryEntry e;
  e.set_version(1);
  e.set_id(env.message_id());
  e.set_direction(v1::DIRECTION_INCOMING);
  e.set_sent_at_ms(content != nullptr ? content->sent_at_ms() : env.server_time_ms());
  e.set_stored_at_ms(static_cast<uint64_t>(now_ms));
  e.set_state(v1::DELIVERY_STATE_RECEIVED);
  if (content != nullptr) *e.mutable_text() = content->text();
  e.set_undecryptable(content == nullptr);
  e.set_identity_unverified(identity_unverified);
  e.set_index(contact.history_count());
  contact.set_history_count(contact.history_count() + 1);
  contact.set_unread_count(contact.unread_count() + 1);
  ALLIANCE_RETURN_IF_ERROR(txn.Put(names::History(hex, e.index()), e));
  if (content != nullptr) {
    ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(names::Seen(hex, ToHex(env.message_id())),
                                          crypto::AsBytes(kStoredTextMarker)));
  }
  p->is_text = content != nullptr;
  p->content_id = env.message_id();
  p->view = ToView(e, contact);
  p->events.push_back(MessageEvent{p->view});
  if (identity_unverified) p->events.push_back(IdentityChangedEvent{hex});
  p->events.push_back(DueListChangedEvent{});
  return absl::OkStatus();
}

absl::Status ClientCore::HandleReceipt(LocalStore::Txn& txn, const v1::Envelope& env,
                                       const v1::Receipt& receipt, Processed* p) {
  // Moves our messages forward (delivered, read), never back, and only those sent to this
  // contact.
  const std::string hex = ToHex(env.sender().account_id());
  const v1::DeliveryState to = receipt.type() == v1::RECEIPT_TYPE_READ
                                   ? v1::DELIVERY_STATE_READ
                                   : v1::DELIVERY_STATE_DELIVERED;
  for (const std::string& id : receipt.message_ids()) {
    if (id.size() != 16) continue;
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryRef> ref,
                              txn.Get<v1::HistoryRef>(names::MessageRef(ToHex(id))));
    if (!ref.has_value() || ref->contact_id() != env.sender().account_id()) continue;
    const std::string name = names::History(hex, ref->index());
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryEntry> e, txn.Get<v1::HistoryEntry>(name));
    if (!e.has_value() || e->state() >= to || e->state() == v1::DELIVERY_STATE_FAILED) continue;
    e->set_state(to);
    ALLIANCE_RETURN_IF_ERROR(txn.Put(name, *e));
    p->events.push_back(DeliveryStateEvent{hex, ToHex(id), to});
  }
  p->nothing_to_show = true;  // Nothing to show.
  return absl::OkStatus();
}

void ClientCore::HandleProfile(const v1::Profile& profile, v1::ContactRecord& contact,
                               Processed* p) {
  contact.set_display_name(TruncateUtf8(profile.display_name(), kMaxDisplayName));
  contact.set_read_receipts(profile.read_receipts());
  p->nothing_to_show = true;
  p->events.push_back(ContactChangedEvent{ToHex(contact.account_id())});
}

absl::Status ClientCore::HandleCare(LocalStore::Txn& txn, const v1::Content& content,
                                    v1::ContactRecord& contact, Processed* p) {
  // A care document the care rules refuse (forged, malformed, over a bound) is dropped rather
  // than blocking the mailbox, and reported; a storage failure fails the envelope.
  const std::string hex = ToHex(contact.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(CareOutcome outcome,
                            ApplyCare(txn, contact, /*from_contact=*/true, content));
  p->nothing_to_show = true;
  if (outcome == CareOutcome::kRejected) {
    p->events.push_back(CareRejectedEvent{hex});
  } else if (outcome == CareOutcome::kApplied) {
    if (content.has_agreement() || content.has_out_of_office()) {
      p->events.push_back(AgreementChangedEvent{hex});
    } else {
      p->events.push_back(CareChangedEvent{hex});
    }
    if (content.has_concern()) p->events.push_back(DueListChangedEvent{});
  }
  return absl::OkStatus();
}

absl::StatusOr<ClientCore::Processed> ClientCore::ProcessEnvelopeOrSetAside(
    const v1::Envelope& env) {
  absl::StatusOr<Processed> p = ProcessEnvelope(env);
  if (p.ok() || absl::IsUnavailable(p.status())) return p;  // Busy profile: retry later.
  // The envelope cannot be processed (e.g. a damaged local record): set it aside as an
  // undecryptable entry so that one bad message does not hold back the whole mailbox.
  Processed aside;
  aside.sequence = env.sequence();
  aside.nothing_to_show = true;
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

absl::Status ClientCore::QueueDeliveryReceipts(const std::vector<Processed>& batch) {
  std::map<std::string, std::vector<std::string>> delivered;
  for (const Processed& p : batch) {
    if (p.is_text) delivered[p.contact_id].push_back(p.content_id);
  }
  for (const auto& [contact, ids] : delivered) {
    ALLIANCE_RETURN_IF_ERROR(SendReceipts(contact, v1::RECEIPT_TYPE_DELIVERED, ids));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<MessageView>> ClientCore::Sync() {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  absl::Status send_error;
  ALLIANCE_RETURN_IF_ERROR(FlushOutbox(&send_error));
  if (absl::IsUnavailable(send_error)) return send_error;

  std::vector<Processed> batch;
  std::vector<uint64_t> acks;
  absl::Status process_error;
  grpc::Status finish;
  // Twice at most: a stream refused UNAUTHENTICATED (a token expired, or revoked by a relay
  // restore) is opened once more after logging in again; nothing was read from it.
  for (int attempt = 0; attempt < 2; ++attempt) {
    grpc::ClientContext ctx;
    ALLIANCE_RETURN_IF_ERROR(relay_->PrepareStream(&ctx));
    std::unique_ptr<grpc::ClientReader<v1::ReceiveResponse>> reader =
        relay_->relay_stub()->Receive(&ctx, v1::ReceiveRequest());
    v1::ReceiveResponse resp;
    bool stopped_early = false;  // we end the stream; otherwise the relay did, and says why
    while (reader->Read(&resp)) {
      if (resp.backlog_complete()) {
        stopped_early = true;
        break;
      }
      absl::StatusOr<Processed> p = ProcessEnvelopeOrSetAside(resp.envelope());
      if (!p.ok()) {
        process_error = p.status();  // Not stored, so not acked: the relay keeps it.
        stopped_early = true;
        break;
      }
      acks.push_back(p->sequence);
      batch.push_back(*std::move(p));
    }
    // Cancelled only when we stop reading: cancelling a stream the relay already ended would
    // turn its status (UNAUTHENTICATED, say) into CANCELLED and hide it.
    if (stopped_early) ctx.TryCancel();
    finish = reader->Finish();
    if (finish.error_code() == grpc::StatusCode::UNAUTHENTICATED && acks.empty()) {
      relay_->ForgetToken();
      continue;
    }
    break;
  }
  if (!acks.empty()) CrashPoint("stored-unacked");
  // Receipts go into the outbox (durably) before the acks: an acknowledged envelope is never
  // redelivered, so a receipt not queued by then would be lost with a crash.
  ALLIANCE_RETURN_IF_ERROR(QueueDeliveryReceipts(batch));
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
  absl::Status ignored;
  ALLIANCE_RETURN_IF_ERROR(FlushOutbox(&ignored));
  for (const Processed& p : batch) {
    for (const ClientEvent& e : p.events) Emit(e);
  }
  ALLIANCE_RETURN_IF_ERROR(MaintainPreKeys());
  ALLIANCE_RETURN_IF_ERROR(ApplyRetention().status());
  std::vector<MessageView> out;
  for (Processed& p : batch) {
    if (!p.nothing_to_show) out.push_back(std::move(p.view));
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
    base::MutexLock lock(&stream_mu_);
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
    if (!p->nothing_to_show) on_message(p->view);
    CrashPoint("stored-unacked");
    result = QueueDeliveryReceipts({*p});  // before the ack, as in Sync
    if (!result.ok()) {
      stream->Cancel();
      break;
    }
    if (options_.before_ack) options_.before_ack();
    v1::AckRequest ack;
    ack.add_sequences(p->sequence);
    result = relay_->Ack(ack).status();
    absl::Status ignored;
    if (result.ok()) result = FlushOutbox(&ignored);
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
    base::MutexLock lock(&stream_mu_);
    stream_.reset();
    stopped = stop_listening_;
    stop_listening_ = false;
  }
  if (!result.ok()) return result;
  if (stopped) return absl::OkStatus();
  // The next Listen logs in again (a token expired, or revoked by a relay restore).
  if (absl::IsUnauthenticated(finish)) relay_->ForgetToken();
  return finish;
}

void ClientCore::StopListening() {
  std::shared_ptr<ReceiveStream> stream;
  {
    base::MutexLock lock(&stream_mu_);
    stop_listening_ = true;
    stream = stream_;
  }
  if (stream != nullptr) stream->Cancel();
}

}  // namespace alliance::client

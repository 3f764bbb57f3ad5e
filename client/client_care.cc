// Client: the therapeutic boundaries — care agreement, out-of-office, reply due, concerns, goals,
// device retention. Every document travels end to end as ordinary content; the relay sees none.
#include <algorithm>
#include <map>

#include "absl/strings/escaping.h"
#include "base/status_macros.h"
#include "care/agreement.h"
#include "care/concerns.h"
#include "care/due_list.h"
#include "care/goals.h"
#include "care/reply_due.h"
#include "client/internal/client_core.h"
#include "client/store_names.h"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::client {
namespace {

constexpr size_t kMaxOutOfOfficePeriods = 32;
constexpr size_t kMaxCareEvents = 10000;
// A care log (one sealed record per contact) stops growing at this size. Default: 4 MiB.
constexpr size_t kMaxCareLogBytes = 4 * 1024 * 1024;

std::string AgreementName(const std::string& hex) { return "agreements/" + hex; }
std::string CareName(const std::string& hex) { return "care/" + hex; }

std::string RandomId() {
  std::string id(16, '\0');
  randombytes_buf(id.data(), id.size());
  return id;
}

v1::Party PartyOf(v1::Role role) {
  if (role == v1::ROLE_THERAPIST) return v1::PARTY_THERAPIST;
  if (role == v1::ROLE_CLIENT) return v1::PARTY_CLIENT;
  return v1::PARTY_UNSPECIFIED;
}

absl::StatusOr<crypto::PublicKey> Key(const std::string& bytes) {
  return crypto::ParsePublicKey(crypto::AsBytes(bytes));
}

std::string OutOfOfficeMessage(const std::string& document) {
  return wire::DocumentMessage(wire::kOutOfOfficeDocument, document);
}

// A concern or goal id given by the user: a unique hex prefix of an id in `ids`.
absl::StatusOr<std::string> MatchId(const std::string& prefix, const std::vector<std::string>& ids,
                                    const char* what) {
  std::vector<std::string> hits;
  for (const std::string& id : ids) {
    if (prefix.size() >= 4 && ToHex(id).rfind(prefix, 0) == 0) hits.push_back(id);
  }
  if (hits.size() == 1) return hits[0];
  if (hits.empty()) return absl::NotFoundError(std::string("no ") + what + " matches " + prefix);
  return absl::InvalidArgumentError(std::string(what) + " id " + prefix + " is ambiguous");
}

// The concern and goal log with a contact (empty when none yet).
absl::StatusOr<v1::CareLog> LoadCareLog(LocalStore& store, const std::string& hex) {
  v1::CareLog l;
  ALLIANCE_RETURN_IF_ERROR(store.Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::CareLog> log, txn.Get<v1::CareLog>(CareName(hex)));
    l = log.value_or(v1::CareLog());
    return absl::OkStatus();
  }));
  return l;
}

std::vector<v1::ConcernEvent> ConcernEvents(const v1::CareLog& l) {
  return std::vector<v1::ConcernEvent>(l.concerns().begin(), l.concerns().end());
}

// Goal events as signed and stored (each was verified when it was applied).
std::vector<v1::GoalEvent> GoalEvents(const v1::CareLog& l) {
  std::vector<v1::GoalEvent> events;
  for (const v1::SignedGoalEvent& s : l.goals()) {
    v1::GoalEvent e;
    if (e.ParseFromString(s.event())) events.push_back(std::move(e));
  }
  return events;
}

// The agreement history with a contact, rebuilt (and every signature re-verified) from the
// stored log. The therapist's key is ours when `i_am_therapist`, the contact's otherwise.
absl::StatusOr<care::AgreementHistory> LoadAgreementHistory(
    LocalStore::Txn& txn, const std::string& hex, const crypto::PublicKey& mine,
    const crypto::PublicKey& theirs, bool i_am_therapist, v1::AgreementLog* log = nullptr) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AgreementLog> stored,
                            txn.Get<v1::AgreementLog>(AgreementName(hex)));
  care::AgreementHistory history(i_am_therapist ? mine : theirs, i_am_therapist ? theirs : mine);
  const v1::AgreementLog all = stored.value_or(v1::AgreementLog());
  for (const v1::SignedAgreement& a : all.versions()) (void)history.Add(a);
  if (log != nullptr) *log = all;
  return history;
}

// The out-of-office periods the therapist last announced (empty when none).
absl::StatusOr<std::vector<v1::OutOfOffice>> AnnouncedOutOfOffice(LocalStore::Txn& txn,
                                                                  const std::string& hex) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::CareLog> care, txn.Get<v1::CareLog>(CareName(hex)));
  v1::OutOfOfficeUpdate update;
  std::vector<v1::OutOfOffice> valid;
  if (!care.has_value() || !care->has_out_of_office() ||
      !update.ParseFromString(care->out_of_office().document())) {
    return valid;
  }
  // A period the agreement rules refuse (e.g. longer than 366 days) is dropped: merged into the
  // agreement it would make the whole care state unusable, emergency notice included.
  for (const v1::OutOfOffice& p : update.periods()) {
    if (care::ValidateOutOfOfficePeriod(p).ok() && valid.size() < kMaxOutOfOfficePeriods) {
      valid.push_back(p);
    }
  }
  return valid;
}

}  // namespace

absl::StatusOr<v1::ContactRecord> ClientCore::CareContact(const std::string& ref) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, FindContact(ref));
  const bool pair = (account.role() == v1::ROLE_THERAPIST && contact.role() == v1::ROLE_CLIENT) ||
                    (account.role() == v1::ROLE_CLIENT && contact.role() == v1::ROLE_THERAPIST);
  if (!pair) {
    return absl::PermissionDeniedError("care documents are between a therapist and a client");
  }
  return contact;
}

absl::Status ClientCore::ApplyOwnCare(LocalStore::Txn& txn, v1::ContactRecord& contact,
                                      const v1::Content& content) {
  ALLIANCE_ASSIGN_OR_RETURN(CareOutcome outcome,
                            ApplyCare(txn, contact, /*from_contact=*/false, content));
  if (outcome == CareOutcome::kRejected) {
    return absl::FailedPreconditionError(
        "the care record with this contact cannot take this change (full or refused)");
  }
  return absl::OkStatus();
}

absl::StatusOr<ClientCore::CareOutcome> ClientCore::ApplyCare(LocalStore::Txn& txn,
                                                              v1::ContactRecord& contact,
                                                              bool from_contact,
                                                              const v1::Content& content) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AccountRecord> account,
                            txn.Get<v1::AccountRecord>(names::Account()));
  if (!account.has_value()) return absl::FailedPreconditionError("profile is not registered");
  const bool i_am_therapist = account->role() == v1::ROLE_THERAPIST;
  if (PartyOf(account->role()) == v1::PARTY_UNSPECIFIED ||
      PartyOf(contact.role()) == v1::PARTY_UNSPECIFIED || account->role() == contact.role()) {
    return CareOutcome::kRejected;  // Only between a therapist and a client.
  }
  const crypto::PublicKey& mine = identity_->public_key();
  ALLIANCE_ASSIGN_OR_RETURN(crypto::PublicKey theirs, Key(contact.identity_key()));
  const crypto::PublicKey& sender_key = from_contact ? theirs : mine;
  const v1::Party sender = from_contact ? PartyOf(contact.role()) : PartyOf(account->role());
  const std::string hex = ToHex(contact.account_id());

  if (content.has_agreement()) {
    v1::AgreementLog l;
    ALLIANCE_ASSIGN_OR_RETURN(care::AgreementHistory history,
                              LoadAgreementHistory(txn, hex, mine, theirs, i_am_therapist, &l));
    absl::StatusOr<care::AgreementHistory::AddOutcome> added = history.Add(content.agreement());
    if (!added.ok() || l.versions_size() >= static_cast<int>(kMaxCareEvents)) {
      return CareOutcome::kRejected;  // Forged or conflicting: never in force, nothing stored.
    }
    if (*added == care::AgreementHistory::AddOutcome::kUnchanged) return CareOutcome::kKnown;
    *l.add_versions() = content.agreement();
    if (l.ByteSizeLong() > kMaxCareLogBytes) return CareOutcome::kRejected;
    ALLIANCE_RETURN_IF_ERROR(txn.Put(AgreementName(hex), l));
    return CareOutcome::kApplied;
  }

  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::CareLog> log, txn.Get<v1::CareLog>(CareName(hex)));
  v1::CareLog l = log.value_or(v1::CareLog());
  if (content.has_out_of_office()) {
    const v1::SignedOutOfOffice& s = content.out_of_office();
    v1::OutOfOfficeUpdate update;
    if (sender != v1::PARTY_THERAPIST ||
        !crypto::VerifySignature(sender_key, crypto::AsBytes(OutOfOfficeMessage(s.document())),
                                 crypto::AsBytes(s.signature())) ||
        !update.ParseFromString(s.document()) || update.format_version() != 1 ||
        update.periods_size() > static_cast<int>(kMaxOutOfOfficePeriods)) {
      return CareOutcome::kRejected;
    }
    v1::OutOfOfficeUpdate current;
    if (l.has_out_of_office() && current.ParseFromString(l.out_of_office().document()) &&
        current.issued_at_unix() >= update.issued_at_unix()) {
      return CareOutcome::kKnown;  // Older than what we have.
    }
    *l.mutable_out_of_office() = s;
    ALLIANCE_RETURN_IF_ERROR(txn.Put(CareName(hex), l));
    return CareOutcome::kApplied;
  }
  if (l.concerns_size() + l.goals_size() >= static_cast<int>(kMaxCareEvents) ||
      l.ByteSizeLong() + content.ByteSizeLong() > kMaxCareLogBytes) {
    return CareOutcome::kRejected;  // Full: further events are dropped, never blocking the mailbox.
  }
  if (content.has_concern()) {
    const v1::ConcernEvent& e = content.concern();
    if (!care::ValidateConcernEvent(e).ok() || e.author() != sender) return CareOutcome::kRejected;
    for (const v1::ConcernEvent& x : l.concerns()) {
      if (x.event_id() == e.event_id()) return CareOutcome::kKnown;
    }
    *l.add_concerns() = e;
    if (e.action() == v1::CONCERN_ACTION_OPEN) {
      // An opened concern is a thread in the history too (and a due item for the therapist).
      v1::HistoryEntry h;
      h.set_version(1);
      h.set_id(e.event_id());
      h.set_direction(from_contact ? v1::DIRECTION_INCOMING : v1::DIRECTION_OUTGOING);
      const uint64_t now_ms = static_cast<uint64_t>(absl::ToUnixMillis(Now()));
      h.set_sent_at_ms(now_ms);
      h.set_stored_at_ms(now_ms);
      h.set_state(from_contact ? v1::DELIVERY_STATE_RECEIVED : v1::DELIVERY_STATE_SENT);
      h.mutable_text()->set_body("Concern: " + e.title() +
                                 (e.note().empty() ? "" : " — " + e.note()));
      h.mutable_text()->set_intent(v1::INTENT_NEEDS_REPLY);
      h.set_concern_id(e.concern_id());
      h.set_index(contact.history_count());
      contact.set_history_count(contact.history_count() + 1);
      if (from_contact) contact.set_unread_count(contact.unread_count() + 1);
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::History(hex, h.index()), h));
    }
    ALLIANCE_RETURN_IF_ERROR(txn.Put(CareName(hex), l));
    return CareOutcome::kApplied;
  }
  if (content.has_goal()) {
    absl::StatusOr<v1::GoalEvent> e = care::VerifyGoalEvent(content.goal(), sender_key);
    if (!e.ok() || e->author() != sender) return CareOutcome::kRejected;
    for (const v1::SignedGoalEvent& x : l.goals()) {
      v1::GoalEvent known;
      if (known.ParseFromString(x.event()) && known.event_id() == e->event_id()) {
        return CareOutcome::kKnown;
      }
    }
    *l.add_goals() = content.goal();
    ALLIANCE_RETURN_IF_ERROR(txn.Put(CareName(hex), l));
    return CareOutcome::kApplied;
  }
  return CareOutcome::kRejected;
}

absl::StatusOr<std::optional<v1::CareAgreement>> ClientCore::AgreementInForce(
    LocalStore::Txn& txn, const v1::ContactRecord& contact) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AccountRecord> account,
                            txn.Get<v1::AccountRecord>(names::Account()));
  if (!account.has_value() || account->role() == contact.role() ||
      PartyOf(contact.role()) == v1::PARTY_UNSPECIFIED) {
    return std::optional<v1::CareAgreement>();
  }
  const std::string hex = ToHex(contact.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(crypto::PublicKey theirs, Key(contact.identity_key()));
  ALLIANCE_ASSIGN_OR_RETURN(care::AgreementHistory history,
                            LoadAgreementHistory(txn, hex, identity_->public_key(), theirs,
                                                 account->role() == v1::ROLE_THERAPIST));
  const care::VerifiedAgreement* in_force = history.InForce();
  if (in_force == nullptr) return std::optional<v1::CareAgreement>();
  v1::CareAgreement agreement = in_force->agreement;
  // Out-of-office periods the therapist announced since apply on top of the agreement (valid
  // ones only, and never more than the agreement rules allow in all).
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<v1::OutOfOffice> away, AnnouncedOutOfOffice(txn, hex));
  for (v1::OutOfOffice& p : away) {
    if (static_cast<size_t>(agreement.out_of_office_size()) >= care::kMaxOutOfOfficePeriods) break;
    *agreement.add_out_of_office() = std::move(p);
  }
  return std::optional<v1::CareAgreement>(std::move(agreement));
}

absl::Status ClientCore::ProposeAgreement(const std::string& ref, v1::CareAgreement draft) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, CareContact(ref));
  if (account.role() != v1::ROLE_THERAPIST) {
    return absl::PermissionDeniedError("only the therapist proposes the care agreement");
  }
  const std::string hex = ToHex(contact.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(crypto::PublicKey client_key, Key(contact.identity_key()));
  uint64_t version = 1;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(
        care::AgreementHistory history,
        LoadAgreementHistory(txn, hex, identity_->public_key(), client_key, true));
    version = history.NextVersion();
    return absl::OkStatus();
  }));
  draft.set_format_version(1);
  draft.set_version(version);
  draft.set_therapist_identity_key(
      std::string(reinterpret_cast<const char*>(identity_->public_key().data()), 32));
  draft.set_client_identity_key(contact.identity_key());
  draft.set_proposed_at_unix(absl::ToUnixSeconds(Now()));
  ALLIANCE_ASSIGN_OR_RETURN(v1::SignedAgreement proposal,
                            care::ProposeAgreement(draft, *identity_));
  v1::Content content;
  *content.mutable_agreement() = proposal;
  ALLIANCE_ASSIGN_OR_RETURN(SendResult sent, SendContent(contact, content, false));
  (void)sent;  // Queued when the relay is unreachable; delivered later.
  return store_->Run([&](LocalStore::Txn& txn) { return ApplyOwnCare(txn, contact, content); });
}

absl::Status ClientCore::AcceptAgreement(const std::string& ref) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, CareContact(ref));
  if (account.role() != v1::ROLE_CLIENT) {
    return absl::PermissionDeniedError("only the client countersigns the care agreement");
  }
  const std::string hex = ToHex(contact.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(crypto::PublicKey therapist_key, Key(contact.identity_key()));
  std::optional<v1::SignedAgreement> pending;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(
        care::AgreementHistory history,
        LoadAgreementHistory(txn, hex, identity_->public_key(), therapist_key, false));
    if (history.PendingProposal() != nullptr) {
      pending = history.PendingProposal()->signed_agreement;
    }
    return absl::OkStatus();
  }));
  if (!pending.has_value()) {
    return absl::FailedPreconditionError("no agreement proposal is waiting for you");
  }
  ALLIANCE_ASSIGN_OR_RETURN(v1::SignedAgreement both,
                            care::AcceptAgreement(*pending, therapist_key, *identity_));
  v1::Content content;
  *content.mutable_agreement() = both;
  ALLIANCE_RETURN_IF_ERROR(SendContent(contact, content, false).status());
  return store_->Run([&](LocalStore::Txn& txn) { return ApplyOwnCare(txn, contact, content); });
}

absl::StatusOr<AgreementView> ClientCore::Agreement(const std::string& ref) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, CareContact(ref));
  const std::string hex = ToHex(contact.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(crypto::PublicKey theirs, Key(contact.identity_key()));
  const bool i_am_therapist = account.role() == v1::ROLE_THERAPIST;
  AgreementView view;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(
        care::AgreementHistory history,
        LoadAgreementHistory(txn, hex, identity_->public_key(), theirs, i_am_therapist));
    view.versions = history.versions().size();
    if (history.PendingProposal() != nullptr) view.pending = history.PendingProposal()->agreement;
    ALLIANCE_ASSIGN_OR_RETURN(view.out_of_office, AnnouncedOutOfOffice(txn, hex));
    if (history.InForce() != nullptr) {
      view.in_force = history.InForce()->agreement;
      for (const v1::OutOfOffice& p : view.out_of_office) *view.in_force->add_out_of_office() = p;
    }
    return absl::OkStatus();
  }));
  return view;
}

absl::Status ClientCore::SetOutOfOffice(std::vector<v1::OutOfOffice> periods) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  if (account.role() != v1::ROLE_THERAPIST) {
    return absl::PermissionDeniedError("only a therapist sets out-of-office");
  }
  if (periods.size() > kMaxOutOfOfficePeriods) {
    return absl::InvalidArgumentError("too many out-of-office periods");
  }
  for (const v1::OutOfOffice& p : periods) {
    // The same rules the receiving side and the agreement apply: a period they would refuse
    // must never be announced.
    ALLIANCE_RETURN_IF_ERROR(care::ValidateOutOfOfficePeriod(p));
  }
  v1::OutOfOfficeUpdate update;
  update.set_format_version(1);
  update.set_issued_at_unix(absl::ToUnixSeconds(Now()));
  for (v1::OutOfOffice& p : periods) *update.add_periods() = std::move(p);
  v1::Content content;
  v1::SignedOutOfOffice* s = content.mutable_out_of_office();
  s->set_document(update.SerializeAsString());
  crypto::Signature sig = identity_->Sign(crypto::AsBytes(OutOfOfficeMessage(s->document())));
  s->set_signature(reinterpret_cast<const char*>(sig.data()), sig.size());
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<ContactView> contacts, Contacts(false));
  for (const ContactView& c : contacts) {
    if (c.role != v1::ROLE_CLIENT) continue;
    ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, FindContact(c.id));
    if (!contact.pending_identity_key().empty()) continue;  // Blocked until accepted.
    ALLIANCE_RETURN_IF_ERROR(SendContent(contact, content, false).status());
    ALLIANCE_RETURN_IF_ERROR(
        store_->Run([&](LocalStore::Txn& txn) { return ApplyOwnCare(txn, contact, content); }));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DueView>> ClientCore::DueList() {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  if (account.role() != v1::ROLE_THERAPIST) {
    return absl::PermissionDeniedError("the due list is the therapist's");
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<ContactView> contacts, Contacts(false));
  std::vector<care::ClientMessageState> states;
  std::map<std::string, v1::CareAgreement> agreements;
  std::map<std::string, std::pair<std::string, std::string>> info;  // id -> (name, body)
  for (const ContactView& c : contacts) {
    if (c.role != v1::ROLE_CLIENT) continue;
    ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, FindContact(c.id));
    ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::CareAgreement> a, AgreementInForce(txn, contact));
      if (a.has_value()) agreements[c.id] = *std::move(a);
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::CareLog> care,
                                txn.Get<v1::CareLog>(CareName(c.id)));
      const v1::CareLog care_log = care.value_or(v1::CareLog());
      const std::vector<v1::ConcernEvent> events(care_log.concerns().begin(),
                                                 care_log.concerns().end());
      care::ConcernList concerns = care::DeriveConcerns(events);
      std::vector<size_t> pending;  // Indices into `states` not yet answered.
      for (uint64_t i = contact.history_start(); i < contact.history_count(); ++i) {
        ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryEntry> e,
                                  txn.Get<v1::HistoryEntry>(names::History(c.id, i)));
        if (!e.has_value() || e->undecryptable()) continue;
        if (e->direction() == v1::DIRECTION_OUTGOING) {
          for (size_t k : pending) states[k].answered = true;  // A reply answers the thread.
          pending.clear();
          continue;
        }
        care::ClientMessageState s;
        s.contact_id = c.id;
        s.message_id = ToHex(e->id());
        s.arrived_at = absl::FromUnixMillis(static_cast<int64_t>(e->sent_at_ms()));
        s.intent = e->text().intent();
        s.urgent = e->text().urgent();
        if (!e->concern_id().empty()) {
          for (const care::Concern& k : concerns.concerns) {
            if (k.concern_id == e->concern_id() && !care::AwaitsResponse(k)) s.answered = true;
          }
        }
        info[s.message_id] = {c.display_name, e->text().body()};
        if (!s.answered) pending.push_back(states.size());
        states.push_back(std::move(s));
      }
      return absl::OkStatus();
    }));
  }
  care::DueList due = care::BuildDueList(
      states,
      [&](std::string_view id) -> const v1::CareAgreement* {
        auto it = agreements.find(std::string(id));
        return it == agreements.end() ? nullptr : &it->second;
      },
      Now());
  std::vector<DueView> out;
  for (const care::DueItem& d : due.due) {
    DueView v;
    v.contact_id = d.contact_id;
    v.contact_name = info[d.message_id].first;
    v.body = info[d.message_id].second;
    v.message_id = d.message_id;
    v.arrived_at = d.arrived_at;
    v.due_at = d.due_at;
    v.overdue = d.overdue;
    v.urgent = d.urgent;
    v.waiting = d.waiting;
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<std::vector<DueView>> ClientCore::Digest(const std::string& ref) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, CareContact(ref));
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<MessageView> history, History(ref, false));
  std::vector<DueView> out;
  for (const MessageView& m : history) {
    if (m.direction != v1::DIRECTION_INCOMING || m.intent != v1::INTENT_FOR_NEXT_SESSION) continue;
    DueView v;
    v.contact_id = m.contact_id;
    v.contact_name = m.contact_name;
    v.message_id = m.id;
    v.body = m.body;
    v.arrived_at = m.sent_at;
    out.push_back(std::move(v));
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<ConcernView> concerns, Concerns(ref));
  for (const ConcernView& c : concerns) {
    if (c.state != "deferred") continue;
    DueView v;
    v.contact_id = ToHex(contact.account_id());
    v.contact_name = contact.display_name();
    v.message_id = c.id;
    v.body = "Concern: " + c.title;
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<std::optional<absl::Time>> ClientCore::HeldUntil(const std::string& ref) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  if (account.role() != v1::ROLE_THERAPIST) return std::optional<absl::Time>();
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, FindContact(ref));
  std::optional<v1::CareAgreement> agreement;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(agreement, AgreementInForce(txn, contact));
    return absl::OkStatus();
  }));
  if (!agreement.has_value()) return std::optional<absl::Time>();
  const absl::Time now = Now();
  ALLIANCE_ASSIGN_OR_RETURN(bool within, care::IsWithinWindows(now, *agreement));
  if (within) return std::optional<absl::Time>();
  ALLIANCE_ASSIGN_OR_RETURN(absl::Time next, care::NextWorkingTime(now, *agreement));
  return std::optional<absl::Time>(next);
}

absl::StatusOr<std::string> ClientCore::OpenConcern(const std::string& ref,
                                                    const std::string& title,
                                                    const std::string& note) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, CareContact(ref));
  ALLIANCE_ASSIGN_OR_RETURN(v1::CareLog l, LoadCareLog(*store_, ToHex(contact.account_id())));
  const std::vector<v1::ConcernEvent> events = ConcernEvents(l);
  v1::Content content;
  v1::ConcernEvent* e = content.mutable_concern();
  e->set_event_id(RandomId());
  e->set_concern_id(RandomId());
  e->set_action(v1::CONCERN_ACTION_OPEN);
  e->set_lamport(care::NextConcernLamport(events));
  e->set_author(PartyOf(account.role()));
  e->set_title(title);
  e->set_note(note);
  ALLIANCE_RETURN_IF_ERROR(care::ValidateConcernEvent(*e));
  ALLIANCE_RETURN_IF_ERROR(SendContent(contact, content, false).status());
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(
        std::optional<v1::ContactRecord> c,
        txn.Get<v1::ContactRecord>(names::Contact(ToHex(contact.account_id()))));
    if (!c.has_value()) return absl::NotFoundError("contact disappeared");
    ALLIANCE_RETURN_IF_ERROR(ApplyOwnCare(txn, *c, content));
    return txn.Put(names::Contact(ToHex(contact.account_id())), *c);
  }));
  return ToHex(content.concern().concern_id());
}

absl::Status ClientCore::StepConcern(const std::string& ref, const std::string& concern_id,
                                     ConcernStep step, const std::string& note) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, CareContact(ref));
  const std::string hex = ToHex(contact.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(v1::CareLog l, LoadCareLog(*store_, hex));
  const std::vector<v1::ConcernEvent> events = ConcernEvents(l);
  std::vector<std::string> ids;
  for (const care::Concern& c : care::DeriveConcerns(events).concerns) ids.push_back(c.concern_id);
  ALLIANCE_ASSIGN_OR_RETURN(std::string id, MatchId(concern_id, ids, "concern"));
  v1::Content content;
  v1::ConcernEvent* e = content.mutable_concern();
  e->set_event_id(RandomId());
  e->set_concern_id(id);
  e->set_action(step == ConcernStep::kAcknowledge ? v1::CONCERN_ACTION_ACKNOWLEDGE
                : step == ConcernStep::kDefer     ? v1::CONCERN_ACTION_DEFER
                : step == ConcernStep::kAddress   ? v1::CONCERN_ACTION_ADDRESS
                                                  : v1::CONCERN_ACTION_CLOSE);
  e->set_lamport(care::NextConcernLamport(events));
  e->set_author(PartyOf(account.role()));
  e->set_note(note);
  ALLIANCE_RETURN_IF_ERROR(care::ValidateConcernEvent(*e));
  // Check the step is allowed before sending (e.g. only the other party acknowledges).
  std::vector<v1::ConcernEvent> with = events;
  with.push_back(*e);
  if (care::DeriveConcerns(with).ignored_events > care::DeriveConcerns(events).ignored_events) {
    return absl::FailedPreconditionError("that step does not apply to this concern now");
  }
  ALLIANCE_RETURN_IF_ERROR(SendContent(contact, content, false).status());
  return store_->Run([&](LocalStore::Txn& txn) { return ApplyOwnCare(txn, contact, content); });
}

absl::StatusOr<std::vector<ConcernView>> ClientCore::Concerns(const std::string& ref) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, CareContact(ref));
  ALLIANCE_ASSIGN_OR_RETURN(v1::CareLog l, LoadCareLog(*store_, ToHex(contact.account_id())));
  const std::vector<v1::ConcernEvent> events = ConcernEvents(l);
  std::vector<ConcernView> out;
  for (const care::Concern& c : care::DeriveConcerns(events).concerns) {
    out.push_back(
        {ToHex(c.concern_id), c.title, std::string(care::ConcernStateName(c.state)), c.note});
  }
  return out;
}

absl::StatusOr<std::string> ClientCore::AddGoal(const std::string& ref, const std::string& title,
                                                const std::string& description) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<GoalView> existing, Goals(ref));
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, CareContact(ref));
  ALLIANCE_ASSIGN_OR_RETURN(v1::CareLog l, LoadCareLog(*store_, ToHex(contact.account_id())));
  const std::vector<v1::GoalEvent> events = GoalEvents(l);
  v1::GoalEvent e;
  e.set_event_id(RandomId());
  e.set_goal_id(RandomId());
  e.set_action(v1::GOAL_ACTION_ADD);
  e.set_lamport(care::NextGoalLamport(events));
  e.set_author(PartyOf(account.role()));
  e.set_title(title);
  e.set_description(description);
  ALLIANCE_RETURN_IF_ERROR(care::ValidateGoalEvent(e));
  v1::Content content;
  ALLIANCE_ASSIGN_OR_RETURN(*content.mutable_goal(), care::SignGoalEvent(e, *identity_));
  ALLIANCE_RETURN_IF_ERROR(SendContent(contact, content, false).status());
  ALLIANCE_RETURN_IF_ERROR(
      store_->Run([&](LocalStore::Txn& txn) { return ApplyOwnCare(txn, contact, content); }));
  return ToHex(e.goal_id());
}

absl::Status ClientCore::StepGoal(const std::string& ref, const std::string& goal_id, GoalStep step,
                                  const std::string& text, std::optional<uint32_t> percent) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, CareContact(ref));
  ALLIANCE_ASSIGN_OR_RETURN(v1::CareLog l, LoadCareLog(*store_, ToHex(contact.account_id())));
  const std::vector<v1::GoalEvent> events = GoalEvents(l);
  std::vector<std::string> ids;
  for (const care::Goal& g : care::DeriveGoals(events).goals) ids.push_back(g.goal_id);
  ALLIANCE_ASSIGN_OR_RETURN(std::string id, MatchId(goal_id, ids, "goal"));
  v1::GoalEvent e;
  e.set_event_id(RandomId());
  e.set_goal_id(id);
  e.set_lamport(care::NextGoalLamport(events));
  e.set_author(PartyOf(account.role()));
  switch (step) {
    case GoalStep::kEdit:
      e.set_action(v1::GOAL_ACTION_EDIT);
      e.set_title(text);
      break;
    case GoalStep::kProgress:
      e.set_action(v1::GOAL_ACTION_PROGRESS);
      e.set_note(text);
      if (percent.has_value()) {
        e.set_has_percent(true);
        e.set_percent(*percent);
      }
      break;
    case GoalStep::kComplete:
      e.set_action(v1::GOAL_ACTION_COMPLETE);
      e.set_note(text);
      break;
  }
  ALLIANCE_RETURN_IF_ERROR(care::ValidateGoalEvent(e));
  v1::Content content;
  ALLIANCE_ASSIGN_OR_RETURN(*content.mutable_goal(), care::SignGoalEvent(e, *identity_));
  ALLIANCE_RETURN_IF_ERROR(SendContent(contact, content, false).status());
  return store_->Run([&](LocalStore::Txn& txn) { return ApplyOwnCare(txn, contact, content); });
}

absl::StatusOr<std::vector<GoalView>> ClientCore::Goals(const std::string& ref) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord contact, CareContact(ref));
  ALLIANCE_ASSIGN_OR_RETURN(v1::CareLog l, LoadCareLog(*store_, ToHex(contact.account_id())));
  const std::vector<v1::GoalEvent> events = GoalEvents(l);
  std::vector<GoalView> out;
  for (const care::Goal& g : care::DeriveGoals(events).goals) {
    GoalView v;
    v.id = ToHex(g.goal_id);
    v.title = g.title;
    v.description = g.description;
    v.completed = g.completed;
    for (const care::GoalProgress& p : g.progress) {
      v.progress_notes.push_back(p.note);
      if (p.percent.has_value()) v.percent = p.percent;
    }
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<size_t> ClientCore::ApplyRetention() {
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<ContactView> contacts, Contacts(false));
  size_t removed = 0;
  const int64_t now_ms = absl::ToUnixMillis(Now());
  for (const ContactView& c : contacts) {
    ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> contact,
                                txn.Get<v1::ContactRecord>(names::Contact(c.id)));
      if (!contact.has_value()) return absl::OkStatus();
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::CareAgreement> agreement,
                                AgreementInForce(txn, *contact));
      if (!agreement.has_value() || agreement->device_retention_days() == 0) {
        return absl::OkStatus();
      }
      const int64_t cutoff_ms =
          now_ms - int64_t{agreement->device_retention_days()} * 24 * 3600 * 1000;
      uint64_t i = contact->history_start();
      for (; i < contact->history_count(); ++i) {
        ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::HistoryEntry> e,
                                  txn.Get<v1::HistoryEntry>(names::History(c.id, i)));
        if (e.has_value() && static_cast<int64_t>(e->stored_at_ms()) >= cutoff_ms) break;
        if (e.has_value()) {
          txn.Delete(names::MessageRef(ToHex(e->id())));
          if (e->direction() == v1::DIRECTION_INCOMING && !e->read() &&
              contact->unread_count() > 0) {
            contact->set_unread_count(contact->unread_count() - 1);
          }
        }
        txn.Delete(names::History(c.id, i));
        ++removed;
      }
      if (i == contact->history_start()) return absl::OkStatus();
      contact->set_history_start(i);
      return txn.Put(names::Contact(c.id), *contact);
    }));
  }
  return removed;
}

}  // namespace alliance::client

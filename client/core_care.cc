// ClientCore, the care agreement: applying care documents, the agreement in force, proposing and
// accepting, out-of-office, held notifications and device retention.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
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
#include "care/out_of_office.h"
#include "care/reply_due.h"
#include "client/envelope_opener.h"
#include "client/internal/care_helpers.h"
#include <filesystem>

#include "client/internal/client_core.h"
#include "client/receive_stream.h"
#include "client/store_names.h"
#include "crypto/record_io.h"
#include "crypto/safety_number.h"
#include "crypto/session.h"
#include "nlohmann/json.hpp"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::client {

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
    if (sender != v1::PARTY_THERAPIST) return CareOutcome::kRejected;
    absl::StatusOr<v1::OutOfOfficeUpdate> update = care::VerifyOutOfOffice(s, sender_key);
    if (!update.ok()) return CareOutcome::kRejected;
    v1::OutOfOfficeUpdate current;
    if (l.has_out_of_office() && current.ParseFromString(l.out_of_office().document()) &&
        current.issued_at_unix() >= update->issued_at_unix()) {
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
    for (const care::VerifiedAgreement& v : history.versions()) {
      if (v.countersigned) view.history.push_back(v.agreement);
    }
    std::sort(view.history.begin(), view.history.end(),
              [](const v1::CareAgreement& a, const v1::CareAgreement& b) {
                return a.version() < b.version();
              });
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
  v1::OutOfOfficeUpdate update;
  update.set_format_version(1);
  update.set_issued_at_unix(absl::ToUnixSeconds(Now()));
  for (v1::OutOfOffice& p : periods) *update.add_periods() = std::move(p);
  // The same rules the receiving side and the agreement apply: a period they would refuse is
  // never announced (INVALID_ARGUMENT naming the rule).
  v1::Content content;
  ALLIANCE_ASSIGN_OR_RETURN(*content.mutable_out_of_office(),
                            care::SignOutOfOffice(update, *identity_));
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

absl::StatusOr<size_t> ClientCore::ApplyRetention() {
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<ContactView> contacts, Contacts(false));
  size_t removed = 0;
  const int64_t now_ms = absl::ToUnixMillis(Now());
  std::vector<v1::Attachment> cached;  // Attachments of removed entries.
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
          for (const v1::Attachment& a : e->text().attachments()) {
            if (a.blob_id().size() == wire::kBlobIdSize) cached.push_back(a);
          }
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
  // Their files go with them (after the commit: a file left by a crash is only ciphertext).
  for (const v1::Attachment& a : cached) {
    std::error_code ec;
    std::filesystem::remove(AttachmentCachePath(a), ec);
    std::filesystem::remove(AttachmentCachePath(a) + ".part", ec);
  }
  return removed;
}

}  // namespace alliance::client

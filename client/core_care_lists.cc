// ClientCore, what the care frame lists: the due list, the digest, concerns and goals.
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
#include "client/internal/care_helpers.h"
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
        if (!e.has_value() || e->undecryptable() || e->device_added_at() != 0) continue;
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
        std::vector<std::string> files;
        for (const v1::Attachment& a : e->text().attachments()) {
          files.push_back(SafeFileName(a.file_name()));
        }
        info[s.message_id] = {c.display_name, ListLine(e->text().body(), files)};
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
    std::vector<std::string> files;
    for (const AttachmentView& a : m.attachments) files.push_back(a.file_name);
    v.body = ListLine(m.body, files);
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

}  // namespace alliance::client

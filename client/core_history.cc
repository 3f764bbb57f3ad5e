// ClientCore, history: the conversation with a contact and its export as a document.
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
  bool queued = false;
  if (account.read_receipts() && contact.read_receipts() && !newly_read.empty()) {
    ALLIANCE_RETURN_IF_ERROR(SendReceipts(hex, v1::RECEIPT_TYPE_READ, newly_read));
    queued = true;
  }
  if (!newly_read.empty()) {
    // Our other devices mark them read too (whatever the read-receipt setting: this stays
    // within the account). Nothing is queued while this is the only device.
    ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord self, SelfContact(account));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<uint32_t> others, DestinationDevices(account, self));
    for (size_t i = 0; !others.empty() && i < newly_read.size(); i += 1000) {
      v1::Content content;
      content.mutable_sync()->set_contact_account_id(contact.account_id());
      content.mutable_sync()->mutable_read()->set_type(v1::RECEIPT_TYPE_READ);
      for (size_t j = i; j < std::min(newly_read.size(), i + 1000); ++j) {
        *content.mutable_sync()->mutable_read()->add_message_ids() = newly_read[j];
      }
      ALLIANCE_RETURN_IF_ERROR(QueueContent(self, content, /*record_history=*/false).status());
      queued = true;
    }
  }
  if (queued) {
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
    nlohmann::json files = nlohmann::json::array();
    for (const AttachmentView& a : m.attachments) {
      files.push_back({{"index", a.index},
                       {"file_name", a.file_name},
                       {"media_type", a.media_type},
                       {"size", a.size}});
    }
    messages.push_back(
        {{"id", m.id},
         {"direction", m.direction == v1::DIRECTION_OUTGOING ? "sent" : "received"},
         {"sent_at", absl::FormatTime(absl::RFC3339_sec, m.sent_at, absl::UTCTimeZone())},
         {"state", DeliveryStateName(m.state)},
         {"urgent", m.urgent},
         {"intent", static_cast<int>(m.intent)},
         {"undecryptable", m.undecryptable},
         {"body", m.body},
         {"attachments", std::move(files)}});
  }
  doc["messages"] = std::move(messages);
  return doc.dump(2) + "\n";
}

}  // namespace alliance::client

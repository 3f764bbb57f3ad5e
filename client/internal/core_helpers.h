// Helpers of the messaging parts of ClientCore: limits, ids, history views, store indexes.
// Internal to client/ (the parts of ClientCore share it).
#ifndef ALLIANCE_CLIENT_INTERNAL_CORE_HELPERS_H_
#define ALLIANCE_CLIENT_INTERNAL_CORE_HELPERS_H_

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
#include "client/attachment_files.h"
#include "client/envelope_opener.h"
#include "client/internal/client_core.h"
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

inline constexpr size_t kMaxBodySize = 60000;
inline constexpr char kDefaultEmergencyNotice[] =
    "This channel is not monitored for emergencies. If you are in danger or might harm "
    "yourself, call your local emergency number (112 or 911) now.";
inline constexpr char kCareUnknown[] =
    "Your care agreement could not be checked on this device, so no reply time can be given.";
inline constexpr size_t kMaxDisplayName = 200;
// Times one send is repaired after the relay reports the devices changed, before it waits for
// the next flush.
inline constexpr int kMaxDeviceRepairs = 3;

// Pins `served` as the contact's device list if it verifies under the contact's pinned identity
// key (none pending) and is newer than the list pinned; returns whether it did.
bool PinDeviceList(const v1::AccountRecord& account, const v1::SignedDeviceList& served,
                   v1::ContactRecord* contact);

// A link code as people see it (52 letters and digits without look-alikes, in groups of 4) and
// back. ParseLinkCode ignores dashes, spaces and case; INVALID_ARGUMENT for anything else.
std::string FormatLinkCode(const crypto::PublicKey& code);
absl::StatusOr<crypto::PublicKey> ParseLinkCode(std::string_view text);

// Whether `device_id` may send as the contact: on its pinned device list (any device of its
// list, active or not), or device 1 while it has none pinned.
inline bool OnDeviceList(const v1::ContactRecord& contact, uint32_t device_id) {
  if (contact.device_list().version() == 0) return device_id == 1;
  for (const v1::DeviceEntry& d : contact.device_list().devices()) {
    if (d.device_id() == device_id) return true;
  }
  return false;
}

// Deletes the sessions with the devices on `before` that `after` no longer names: nothing is
// encrypted to a removed device again, whatever the relay later claims.
inline void DropSessionsOfRemovedDevices(LocalStore::Txn& txn, const std::string& hex,
                                         const v1::SignedDeviceList& before,
                                         const v1::SignedDeviceList& after) {
  for (const v1::DeviceEntry& d : before.devices()) {
    const bool kept = std::any_of(after.devices().begin(), after.devices().end(),
                                  [&](const v1::DeviceEntry& a) {
                                    return a.device_id() == d.device_id();
                                  });
    if (kept) continue;
    txn.Delete(names::Session(hex, d.device_id()));
    txn.Delete(names::PreviousSession(hex, d.device_id()));
    txn.Delete(names::QuarantinedSession(hex, d.device_id()));
  }
}

// The devices of a contact to encrypt to: those on its pinned device list (verified again
// here) that the relay last reported active. FAILED_PRECONDITION while the contact has no list
// pinned or none of its devices is active.
absl::StatusOr<std::vector<crypto::VerifiedDevice>> ContactDevices(
    const v1::AccountRecord& account, const v1::ContactRecord& contact);

inline std::string RandomId() {
  std::string id(16, '\0');
  randombytes_buf(id.data(), id.size());
  return id;
}

// What a list (the due queue, the digest) shows for a text: its body, or for files sent
// without one "Sent a file: worksheet.pdf" / "Sent 2 files: a.pdf, b.png".
inline std::string ListLine(const std::string& body, const std::vector<std::string>& file_names) {
  if (!body.empty() || file_names.empty()) return body;
  std::string line = file_names.size() == 1 ? "Sent a file: "
                                            : absl::StrCat("Sent ", file_names.size(), " files: ");
  for (size_t i = 0; i < file_names.size(); ++i) {
    absl::StrAppend(&line, i == 0 ? "" : ", ", file_names[i]);
  }
  return line;
}

inline MessageView ToView(const v1::HistoryEntry& e, const v1::ContactRecord& c) {
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
  v.notice.assign(e.notice().begin(), e.notice().end());
  if (e.reply_due_ms() != 0) {
    v.reply_due = absl::FromUnixMillis(static_cast<int64_t>(e.reply_due_ms()));
  }
  for (int i = 0; i < e.text().attachments_size(); ++i) {
    const v1::Attachment& a = e.text().attachments(i);
    AttachmentView av;
    av.index = static_cast<size_t>(i);
    av.file_name = SafeFileName(a.file_name());
    av.media_type = SafeMediaType(a.media_type());
    av.size = a.plain_size();
    if (a.thumbnail().size() <= wire::kMaxThumbnailSize) {
      av.thumbnail_type = ImageTypeOf(a.thumbnail());
      if (!av.thumbnail_type.empty()) av.thumbnail = a.thumbnail();
    }
    v.attachments.push_back(std::move(av));
  }
  if (e.device_added_at() != 0) {
    v.device_added = true;
    const absl::Time at = absl::FromUnixSeconds(static_cast<int64_t>(e.device_added_at()));
    v.body = absl::StrCat(c.display_name().empty() ? "Your contact" : c.display_name(),
                          " added a device on ",
                          absl::FormatTime("%a %e %b", at, absl::LocalTimeZone()));
  }
  return v;
}

inline absl::Status AddToIndex(LocalStore::Txn& txn, const std::string& index_name,
                               const std::string& id) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> list, txn.Get<v1::IdList>(index_name));
  v1::IdList l = list.value_or(v1::IdList());
  *l.add_ids() = id;
  return txn.Put(index_name, l);
}

inline absl::Status RemoveFromIndex(LocalStore::Txn& txn, const std::string& index_name,
                                    const std::string& id) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> list, txn.Get<v1::IdList>(index_name));
  if (!list.has_value()) return absl::OkStatus();
  v1::IdList kept;
  for (const std::string& x : list->ids()) {
    if (x != id) *kept.add_ids() = x;
  }
  return txn.Put(index_name, kept);
}

inline bool IsPermanent(const absl::Status& s) {
  return absl::IsPermissionDenied(s) || absl::IsInvalidArgument(s) || absl::IsNotFound(s) ||
         absl::IsFailedPrecondition(s);
}

// Verified means verified for the key pinned now: a verification never carries over to a key
// that replaced the one the user compared.
inline bool VerifiedForPinnedKey(const v1::ContactRecord& c) {
  return c.verified() && c.pending_identity_key().empty() &&
         c.verified_identity_key().size() == 32 && c.verified_identity_key() == c.identity_key();
}

inline ContactView ViewOf(const v1::ContactRecord& c) {
  ContactView v;
  v.id = ToHex(c.account_id());
  v.role = c.role();
  v.display_name = c.display_name();
  v.verified = VerifiedForPinnedKey(c);
  v.identity_changed = !c.pending_identity_key().empty();
  v.messages = c.history_count();
  v.unread = c.unread_count();
  v.missing_messages = c.missing_messages();
  if (c.missing_messages() > 0) {
    v.missing_before = absl::FromUnixMillis(static_cast<int64_t>(c.missing_before_ms()));
  }
  return v;
}

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_INTERNAL_CORE_HELPERS_H_

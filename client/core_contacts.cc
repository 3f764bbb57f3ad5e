// ClientCore, contacts: pinning identity keys on first use, resolving who a name means (never
// letting a chosen name shadow a role or another contact), safety numbers, verification and key
// changes.
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
#include "crypto/devices.h"
#include "crypto/record_io.h"
#include "crypto/safety_number.h"
#include "crypto/session.h"
#include "nlohmann/json.hpp"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::client {

bool PinDeviceList(const v1::AccountRecord& account, const v1::SignedDeviceList& served,
                   v1::ContactRecord* contact) {
  // Only under the pinned key: a list signed by a changed key waits for accept-key with it.
  if (!contact->pending_identity_key().empty()) return false;
  absl::StatusOr<crypto::PublicKey> key =
      crypto::ParsePublicKey(crypto::AsBytes(contact->identity_key()));
  if (!key.ok()) return false;
  const uint64_t pinned = contact->device_list().version();
  absl::StatusOr<crypto::VerifiedDeviceList> list =
      crypto::VerifyDeviceList(served, *key, crypto::AsBytes(account.relay_id()),
                               crypto::AsBytes(contact->account_id()), pinned);
  if (!list.ok() || list->version == pinned) return false;  // older, forged, or the one held
  *contact->mutable_device_list() = served;
  contact->mutable_device_list()->DiscardUnknownFields();
  return true;
}

absl::StatusOr<std::vector<crypto::VerifiedDevice>> ContactDevices(
    const v1::AccountRecord& account, const v1::ContactRecord& contact) {
  if (contact.device_list().version() == 0) {
    return absl::FailedPreconditionError(
        "this contact's app has not published its devices yet; messages can be sent once it "
        "has connected to the clinic's server with this version");
  }
  ALLIANCE_ASSIGN_OR_RETURN(crypto::PublicKey key,
                            crypto::ParsePublicKey(crypto::AsBytes(contact.identity_key())));
  absl::StatusOr<crypto::VerifiedDeviceList> list =
      crypto::VerifyDeviceList(contact.device_list(), key, crypto::AsBytes(account.relay_id()),
                               crypto::AsBytes(contact.account_id()));
  if (!list.ok()) return absl::DataLossError("a pinned device list no longer verifies");
  std::vector<crypto::VerifiedDevice> out;
  for (const crypto::VerifiedDevice& d : list->devices) {
    // The relay may withhold a device (it then gets nothing); it can never add one.
    const bool active =
        contact.active_device_ids().empty() ||
        std::find(contact.active_device_ids().begin(), contact.active_device_ids().end(),
                  d.device_id) != contact.active_device_ids().end();
    if (active) out.push_back(d);
  }
  if (out.empty()) return absl::FailedPreconditionError("this contact has no active device");
  return out;
}

absl::Status ClientCore::RefreshContacts() {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ListContactsResponse resp, relay_->ListContacts());
  return store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> index,
                              txn.Get<v1::IdList>(names::ContactIndex()));
    v1::IdList ids = index.value_or(v1::IdList());
    for (const v1::Contact& c : resp.contacts()) {
      if (c.account_id().size() != 16 || c.identity_key().size() != 32) continue;
      const std::string hex = ToHex(c.account_id());
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> existing,
                                txn.Get<v1::ContactRecord>(names::Contact(hex)));
      v1::ContactRecord rec;
      if (existing.has_value()) {
        rec = *existing;
        // Pinned on first use: a different key is recorded, never adopted silently. A pending
        // key is cleared only by accept-key, never by the relay reporting the old key again.
        if (rec.identity_key() != c.identity_key()) {
          rec.set_pending_identity_key(c.identity_key());
        }
      } else {
        rec.set_version(1);
        rec.set_account_id(c.account_id());
        rec.set_identity_key(c.identity_key());
        *ids.add_ids() = c.account_id();
      }
      rec.set_role(c.role());
      if (c.has_device_list()) {
        const v1::SignedDeviceList before = rec.device_list();
        if (PinDeviceList(account, c.device_list(), &rec)) {
          DropSessionsOfRemovedDevices(txn, hex, before, rec.device_list());
        }
        if (before.version() > 0 && rec.device_list().version() > before.version()) {
          // A device the contact's identity key vouches for now and did not before: a quiet
          // line in the conversation (a therapist should know a client reads on another screen).
          for (const v1::DeviceEntry& d : rec.device_list().devices()) {
            const bool known = std::any_of(
                before.devices().begin(), before.devices().end(),
                [&](const v1::DeviceEntry& b) { return b.device_id() == d.device_id(); });
            if (known) continue;
            v1::HistoryEntry e;
            e.set_version(1);
            e.set_id(RandomId());
            e.set_sent_at_ms(d.added_at() * 1000);
            e.set_stored_at_ms(static_cast<uint64_t>(absl::ToUnixMillis(Now())));
            e.set_device_added_id(d.device_id());
            e.set_device_added_at(d.added_at());
            e.set_index(rec.history_count());
            ALLIANCE_RETURN_IF_ERROR(txn.Put(names::History(hex, e.index()), e));
            rec.set_history_count(rec.history_count() + 1);
          }
        }
      }
      rec.clear_active_device_ids();
      for (uint32_t id : c.device_ids()) rec.add_active_device_ids(id);
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::Contact(hex), rec));
    }
    return txn.Put(names::ContactIndex(), ids);
  });
}

namespace {

bool IsHex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); });
}

// "admin 1a2b3c4d" or "client 5e6f7a8b (calls itself admin)", for an ambiguity error. The name is
// quoted as the contact chose it (shortened); it is shown, never interpreted.
std::string Candidate(const ContactView& c, const std::string& lower_ref) {
  std::string out = absl::StrCat(RoleName(c.role), " ", c.id.substr(0, 8));
  if (!c.display_name.empty() && absl::AsciiStrToLower(c.display_name) == lower_ref &&
      lower_ref != RoleName(c.role)) {
    absl::StrAppend(&out, " (calls itself ", TruncateUtf8(c.display_name, 40), ")");
  }
  return out;
}

// The safety number of us and a contact whose identity key is `key`.
absl::StatusOr<std::string> SafetyDigits(const crypto::IdentityKeyPair& me,
                                         const v1::AccountRecord& account,
                                         const v1::ContactRecord& c, const std::string& key) {
  ALLIANCE_ASSIGN_OR_RETURN(crypto::PublicKey theirs, crypto::ParsePublicKey(crypto::AsBytes(key)));
  return crypto::SafetyNumber(me.public_key(), crypto::AsBytes(account.account_id()), theirs,
                              crypto::AsBytes(c.account_id()));
}

}  // namespace

absl::StatusOr<std::vector<ContactView>> ClientCore::Contacts(bool refresh) {
  if (refresh) ALLIANCE_RETURN_IF_ERROR(RefreshContacts());
  std::vector<ContactView> out;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> index,
                              txn.Get<v1::IdList>(names::ContactIndex()));
    const v1::IdList index_list = index.value_or(v1::IdList());
    for (const std::string& id : index_list.ids()) {
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                                txn.Get<v1::ContactRecord>(names::Contact(ToHex(id))));
      if (!c.has_value()) continue;
      out.push_back(ViewOf(*c));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ContactRecord> ClientCore::FindContact(const std::string& ref) {
  if (ref.empty()) return absl::InvalidArgumentError("contact name is empty");
  const std::string lower = absl::AsciiStrToLower(ref);
  for (int attempt = 0; attempt < 2; ++attempt) {
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<ContactView> all, Contacts(/*refresh=*/attempt == 1));
    // A role, an id prefix and a display name are all candidates at once: a name a contact
    // chose for itself can never shadow a role or another contact, only make `ref` ambiguous.
    // A whole account id (32 hex digits) always names exactly that contact.
    std::vector<const ContactView*> matches;
    for (const ContactView& c : all) {
      if (lower.size() == 32 && c.id == lower) {
        matches.assign(1, &c);
        break;
      }
      const bool by_role = lower == RoleName(c.role);
      const bool by_id = lower.size() >= 4 && IsHex(lower) && absl::StartsWith(c.id, lower);
      const bool by_name =
          !c.display_name.empty() && absl::AsciiStrToLower(c.display_name) == lower;
      if (by_role || by_id || by_name) matches.push_back(&c);
    }
    if (matches.size() > 1) {
      std::string list;
      for (const ContactView* c : matches) {
        absl::StrAppend(&list, list.empty() ? "" : ", ", Candidate(*c, lower));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("'", TruncateUtf8(ref, 40), "' could be: ", list, "; use the id"));
    }
    if (matches.size() == 1) {
      std::optional<v1::ContactRecord> rec;
      ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
        ALLIANCE_ASSIGN_OR_RETURN(rec, txn.Get<v1::ContactRecord>(names::Contact(matches[0]->id)));
        return absl::OkStatus();
      }));
      if (rec.has_value()) return *rec;
    }
  }
  return absl::NotFoundError("no contact matches '" + TruncateUtf8(ref, 40) + "'");
}

absl::StatusOr<ContactView> ClientCore::ResolveContact(const std::string& ref) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord c, FindContact(ref));
  return ViewOf(c);
}

absl::StatusOr<SafetyNumberView> ClientCore::SafetyNumber(const std::string& ref) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord c, FindContact(ref));
  // With a pending change, show the number for the new key: that is what the user must check.
  const std::string& key =
      c.pending_identity_key().empty() ? c.identity_key() : c.pending_identity_key();
  SafetyNumberView v;
  ALLIANCE_ASSIGN_OR_RETURN(v.digits, SafetyDigits(*identity_, account, c, key));
  v.formatted = crypto::FormatSafetyNumber(v.digits);
  v.qr_payload = crypto::SafetyNumberQrPayload(v.digits);
  v.verified = VerifiedForPinnedKey(c);
  return v;
}

absl::Status ClientCore::Verify(const std::string& ref, const std::string& typed) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord found, FindContact(ref));
  const std::string hex = ToHex(found.account_id());
  return store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                              txn.Get<v1::ContactRecord>(names::Contact(hex)));
    if (!c.has_value()) return absl::NotFoundError("contact disappeared");
    if (!c->pending_identity_key().empty()) {
      return absl::FailedPreconditionError(
          "identity key changed; run `alliance accept-key` after comparing safety numbers");
    }
    // The number is computed here, for the key pinned in this transaction: what is marked
    // verified is exactly the key whose number the user compared.
    ALLIANCE_ASSIGN_OR_RETURN(std::string digits,
                              SafetyDigits(*identity_, account, *c, c->identity_key()));
    ALLIANCE_RETURN_IF_ERROR(ConfirmSafetyNumber(digits, typed));
    c->set_verified(true);
    c->set_verified_identity_key(c->identity_key());
    return txn.Put(names::Contact(hex), *c);
  });
}

absl::Status ClientCore::AcceptKey(const std::string& ref, const std::string& typed) {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ContactRecord found, FindContact(ref));
  const std::string hex = ToHex(found.account_id());
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                              txn.Get<v1::ContactRecord>(names::Contact(hex)));
    if (!c.has_value()) return absl::NotFoundError("contact disappeared");
    if (c->pending_identity_key().empty()) {
      return absl::FailedPreconditionError("the contact's identity key has not changed");
    }
    // The key accepted must be the one whose whole safety number the user compared: the number
    // is computed for the pending key as it is in this transaction.
    ALLIANCE_ASSIGN_OR_RETURN(std::string digits,
                              SafetyDigits(*identity_, account, *c, c->pending_identity_key()));
    ALLIANCE_RETURN_IF_ERROR(ConfirmSafetyNumber(digits, typed));
    c->set_identity_key(c->pending_identity_key());
    c->clear_pending_identity_key();
    c->set_verified(false);
    c->clear_verified_identity_key();
    c->set_profile_sent_at_ms(0);
    // The old key's sessions end, on every device the old key vouched for; a session
    // quarantined for the new key becomes active.
    std::vector<uint32_t> devices = {1};
    for (const v1::DeviceEntry& d : c->device_list().devices()) {
      if (d.device_id() != 1) devices.push_back(d.device_id());
    }
    for (uint32_t device : devices) {
      StoredSessionSlots slots(txn, hex, device, rng_);
      ALLIANCE_RETURN_IF_ERROR(
          crypto::AcceptQuarantined(slots, crypto::AsBytes(c->identity_key())));
    }
    // The old key's device list says nothing about the new key's devices: the list the new key
    // signed is pinned at the next refresh, whatever its version.
    c->clear_device_list();
    c->clear_active_device_ids();
    return txn.Put(names::Contact(hex), *c);
  }));
  return RefreshContacts();
}

absl::Status ClientCore::SetReadReceipts(bool enabled) {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  std::vector<v1::ContactRecord> contacts;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AccountRecord> a,
                              txn.Get<v1::AccountRecord>(names::Account()));
    a->set_read_receipts(enabled);
    ALLIANCE_RETURN_IF_ERROR(txn.Put(names::Account(), *a));
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> index,
                              txn.Get<v1::IdList>(names::ContactIndex()));
    const v1::IdList index_list = index.value_or(v1::IdList());
    for (const std::string& id : index_list.ids()) {
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                                txn.Get<v1::ContactRecord>(names::Contact(ToHex(id))));
      if (!c.has_value()) continue;
      c->set_profile_sent_at_ms(0);  // Re-share the profile with the new setting.
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::Contact(ToHex(id)), *c));
    }
    return absl::OkStatus();
  }));
  return absl::OkStatus();
}

}  // namespace alliance::client

// Client: profile lifecycle, registration, contacts, verification, prekeys, administration.
// Messaging lives in client_messaging.cc.
#include <sodium.h>

#include <algorithm>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/envelope_opener.h"
#include "client/internal/client_core.h"
#include "client/store_names.h"
#include "crypto/record_io.h"
#include "crypto/safety_number.h"
#include "wire/signed_strings.h"

namespace alliance::client {
namespace {

constexpr uint32_t kOneTimeKeyTarget = 100;
constexpr uint32_t kOneTimeKeyLow = 20;
constexpr int64_t kSignedPreKeyRotation = 7 * 24 * 3600;
constexpr int64_t kSignedPreKeyKeep = 30 * 24 * 3600;

}  // namespace

const char* RoleName(v1::Role r) {
  switch (r) {
    case v1::ROLE_ADMIN:
      return "admin";
    case v1::ROLE_THERAPIST:
      return "therapist";
    case v1::ROLE_CLIENT:
      return "client";
    default:
      return "unknown";
  }
}

const char* DeliveryStateName(v1::DeliveryState s) {
  switch (s) {
    case v1::DELIVERY_STATE_QUEUED:
      return "queued";
    case v1::DELIVERY_STATE_SENT:
      return "sent";
    case v1::DELIVERY_STATE_DELIVERED:
      return "delivered";
    case v1::DELIVERY_STATE_READ:
      return "read";
    case v1::DELIVERY_STATE_RECEIVED:
      return "received";
    case v1::DELIVERY_STATE_FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

std::string ToHex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

std::string TruncateUtf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

absl::Status ConfirmSafetyNumber(const std::string& digits, const std::string& typed) {
  constexpr char kWhole[] =
      "type the whole 60-digit safety number (or paste the QR payload); a part is never "
      "enough: the first half may be your own";
  if (digits.size() != 60) return absl::InternalError("safety number is not 60 digits");
  const absl::string_view trimmed = absl::StripAsciiWhitespace(typed);
  if (absl::StartsWith(trimmed, "alliance-sn:")) {
    const std::string payload = crypto::SafetyNumberQrPayload(digits);
    // The length is public (it is fixed); the content is compared in constant time.
    if (trimmed.size() != payload.size()) return absl::InvalidArgumentError(kWhole);
    if (sodium_memcmp(trimmed.data(), payload.data(), payload.size()) != 0) {
      return absl::FailedPreconditionError(
          "that is not the safety number of this contact's current key; compare again");
    }
    return absl::OkStatus();
  }
  std::string t;
  for (char c : trimmed) {
    if (c >= '0' && c <= '9') {
      t.push_back(c);
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '-' && c != '.' &&
               c != ',') {
      return absl::InvalidArgumentError(kWhole);
    }
  }
  if (t.size() != digits.size()) return absl::InvalidArgumentError(kWhole);
  if (sodium_memcmp(t.data(), digits.data(), digits.size()) != 0) {
    return absl::FailedPreconditionError(
        "that is not the safety number of this contact's current key; compare again");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseInviteCode(const std::string& text) {
  std::string hex;
  for (char c : text) {
    if (c == '-' || c == ' ') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("invite code must be 32 hex digits");
    }
    hex.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 32) return absl::InvalidArgumentError("invite code must be 32 hex digits");
  return absl::HexStringToBytes(hex);
}

ClientCore::ClientCore(ClientOptions options, std::unique_ptr<LocalStore> store)
    : options_(std::move(options)), store_(std::move(store)) {
  if (!options_.clock) options_.clock = [] { return absl::Now(); };
}

ClientCore::~ClientCore() = default;

absl::Time ClientCore::Now() const { return options_.clock(); }

absl::StatusOr<std::unique_ptr<ClientCore>> ClientCore::Init(const ClientOptions& options,
                                                             crypto::ByteSpan passphrase) {
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<LocalStore> store,
                            LocalStore::Create(options.profile_dir, passphrase, options.store));
  auto client = std::unique_ptr<ClientCore>(new ClientCore(options, std::move(store)));
  ALLIANCE_ASSIGN_OR_RETURN(crypto::IdentityKeyPair id,
                            crypto::IdentityKeyPair::Generate(client->rng_));
  ALLIANCE_RETURN_IF_ERROR(client->store_->Run([&](LocalStore::Txn& txn) {
    v1::IdentityRecord rec;
    id.ToRecord(&rec);
    ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes bytes, crypto::SerializeAndWipe(&rec));
    return txn.PutBytes(names::Identity(), bytes.span());
  }));
  client->identity_.emplace(std::move(id));
  return client;
}

absl::StatusOr<std::unique_ptr<ClientCore>> ClientCore::Open(const ClientOptions& options,
                                                             crypto::ByteSpan passphrase) {
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<LocalStore> store,
                            LocalStore::Open(options.profile_dir, passphrase, options.store));
  auto client = std::unique_ptr<ClientCore>(new ClientCore(options, std::move(store)));
  ALLIANCE_RETURN_IF_ERROR(client->LoadIdentity());
  return client;
}

absl::Status ClientCore::LoadIdentity() {
  std::optional<v1::AccountRecord> account;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> bytes,
                              txn.GetBytes(names::Identity()));
    if (!bytes.has_value()) return absl::DataLossError("profile has no identity key");
    v1::IdentityRecord rec;
    if (!crypto::ParseRecord(bytes->span(), &rec).ok()) {
      return absl::DataLossError("local store record is damaged");
    }
    absl::StatusOr<crypto::IdentityKeyPair> id = crypto::IdentityKeyPair::FromRecord(rec);
    crypto::WipeMessage(&rec);
    if (!id.ok()) return absl::DataLossError("profile identity key is damaged");
    identity_.emplace(*std::move(id));
    ALLIANCE_ASSIGN_OR_RETURN(account, txn.Get<v1::AccountRecord>(names::Account()));
    return absl::OkStatus();
  }));
  if (account.has_value()) {
    if (options_.relay.ca_file.empty()) options_.relay.ca_file = account->relay_ca_file();
    ALLIANCE_ASSIGN_OR_RETURN(relay_, Connect(account->relay_address()));
    relay_->SetLogin(&*identity_, account->account_id(), account->device_id(), account->relay_id());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RelayConnection>> ClientCore::Connect(const std::string& address) {
  RelayOptions ro = options_.relay;
  if (ro.address.empty()) ro.address = address;
  if (ro.address.empty()) return absl::InvalidArgumentError("no relay address given (--relay)");
  return RelayConnection::Create(ro);
}

absl::StatusOr<v1::AccountRecord> ClientCore::RequireAccount() {
  std::optional<v1::AccountRecord> account;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(account, txn.Get<v1::AccountRecord>(names::Account()));
    return absl::OkStatus();
  }));
  if (!account.has_value() || relay_ == nullptr) {
    return absl::FailedPreconditionError("profile is not registered (run `alliance register`)");
  }
  return *account;
}

absl::StatusOr<AccountView> ClientCore::Account() {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord a, RequireAccount());
  return AccountView{ToHex(a.account_id()), a.role(), relay_->address(), a.display_name(),
                     a.read_receipts()};
}

absl::Status ClientCore::Register(const std::string& invite_code, const std::string& display_name) {
  if (invite_code.size() != 16) return absl::InvalidArgumentError("invite code must be 16 bytes");
  if (display_name.size() > 200) return absl::InvalidArgumentError("display name is too long");
  if (relay_ != nullptr) return absl::FailedPreconditionError("profile is already registered");
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<RelayConnection> relay, Connect(""));
  ALLIANCE_ASSIGN_OR_RETURN(v1::ChallengeResponse ch, relay->Challenge());
  const crypto::PublicKey& ik = identity_->public_key();
  const std::string proof_msg =
      wire::RegisterMessage(ch.relay_id(), invite_code,
                            std::string_view(reinterpret_cast<const char*>(ik.data()), ik.size()));
  crypto::Signature proof = identity_->Sign(crypto::AsBytes(proof_msg));
  v1::RegisterRequest req;
  req.set_invite_code(invite_code);
  req.set_identity_key(reinterpret_cast<const char*>(ik.data()), ik.size());
  req.set_proof(reinterpret_cast<const char*>(proof.data()), proof.size());
  ALLIANCE_ASSIGN_OR_RETURN(v1::RegisterResponse resp, relay->Register(req));

  v1::AccountRecord account;
  account.set_version(1);
  account.set_account_id(resp.account_id());
  account.set_device_id(resp.device_id());
  account.set_role(resp.role());
  account.set_relay_id(resp.relay_id());
  account.set_relay_address(relay->address());
  account.set_relay_ca_file(options_.relay.ca_file);
  account.set_display_name(display_name);
  account.set_next_one_time_prekey_id(1);
  ALLIANCE_RETURN_IF_ERROR(
      store_->Run([&](LocalStore::Txn& txn) { return txn.Put(names::Account(), account); }));
  relay->SetLogin(&*identity_, resp.account_id(), resp.device_id(), resp.relay_id());
  relay_ = std::move(relay);
  return MaintainPreKeys();
}

absl::StatusOr<std::vector<uint32_t>> ClientCore::PublishOneTimeKeys(uint32_t count) {
  // Store the secrets first: a published key we could not use would lose a message.
  v1::PublishPreKeysRequest req;
  std::vector<uint32_t> ids;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AccountRecord> account,
                              txn.Get<v1::AccountRecord>(names::Account()));
    if (!account.has_value()) return absl::FailedPreconditionError("profile is not registered");
    uint32_t next = std::max<uint32_t>(1, account->next_one_time_prekey_id());
    for (uint32_t i = 0; i < count; ++i, ++next) {
      crypto::OneTimePreKeyPair opk = crypto::OneTimePreKeyPair::Create(next, rng_);
      *req.add_one_time_prekeys() = opk.ToPublic();
      v1::PreKeyPairRecord rec;
      opk.ToRecord(&rec);
      ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes bytes, crypto::SerializeAndWipe(&rec));
      ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(names::OneTimePreKey(next), bytes.span()));
      ids.push_back(next);
    }
    account->set_next_one_time_prekey_id(next);
    return txn.Put(names::Account(), *account);
  }));
  ALLIANCE_RETURN_IF_ERROR(relay_->PublishPreKeys(req).status());
  return ids;
}

absl::Status ClientCore::MaintainPreKeys() {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  ALLIANCE_ASSIGN_OR_RETURN(v1::GetPreKeyStatusResponse status, relay_->GetPreKeyStatus());
  const int64_t now = absl::ToUnixSeconds(Now());
  const bool rotate =
      !status.has_signed_prekey() ||
      now - static_cast<int64_t>(status.signed_prekey_created_at()) >= kSignedPreKeyRotation;
  if (rotate) {
    std::optional<crypto::SignedPreKeyPair> made;
    ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
      // The id is allocated inside the transaction, so two processes sharing the profile never
      // make two keys with one id.
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AccountRecord> current_account,
                                txn.Get<v1::AccountRecord>(names::Account()));
      if (!current_account.has_value()) return absl::FailedPreconditionError("not registered");
      const uint32_t id = current_account->current_signed_prekey_id() + 1;
      made = crypto::SignedPreKeyPair::Create(*identity_, id, static_cast<uint64_t>(now), rng_);
      const crypto::SignedPreKeyPair& spk = *made;
      v1::PreKeyPairRecord rec;
      spk.ToRecord(&rec);
      ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes bytes, crypto::SerializeAndWipe(&rec));
      ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(names::SignedPreKey(id), bytes.span()));
      // Keep earlier signed prekeys for 30 days after they were replaced, for late messages.
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> ids,
                                txn.Get<v1::IdList>(names::SignedPreKeyIds()));
      v1::IdList kept;
      const v1::IdList ids_list = ids.value_or(v1::IdList());
      for (const std::string& raw : ids_list.ids()) {
        uint32_t old_id = 0;
        std::memcpy(&old_id, raw.data(), std::min<size_t>(4, raw.size()));
        ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> old,
                                  txn.GetBytes(names::SignedPreKey(old_id)));
        v1::PreKeyPairRecord old_rec;
        if (old.has_value() && crypto::ParseRecord(old->span(), &old_rec).ok() &&
            now - static_cast<int64_t>(old_rec.created_at()) <
                kSignedPreKeyKeep + kSignedPreKeyRotation) {
          *kept.add_ids() = raw;
        } else {
          txn.Delete(names::SignedPreKey(old_id));
        }
        crypto::WipeMessage(&old_rec);
      }
      kept.add_ids()->assign(reinterpret_cast<const char*>(&id), sizeof id);
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::SignedPreKeyIds(), kept));
      current_account->set_current_signed_prekey_id(id);
      return txn.Put(names::Account(), *current_account);
    }));
    v1::PublishPreKeysRequest req;
    *req.mutable_signed_prekey() = made->ToPublic();
    ALLIANCE_RETURN_IF_ERROR(relay_->PublishPreKeys(req).status());
  }
  if (status.one_time_prekey_count() < kOneTimeKeyLow) {
    ALLIANCE_RETURN_IF_ERROR(
        PublishOneTimeKeys(kOneTimeKeyTarget - status.one_time_prekey_count()).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::GetPreKeyStatusResponse> ClientCore::PreKeyStatus() {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  return relay_->GetPreKeyStatus();
}

absl::Status ClientCore::RefreshContacts() {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
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
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::Contact(hex), rec));
    }
    return txn.Put(names::ContactIndex(), ids);
  });
}

namespace {

// Verified means verified for the key pinned now: a verification never carries over to a key
// that replaced the one the user compared.
bool VerifiedForPinnedKey(const v1::ContactRecord& c) {
  return c.verified() && c.pending_identity_key().empty() &&
         c.verified_identity_key().size() == 32 && c.verified_identity_key() == c.identity_key();
}

ContactView ViewOf(const v1::ContactRecord& c) {
  ContactView v;
  v.id = ToHex(c.account_id());
  v.role = c.role();
  v.display_name = c.display_name();
  v.verified = VerifiedForPinnedKey(c);
  v.identity_changed = !c.pending_identity_key().empty();
  v.messages = c.history_count();
  v.unread = c.unread_count();
  return v;
}

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
  return store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
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
    // The old key's sessions end; a session quarantined for the new key becomes active.
    for (uint32_t device : {1u}) {
      txn.Delete(names::Session(hex, device));
      txn.Delete(names::PreviousSession(hex, device));
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::Session> q,
                                LoadSession(txn, names::QuarantinedSession(hex, device), rng_));
      if (q.has_value() && std::string(reinterpret_cast<const char*>(q->remote_identity().data()),
                                       32) == c->identity_key()) {
        ALLIANCE_RETURN_IF_ERROR(StoreSession(txn, names::Session(hex, device), *q));
      }
      txn.Delete(names::QuarantinedSession(hex, device));
    }
    return txn.Put(names::Contact(hex), *c);
  });
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

absl::StatusOr<InviteView> ClientCore::CreateInvite(v1::Role role) {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  v1::CreateInviteRequest req;
  req.set_role(role);
  ALLIANCE_ASSIGN_OR_RETURN(v1::CreateInviteResponse resp, relay_->CreateInvite(req));
  return InviteView{ToHex(resp.invite_code()), ToHex(resp.invite_id()), resp.role(),
                    absl::FromUnixSeconds(static_cast<int64_t>(resp.expires_at()))};
}

absl::StatusOr<std::vector<v1::Member>> ClientCore::Members() {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  std::vector<v1::Member> out;
  v1::ListMembersRequest req;
  req.set_page_size(500);
  for (int page = 0; page < 1000; ++page) {
    ALLIANCE_ASSIGN_OR_RETURN(v1::ListMembersResponse resp, relay_->ListMembers(req));
    for (const v1::Member& m : resp.members()) out.push_back(m);
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  return out;
}

absl::Status ClientCore::Deactivate(const std::string& account_id_hex) {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  if (account_id_hex.size() != 32 ||
      !std::all_of(account_id_hex.begin(), account_id_hex.end(),
                   [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); })) {
    return absl::InvalidArgumentError("account id must be 32 hex digits");
  }
  const std::string bytes = absl::HexStringToBytes(account_id_hex);
  v1::DeactivateAccountRequest req;
  req.set_account_id(bytes);
  return relay_->DeactivateAccount(req).status();
}

absl::StatusOr<std::vector<v1::AuditEntry>> ClientCore::Audit(uint64_t after, uint32_t limit,
                                                              bool security_only) {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  v1::ReadAuditRequest req;
  req.set_after_sequence(after);
  req.set_limit(limit);
  req.set_security_only(security_only);
  ALLIANCE_ASSIGN_OR_RETURN(v1::ReadAuditResponse resp, relay_->ReadAudit(req));
  return std::vector<v1::AuditEntry>(resp.entries().begin(), resp.entries().end());
}

uint64_t ClientCore::Subscribe(EventHandler handler) {
  std::lock_guard<std::mutex> lock(events_mu_);
  const uint64_t id = next_subscription_++;
  handlers_.emplace_back(id, std::move(handler));
  return id;
}

void ClientCore::Unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> lock(events_mu_);
  std::erase_if(handlers_, [id](const auto& h) { return h.first == id; });
}

void ClientCore::Emit(const ClientEvent& event) {
  std::vector<EventHandler> handlers;
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    for (const auto& h : handlers_) handlers.push_back(h.second);
  }
  for (const EventHandler& h : handlers) h(event);
}

}  // namespace alliance::client

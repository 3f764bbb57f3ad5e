#include "client/envelope_opener.h"

#include "base/status_macros.h"
#include "client/store_names.h"
#include "client/views.h"
#include "crypto/record_io.h"

namespace alliance::client {
namespace {

std::string KeyBytes(const crypto::PublicKey& k) {
  return std::string(reinterpret_cast<const char*>(k.data()), k.size());
}

// Reads a prekey pair record (SignedPreKeyPair or OneTimePreKeyPair) named `name`: nullopt when
// absent or unreadable as a key, the store's error otherwise.
template <typename KeyPair>
absl::StatusOr<std::optional<KeyPair>> LoadPreKey(LocalStore::Txn& txn, const std::string& name) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> bytes, txn.GetBytes(name));
  std::optional<KeyPair> out;
  if (!bytes.has_value()) return out;
  v1::PreKeyPairRecord rec;
  if (crypto::ParseRecord(bytes->span(), &rec).ok()) {
    absl::StatusOr<KeyPair> key = KeyPair::FromRecord(rec);
    if (key.ok()) out.emplace(*std::move(key));
  }
  crypto::WipeMessage(&rec);
  return out;
}

// Whether `key` (an identity key that is not the pinned one of contact `contact_hex`) is ours or
// the pinned or pending key of another contact. Scans the contacts; only reached when a prekey
// message's key is not the pinned one, which is rare.
absl::StatusOr<bool> KeyOfAnotherAccount(LocalStore::Txn& txn, const crypto::IdentityKeyPair& me,
                                         const crypto::PublicKey& key,
                                         const std::string& contact_hex) {
  if (key == me.public_key()) return true;  // Our own message, reflected back to us.
  const std::string bytes = KeyBytes(key);
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> index,
                            txn.Get<v1::IdList>(names::ContactIndex()));
  if (!index.has_value()) return false;
  for (const std::string& id : index->ids()) {
    const std::string hex = ToHex(id);
    if (hex == contact_hex) continue;
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> other,
                              txn.Get<v1::ContactRecord>(names::Contact(hex)));
    if (other.has_value() &&
        (other->identity_key() == bytes || other->pending_identity_key() == bytes)) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string StoredSessionSlots::Name(crypto::SessionSlot slot) const {
  switch (slot) {
    case crypto::SessionSlot::kActive:
      return names::Session(contact_hex_, device_);
    case crypto::SessionSlot::kPrevious:
      return names::PreviousSession(contact_hex_, device_);
    case crypto::SessionSlot::kQuarantined:
      return names::QuarantinedSession(contact_hex_, device_);
  }
  return names::QuarantinedSession(contact_hex_, device_);  // Unreachable.
}

absl::StatusOr<std::optional<crypto::Session>> StoredSessionSlots::Load(crypto::SessionSlot slot) {
  return LoadSession(txn_, Name(slot), rng_);
}

absl::Status StoredSessionSlots::Store(crypto::SessionSlot slot, const crypto::Session& session) {
  return StoreSession(txn_, Name(slot), session);
}

absl::Status StoredSessionSlots::Clear(crypto::SessionSlot slot) {
  txn_.Delete(Name(slot));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<crypto::PublicKey>> StoredSessionSlots::LoadUsedBaseKeys() {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> list,
                            txn_.Get<v1::IdList>(names::UsedBaseKeys(contact_hex_, device_)));
  std::vector<crypto::PublicKey> keys;
  if (!list.has_value()) return keys;
  keys.reserve(list->ids_size());
  for (const std::string& id : list->ids()) {
    absl::StatusOr<crypto::PublicKey> key = crypto::ParsePublicKey(crypto::AsBytes(id));
    if (!key.ok()) return absl::DataLossError("stored base keys are damaged");
    keys.push_back(*key);
  }
  return keys;
}

absl::Status StoredSessionSlots::StoreUsedBaseKeys(const std::vector<crypto::PublicKey>& keys) {
  v1::IdList list;
  for (const crypto::PublicKey& key : keys) *list.add_ids() = KeyBytes(key);
  return txn_.Put(names::UsedBaseKeys(contact_hex_, device_), list);
}

absl::StatusOr<std::optional<crypto::SignedPreKeyPair>> StoredSessionSlots::SignedPreKey(
    uint32_t id) {
  return LoadPreKey<crypto::SignedPreKeyPair>(txn_, names::SignedPreKey(id));
}

absl::StatusOr<std::optional<crypto::OneTimePreKeyPair>> StoredSessionSlots::OneTimePreKey(
    uint32_t id) {
  return LoadPreKey<crypto::OneTimePreKeyPair>(txn_, names::OneTimePreKey(id));
}

absl::Status StoredSessionSlots::ConsumeOneTimePreKey(uint32_t id) {
  txn_.Delete(names::OneTimePreKey(id));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<crypto::Session>> LoadSession(LocalStore::Txn& txn,
                                                           const std::string& name,
                                                           crypto::Random& rng) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> bytes, txn.GetBytes(name));
  if (!bytes.has_value()) return std::optional<crypto::Session>();
  v1::SessionRecord rec;
  absl::Status parsed = crypto::ParseRecord(bytes->span(), &rec);
  absl::StatusOr<crypto::Session> s =
      parsed.ok() ? crypto::Session::FromRecord(rec, rng) : absl::StatusOr<crypto::Session>(parsed);
  crypto::WipeMessage(&rec);
  if (!s.ok()) return absl::DataLossError("stored session is damaged");
  return std::optional<crypto::Session>(*std::move(s));
}

absl::Status StoreSession(LocalStore::Txn& txn, const std::string& name,
                          const crypto::Session& session) {
  v1::SessionRecord rec;
  session.ToRecord(&rec);
  ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes bytes, crypto::SerializeAndWipe(&rec));
  return txn.PutBytes(name, bytes.span());
}

absl::StatusOr<OpenedEnvelope> OpenEnvelope(LocalStore::Txn& txn,
                                            const crypto::IdentityKeyPair& identity,
                                            const v1::Envelope& envelope,
                                            const std::string& contact_hex,
                                            const std::string& pinned_key, int64_t now,
                                            crypto::Random& rng, std::vector<uint8_t>* plain) {
  crypto::MessageType type;
  switch (envelope.type()) {
    case v1::ENVELOPE_TYPE_MESSAGE:
      type = crypto::MessageType::kMessage;
      break;
    case v1::ENVELOPE_TYPE_PREKEY_MESSAGE:
      type = crypto::MessageType::kPreKey;
      break;
    default:
      return OpenedEnvelope();
  }
  if (type == crypto::MessageType::kPreKey) {
    absl::StatusOr<crypto::PreKeyMessage> pm =
        crypto::ParsePreKeyMessage(crypto::AsBytes(envelope.payload()));
    if (pm.ok() && KeyBytes(pm->initiator_identity) != pinned_key) {
      ALLIANCE_ASSIGN_OR_RETURN(
          bool elsewhere, KeyOfAnotherAccount(txn, identity, pm->initiator_identity, contact_hex));
      if (elsewhere) {
        OpenedEnvelope misaddressed;
        misaddressed.misaddressed = true;
        return misaddressed;
      }
    }
  }
  StoredSessionSlots slots(txn, contact_hex, envelope.sender().device_id(), rng);
  ALLIANCE_ASSIGN_OR_RETURN(
      crypto::OpenedMessage opened,
      crypto::OpenWithSessions(slots, identity, type, crypto::AsBytes(envelope.payload()),
                               crypto::AsBytes(pinned_key), now, rng, plain));
  OpenedEnvelope result;
  result.ok = opened.ok;
  result.replay = opened.replay;
  result.identity_unverified = opened.identity_unverified;
  if (opened.ok) result.remote_identity = KeyBytes(opened.remote_identity);
  result.missing = opened.missing;
  return result;
}

}  // namespace alliance::client

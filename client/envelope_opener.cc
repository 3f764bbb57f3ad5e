#include "client/envelope_opener.h"

#include <cstring>

#include "base/status_macros.h"
#include "client/store_names.h"
#include "crypto/record_io.h"

namespace alliance::client {
namespace {

std::string KeyBytes(const crypto::PublicKey& k) {
  return std::string(reinterpret_cast<const char*>(k.data()), k.size());
}

bool Less(const crypto::PublicKey& a, const crypto::PublicKey& b) {
  return std::memcmp(a.data(), b.data(), a.size()) < 0;
}

// Builds a responder session from a prekey message with our stored prekeys; the one-time prekey
// it used is deleted in the same transaction. nullopt when the keys are gone or it fails.
absl::StatusOr<std::optional<crypto::Session>> Respond(LocalStore::Txn& txn,
                                                       const crypto::IdentityKeyPair& identity,
                                                       const crypto::PreKeyMessage& pm, int64_t now,
                                                       crypto::Random& rng,
                                                       std::vector<uint8_t>* plain) {
  std::optional<crypto::Session> none;
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> spk_bytes,
                            txn.GetBytes(names::SignedPreKey(pm.signed_prekey_id)));
  std::optional<crypto::SecretBytes> opk_bytes;
  if (pm.one_time_prekey_id.has_value()) {
    ALLIANCE_ASSIGN_OR_RETURN(opk_bytes,
                              txn.GetBytes(names::OneTimePreKey(*pm.one_time_prekey_id)));
    if (!opk_bytes.has_value()) return none;  // Already used (or never ours).
  }
  if (!spk_bytes.has_value()) return none;
  v1::PreKeyPairRecord spk_rec, opk_rec;
  std::optional<crypto::Session> out;
  if (crypto::ParseRecord(spk_bytes->span(), &spk_rec).ok() &&
      (!opk_bytes.has_value() || crypto::ParseRecord(opk_bytes->span(), &opk_rec).ok())) {
    absl::StatusOr<crypto::SignedPreKeyPair> spk = crypto::SignedPreKeyPair::FromRecord(spk_rec);
    absl::StatusOr<crypto::OneTimePreKeyPair> opk = crypto::OneTimePreKeyPair::FromRecord(opk_rec);
    if (spk.ok() && (!opk_bytes.has_value() || opk.ok())) {
      absl::StatusOr<crypto::Session> fresh = crypto::Session::Respond(
          identity, spk->key, opk_bytes.has_value() ? &opk->key : nullptr, pm, now, plain, rng);
      if (fresh.ok()) {
        out.emplace(*std::move(fresh));
        if (pm.one_time_prekey_id.has_value()) {
          txn.Delete(names::OneTimePreKey(*pm.one_time_prekey_id));
        }
      }
    }
  }
  crypto::WipeMessage(&spk_rec);
  crypto::WipeMessage(&opk_rec);
  return out;
}

}  // namespace

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
  const uint32_t device = envelope.sender().device_id();
  const std::string active_name = names::Session(contact_hex, device);
  const std::string prev_name = names::PreviousSession(contact_hex, device);
  const std::string quarantine_name = names::QuarantinedSession(contact_hex, device);
  const crypto::ByteSpan payload = crypto::AsBytes(envelope.payload());
  OpenedEnvelope result;

  // Tries a stored session; on success stores it back under the same name.
  auto try_stored = [&](const std::string& name, crypto::MessageType type,
                        const crypto::PublicKey* base) -> absl::StatusOr<bool> {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::Session> s, LoadSession(txn, name, rng));
    if (!s.has_value() || (base != nullptr && s->base_key() != *base)) return false;
    if (!s->Decrypt(type, payload, now, plain).ok()) return false;
    ALLIANCE_RETURN_IF_ERROR(StoreSession(txn, name, *s));
    result.ok = true;
    result.remote_identity = KeyBytes(s->remote_identity());
    result.identity_unverified = result.remote_identity != pinned_key;
    return true;
  };

  if (envelope.type() == v1::ENVELOPE_TYPE_MESSAGE) {
    for (const std::string* name : {&active_name, &prev_name, &quarantine_name}) {
      ALLIANCE_ASSIGN_OR_RETURN(bool opened,
                                try_stored(*name, crypto::MessageType::kMessage, nullptr));
      if (opened) return result;
    }
    return result;
  }
  if (envelope.type() != v1::ENVELOPE_TYPE_PREKEY_MESSAGE) return result;
  absl::StatusOr<crypto::PreKeyMessage> pm = crypto::ParsePreKeyMessage(payload);
  if (!pm.ok()) return result;
  // Decided by the base key before anything changes. A session built from this base key is the
  // only one that may open the message (a later prekey message of the same session, sent before
  // the initiator heard back); if it refuses, the message is a replay.
  bool same_base = false;
  for (const std::string* name : {&active_name, &prev_name, &quarantine_name}) {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::Session> s, LoadSession(txn, *name, rng));
    if (!s.has_value() || s->base_key() != pm->ephemeral_key) continue;
    same_base = true;
    ALLIANCE_ASSIGN_OR_RETURN(bool opened,
                              try_stored(*name, crypto::MessageType::kPreKey, &pm->ephemeral_key));
    if (opened) return result;
  }
  const std::string used_name = names::UsedBaseKeys(contact_hex, device);
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> used, txn.Get<v1::IdList>(used_name));
  v1::IdList used_keys = used.value_or(v1::IdList());
  const std::string base = KeyBytes(pm->ephemeral_key);
  for (const std::string& k : used_keys.ids()) same_base |= k == base;
  if (same_base) {
    result.replay = true;  // Its session was built before: never build (or activate) it again.
    return result;
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::Session> fresh,
                            Respond(txn, identity, *pm, now, rng, plain));
  if (!fresh.has_value()) return result;
  // Remember the base key (bounded, oldest evicted), in the same transaction as the session.
  *used_keys.add_ids() = base;
  if (used_keys.ids_size() > kMaxUsedBaseKeys) {
    used_keys.mutable_ids()->DeleteSubrange(0, used_keys.ids_size() - kMaxUsedBaseKeys);
  }
  ALLIANCE_RETURN_IF_ERROR(txn.Put(used_name, used_keys));
  result.ok = true;
  result.remote_identity = KeyBytes(fresh->remote_identity());
  if (result.remote_identity != pinned_key) {
    // Never let an unpinned identity take over the conversation: quarantine it.
    result.identity_unverified = true;
    ALLIANCE_RETURN_IF_ERROR(StoreSession(txn, quarantine_name, *fresh));
    return result;
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::Session> active,
                            LoadSession(txn, active_name, rng));
  if (active.has_value() && active->is_initiator() && active->awaiting_reply() &&
      Less(active->base_key(), fresh->base_key())) {
    // Both sides started a session at once: both keep the lower base key active.
    ALLIANCE_RETURN_IF_ERROR(StoreSession(txn, prev_name, *fresh));
    return result;
  }
  if (active.has_value()) ALLIANCE_RETURN_IF_ERROR(StoreSession(txn, prev_name, *active));
  ALLIANCE_RETURN_IF_ERROR(StoreSession(txn, active_name, *fresh));
  return result;
}

}  // namespace alliance::client

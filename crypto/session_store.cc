#include "crypto/session_store.h"

#include <algorithm>
#include <cstring>

#include "base/status_macros.h"

namespace alliance::crypto {
namespace {

constexpr SessionSlot kSlotOrder[] = {SessionSlot::kActive, SessionSlot::kPrevious,
                                      SessionSlot::kQuarantined};

bool SameKey(const PublicKey& key, ByteSpan bytes) {
  return bytes.size() == key.size() && std::memcmp(key.data(), bytes.data(), key.size()) == 0;
}

bool Less(const PublicKey& a, const PublicKey& b) {
  return std::memcmp(a.data(), b.data(), a.size()) < 0;
}

OpenedMessage Opened(const Session& session, ByteSpan pinned_identity) {
  OpenedMessage result;
  result.ok = true;
  result.remote_identity = session.remote_identity();
  result.identity_unverified = !SameKey(result.remote_identity, pinned_identity);
  result.missing = session.missing_messages();
  return result;
}

// Builds a responder session from a prekey message with our prekeys, consuming the one-time
// prekey it used. nullopt when the keys are gone or the message does not decrypt.
absl::StatusOr<std::optional<Session>> Respond(SessionSlots& slots, const IdentityKeyPair& ours,
                                               const PreKeyMessage& pm, int64_t now, Random& rng,
                                               std::vector<uint8_t>* plaintext) {
  std::optional<Session> none;
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<SignedPreKeyPair> spk,
                            slots.SignedPreKey(pm.signed_prekey_id));
  std::optional<OneTimePreKeyPair> opk;
  if (pm.one_time_prekey_id.has_value()) {
    ALLIANCE_ASSIGN_OR_RETURN(opk, slots.OneTimePreKey(*pm.one_time_prekey_id));
    if (!opk.has_value()) return none;  // Already used (or never ours).
  }
  if (!spk.has_value()) return none;
  absl::StatusOr<Session> fresh = Session::Respond(
      ours, spk->key, opk.has_value() ? &opk->key : nullptr, pm, now, plaintext, rng);
  if (!fresh.ok()) return none;
  if (pm.one_time_prekey_id.has_value()) {
    ALLIANCE_RETURN_IF_ERROR(slots.ConsumeOneTimePreKey(*pm.one_time_prekey_id));
  }
  return std::optional<Session>(*std::move(fresh));
}

absl::StatusOr<OpenedMessage> OpenMessage(SessionSlots& slots, ByteSpan payload,
                                          ByteSpan pinned_identity, int64_t now,
                                          std::vector<uint8_t>* plaintext) {
  for (SessionSlot slot : kSlotOrder) {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<Session> s, slots.Load(slot));
    if (!s.has_value() || !s->Decrypt(MessageType::kMessage, payload, now, plaintext).ok()) {
      continue;
    }
    ALLIANCE_RETURN_IF_ERROR(slots.Store(slot, *s));
    return Opened(*s, pinned_identity);
  }
  return OpenedMessage();
}

absl::StatusOr<OpenedMessage> OpenPreKeyMessage(SessionSlots& slots, const IdentityKeyPair& ours,
                                                ByteSpan payload, ByteSpan pinned_identity,
                                                int64_t now, Random& rng,
                                                std::vector<uint8_t>* plaintext) {
  OpenedMessage result;
  absl::StatusOr<PreKeyMessage> pm = ParsePreKeyMessage(payload);
  if (!pm.ok()) return result;
  // Decided by the base key before anything changes. A session built from this base key is the
  // only one that may open the message (a later prekey message of the same session, sent before
  // the initiator heard back); if it refuses, the message is a replay.
  bool same_base = false;
  for (SessionSlot slot : kSlotOrder) {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<Session> s, slots.Load(slot));
    if (!s.has_value() || s->base_key() != pm->ephemeral_key) continue;
    same_base = true;
    if (!s->Decrypt(MessageType::kPreKey, payload, now, plaintext).ok()) continue;
    ALLIANCE_RETURN_IF_ERROR(slots.Store(slot, *s));
    return Opened(*s, pinned_identity);
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<PublicKey> used, slots.LoadUsedBaseKeys());
  same_base |= std::find(used.begin(), used.end(), pm->ephemeral_key) != used.end();
  if (same_base) {
    result.replay = true;  // Its session was built before: never build (or activate) it again.
    return result;
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<Session> fresh,
                            Respond(slots, ours, *pm, now, rng, plaintext));
  if (!fresh.has_value()) return result;
  // Remember the base key (bounded, oldest evicted), in the same transaction as the session.
  used.push_back(pm->ephemeral_key);
  if (used.size() > kMaxUsedBaseKeys) used.erase(used.begin(), used.end() - kMaxUsedBaseKeys);
  ALLIANCE_RETURN_IF_ERROR(slots.StoreUsedBaseKeys(used));
  result = Opened(*fresh, pinned_identity);
  if (result.identity_unverified) {
    // Never let an unpinned identity take over the conversation: quarantine it.
    ALLIANCE_RETURN_IF_ERROR(slots.Store(SessionSlot::kQuarantined, *fresh));
    return result;
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<Session> active, slots.Load(SessionSlot::kActive));
  if (active.has_value() && active->is_initiator() && active->awaiting_reply() &&
      Less(active->base_key(), fresh->base_key())) {
    // Both sides started a session at once: both keep the lower base key active.
    ALLIANCE_RETURN_IF_ERROR(slots.Store(SessionSlot::kPrevious, *fresh));
    return result;
  }
  if (active.has_value()) ALLIANCE_RETURN_IF_ERROR(slots.Store(SessionSlot::kPrevious, *active));
  ALLIANCE_RETURN_IF_ERROR(slots.Store(SessionSlot::kActive, *fresh));
  return result;
}

}  // namespace

absl::StatusOr<OpenedMessage> OpenWithSessions(SessionSlots& slots, const IdentityKeyPair& ours,
                                               MessageType type, ByteSpan payload,
                                               ByteSpan pinned_identity, int64_t now_unix,
                                               Random& rng, std::vector<uint8_t>* plaintext) {
  switch (type) {
    case MessageType::kMessage:
      return OpenMessage(slots, payload, pinned_identity, now_unix, plaintext);
    case MessageType::kPreKey:
      return OpenPreKeyMessage(slots, ours, payload, pinned_identity, now_unix, rng, plaintext);
  }
  return OpenedMessage();
}

absl::Status AcceptQuarantined(SessionSlots& slots, ByteSpan new_identity) {
  ALLIANCE_RETURN_IF_ERROR(slots.Clear(SessionSlot::kActive));
  ALLIANCE_RETURN_IF_ERROR(slots.Clear(SessionSlot::kPrevious));
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<Session> q, slots.Load(SessionSlot::kQuarantined));
  if (q.has_value() && SameKey(q->remote_identity(), new_identity)) {
    ALLIANCE_RETURN_IF_ERROR(slots.Store(SessionSlot::kActive, *q));
  }
  return slots.Clear(SessionSlot::kQuarantined);
}

}  // namespace alliance::crypto

// Which session of a peer device opens a received message, and which session a new prekey
// message may create or replace: the protocol's rules, over storage the caller provides.
//
// Three session slots per peer device (SessionSlot):
//   kActive       its remote identity is always the pinned key; sending uses only this one;
//   kPrevious     the session it replaced, still tried for late messages (e.g. both sides
//                 started a session at once);
//   kQuarantined  a session whose remote identity is NOT the pinned key: its messages open but
//                 are reported identity_unverified, and only AcceptQuarantined promotes it.
// When both sides started a session at once, both keep the one with the lower base key active
// and the other as previous, so they converge on one session.
//
// Replays: a prekey message is matched to sessions by its X3DH base key (the initiator's
// ephemeral key) before any state changes. When a stored session has that base key, only that
// session may open it; when none does but the base key already built a session (remembered in
// a bounded per-peer-device list, kMaxUsedBaseKeys, oldest evicted), or a stored session with
// that base key refuses it, the message is a replay: {replay = true}, nothing changed. A
// replayed first message therefore never rebuilds or re-activates a session, whether or not
// it used a one-time prekey.
//
//   MySlots slots(...);  // A SessionSlots over one peer device's records, in one transaction.
//   std::vector<uint8_t> text;
//   ALLIANCE_ASSIGN_OR_RETURN(OpenedMessage opened,
//                             OpenWithSessions(slots, our_identity, type, payload, pinned_key,
//                                              now_unix, rng, &text));
//   if (opened.replay) ... drop it ...; else if (!opened.ok) ... undecryptable ...
//
// Thread safety: none; the functions use only their arguments. The caller runs each call in
// one storage transaction and discards its writes when the call returns an error.
#ifndef ALLIANCE_CRYPTO_SESSION_STORE_H_
#define ALLIANCE_CRYPTO_SESSION_STORE_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/session.h"

namespace alliance::crypto {

// Base keys remembered per peer device. Default: 256.
inline constexpr size_t kMaxUsedBaseKeys = 256;

enum class SessionSlot : uint8_t { kActive, kPrevious, kQuarantined };

// The stored state of one peer device plus our own prekeys, as the functions below need it.
// Implementations read and write one storage transaction; every method returns the storage's
// error (passed through unchanged by the functions below) and nothing else unless stated.
class SessionSlots {
 public:
  virtual ~SessionSlots() = default;

  // The session in `slot`; nullopt when the slot is empty, DATA_LOSS when its record is
  // damaged. The session may borrow the implementation's Random, which must outlive it.
  [[nodiscard]] virtual absl::StatusOr<std::optional<Session>> Load(SessionSlot slot) = 0;
  // Replaces the session in `slot`.
  [[nodiscard]] virtual absl::Status Store(SessionSlot slot, const Session& session) = 0;
  // Empties `slot` (OK when already empty).
  [[nodiscard]] virtual absl::Status Clear(SessionSlot slot) = 0;

  // The base keys that built a responder session with this peer device, oldest first (empty
  // when none). DATA_LOSS when the list is damaged.
  [[nodiscard]] virtual absl::StatusOr<std::vector<PublicKey>> LoadUsedBaseKeys() = 0;
  // Replaces that list.
  [[nodiscard]] virtual absl::Status StoreUsedBaseKeys(const std::vector<PublicKey>& keys) = 0;

  // Our signed prekey / one-time prekey with this id; nullopt when we have none (never had it,
  // deleted, already used) or its record cannot be read back as a key.
  [[nodiscard]] virtual absl::StatusOr<std::optional<SignedPreKeyPair>> SignedPreKey(
      uint32_t id) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::optional<OneTimePreKeyPair>> OneTimePreKey(
      uint32_t id) = 0;
  // Deletes the one-time prekey `id` so it never builds another session (OK when absent).
  [[nodiscard]] virtual absl::Status ConsumeOneTimePreKey(uint32_t id) = 0;
};

struct OpenedMessage {
  bool ok = false;                   // Decrypted and authenticated.
  bool replay = false;               // A prekey message of a session already built (not ok).
  bool identity_unverified = false;  // Under a key other than the pinned one (when ok).
  PublicKey remote_identity{};       // The sender's Ed25519 identity key (when ok).
  // Messages the sender sent on this session before this one that have not arrived: the
  // ratchet counters skipped them (when ok). A relay that withholds a message cannot hide it.
  size_t missing = 0;
};

// Decrypts `payload` (a message of `type` from the peer device behind `slots`, whose pinned
// identity key is `pinned_identity` — any other bytes, e.g. empty, match no key) into
// `plaintext`, updating the sessions and prekeys in `slots` as described above:
//   kMessage: the active, previous, then quarantined session is tried; the first that decrypts
//             is stored back.
//   kPreKey:  a session with the message's base key opens it (else replay); an unseen base key
//             builds a responder session from our prekeys (consuming the one-time prekey),
//             remembers the base key, and stores the session as quarantined (unpinned identity),
//             as previous (we are waiting for the peer to answer our own session, whose base key
//             is lower), or as active (the active one moving to previous).
// A message that cannot be opened returns {ok = false} with `slots` unchanged, and `replay` set
// for a replayed prekey message. `rng` is borrowed for the call. Errors are those of `slots`.
[[nodiscard]] absl::StatusOr<OpenedMessage> OpenWithSessions(
    SessionSlots& slots, const IdentityKeyPair& ours, MessageType type, ByteSpan payload,
    ByteSpan pinned_identity, int64_t now_unix, Random& rng, std::vector<uint8_t>* plaintext);

// After the user accepted `new_identity` as the peer's key: the active and previous sessions
// (under the old key) end, and the quarantined session becomes active if it is under
// `new_identity`; the quarantine slot is emptied either way. Errors are those of `slots`.
[[nodiscard]] absl::Status AcceptQuarantined(SessionSlots& slots, ByteSpan new_identity);

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_SESSION_STORE_H_

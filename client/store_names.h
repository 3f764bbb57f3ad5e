// Logical record names in the client's local store. The store hashes them (keyed BLAKE2b), so
// they never reach the disk; they only have to be unique.
#ifndef ALLIANCE_CLIENT_STORE_NAMES_H_
#define ALLIANCE_CLIENT_STORE_NAMES_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace alliance::client::names {

inline std::string Identity() { return "identity"; }
inline std::string Account() { return "account"; }
// This device's own Ed25519 key (DESIGN §4, "Several devices"); never leaves the device.
inline std::string DeviceKey() { return "device-key"; }
inline std::string SignedPreKey(uint32_t id) { return absl::StrCat("spk/", id); }
inline std::string SignedPreKeyIds() { return "spk-ids"; }
inline std::string OneTimePreKey(uint32_t id) { return absl::StrCat("opk/", id); }
inline std::string ContactIndex() { return "contacts"; }
inline std::string Contact(const std::string& id_hex) { return "contact/" + id_hex; }
inline std::string Session(const std::string& id_hex, uint32_t device) {
  return absl::StrCat("session/", id_hex, "/", device);
}
inline std::string PreviousSession(const std::string& id_hex, uint32_t device) {
  return absl::StrCat("session-prev/", id_hex, "/", device);
}
inline std::string QuarantinedSession(const std::string& id_hex, uint32_t device) {
  return absl::StrCat("session-new/", id_hex, "/", device);
}
// X3DH base keys that built a responder session with this peer device (v1::IdList, oldest
// first, bounded): a prekey message with one of them is a replay and never builds another.
inline std::string UsedBaseKeys(const std::string& id_hex, uint32_t device) {
  return absl::StrCat("base-keys/", id_hex, "/", device);
}
inline std::string History(const std::string& id_hex, uint64_t index) {
  return absl::StrCat("history/", id_hex, "/", index);
}
inline std::string Seen(const std::string& sender_hex, const std::string& message_id_hex) {
  return absl::StrCat("seen/", sender_hex, "/", message_id_hex);
}
inline std::string OutboxIndex() { return "outbox"; }
inline std::string Outbox(const std::string& message_id_hex) { return "outbox/" + message_id_hex; }
inline std::string MessageRef(const std::string& message_id_hex) { return "ref/" + message_id_hex; }

}  // namespace alliance::client::names

#endif  // ALLIANCE_CLIENT_STORE_NAMES_H_

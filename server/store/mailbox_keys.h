// The mailbox's key layouts (server/infra/db.h lists them all), shared by mailbox.cc and
// mailbox_retention.cc. Internal to server/store/.
#ifndef ALLIANCE_SERVER_STORE_MAILBOX_KEYS_H_
#define ALLIANCE_SERVER_STORE_MAILBOX_KEYS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace alliance::server::mailbox_internal {

inline constexpr size_t kMailboxKeySize = 20;
inline constexpr size_t kEnvelopeKeySize = 28;
// mailbox key || 8 x 0xff || sender account (16): that sender's pending envelopes in this
// mailbox, a MailboxCounter (only depth used). Sorts after every envelope key.
inline constexpr size_t kSenderCounterKeySize = kMailboxKeySize + 8 + 16;
// Dedup CF time index: 'x' || server time ms u64 || sender (16) || message id (16) -> "".
inline constexpr size_t kDedupIndexKeySize = 1 + 8 + 16 + 16;

inline std::string EnvelopeKey(std::string_view mailbox_key, uint64_t sequence) {
  std::string key(mailbox_key);
  base::AppendU64BE(&key, sequence);
  return key;
}

// Sorts after every key of `mailbox_key` (envelopes and sender counters) and before the next
// mailbox.
inline std::string MailboxEnd(std::string_view mailbox_key) {
  std::string key(mailbox_key);
  key.append(kSenderCounterKeySize - kMailboxKeySize + 1, '\xff');
  return key;
}

inline std::string SenderCounterKey(std::string_view mailbox_key, std::string_view sender) {
  std::string key(mailbox_key);
  key.append(8, '\xff');
  key.append(sender);
  return key;
}

inline std::string DedupKey(std::string_view sender, std::string_view message_id) {
  return base::Concat({sender, message_id});
}

inline std::string DedupIndexKey(uint64_t time_ms, std::string_view sender,
                                 std::string_view message_id) {
  std::string key = "x";
  base::AppendU64BE(&key, time_ms);
  key.append(sender);
  key.append(message_id);
  return key;
}

}  // namespace alliance::server::mailbox_internal

#endif  // ALLIANCE_SERVER_STORE_MAILBOX_KEYS_H_

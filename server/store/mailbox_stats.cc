#include "server/store/mailbox_stats.h"

#include <memory>
#include <string>

#include "alliance/v1/relay_service.pb.h"
#include "base/status_macros.h"
#include "server/store/mailbox_keys.h"

namespace alliance::server {

using mailbox_internal::EnvelopeKey;
using mailbox_internal::kEnvelopeKeySize;
using mailbox_internal::kMailboxKeySize;
using mailbox_internal::MailboxEnd;

absl::StatusOr<std::optional<absl::Time>> OldestPendingEnvelopeTime(RelayDb* db) {
  std::optional<uint64_t> oldest_ms;
  std::unique_ptr<KvIterator> it = db->NewIterator(Cf::kMailbox);
  it->SeekToFirst();
  while (it->Valid()) {
    if (it->key().size() < kMailboxKeySize) {  // not a mailbox key: step over it
      it->Next();
      continue;
    }
    const std::string mailbox_key = it->key().ToString().substr(0, kMailboxKeySize);
    // The mailbox's first envelope is its oldest; its counter key sorts before it and its
    // sender counters after every envelope.
    it->Seek(EnvelopeKey(mailbox_key, 0));
    if (it->Valid() && it->key().size() == kEnvelopeKeySize &&
        it->key().starts_with(mailbox_key)) {
      v1::Envelope envelope;
      if (envelope.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) &&
          (!oldest_ms || envelope.server_time_ms() < *oldest_ms)) {
        oldest_ms = envelope.server_time_ms();
      }
    }
    it->Seek(MailboxEnd(mailbox_key));  // the next mailbox
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  if (!oldest_ms) return std::nullopt;
  return absl::FromUnixMillis(static_cast<int64_t>(*oldest_ms));
}

}  // namespace alliance::server

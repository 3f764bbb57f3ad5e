// Mailbox retention and erasure: the sweep of expired envelopes and dedup records, and the
// erasure of a closed account's mailboxes and sent-message records (mailbox.h).
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"
#include "server/store/mailbox.h"
#include "server/store/mailbox_keys.h"

namespace alliance::server {

using namespace mailbox_internal;  // NOLINT(google-build-using-namespace): the mailbox's keys

absl::StatusOr<uint64_t> Mailbox::ExpireMailbox(const std::string& mailbox_key,
                                                uint64_t cutoff_ms) {
  std::shared_ptr<State> state = GetState(mailbox_key);
  base::MutexLock lock(&state->mu);
  std::string end = EnvelopeKey(mailbox_key, ~uint64_t{0});  // envelopes only
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kMailbox, end);
  KvBatch batch;
  int64_t in_batch = 0;
  uint64_t expired = 0;
  absl::flat_hash_map<std::string, int64_t> per_sender;
  // Writes the batch with its counter updates; keeps batches bounded.
  auto flush = [&]() -> absl::Status {
    state->mu.AssertHeld();  // held by this function; tells the analysis about the lambda
    if (in_batch == 0) return absl::OkStatus();
    batch.Merge(Cf::kMailbox, mailbox_key, MailboxCounter{.depth = -in_batch}.Encode());
    for (const auto& [sender, n] : per_sender) {
      batch.Merge(Cf::kMailbox, SenderCounterKey(mailbox_key, sender),
                  MailboxCounter{.depth = -n}.Encode());
    }
    absl::Status written = db_->Write(&batch, /*sync=*/false);
    if (IsWriteConflict(written)) {
      // An envelope was acked through another relay process meanwhile: leave this part to
      // the next sweep rather than count it twice.
      expired -= static_cast<uint64_t>(in_batch);
      batch.Clear();
      per_sender.clear();
      in_batch = 0;
      return absl::OkStatus();
    }
    ALLIANCE_RETURN_IF_ERROR(written);
    if (state->loaded) state->depth -= in_batch;
    for (const auto& [sender, n] : per_sender) ReleaseSenderLocked(state.get(), sender, n);
    batch.Clear();
    per_sender.clear();
    in_batch = 0;
    return absl::OkStatus();
  };
  for (it->Seek(EnvelopeKey(mailbox_key, 0)); it->Valid(); it->Next()) {
    if (it->key().size() != kEnvelopeKeySize) continue;
    v1::Envelope envelope;
    if (envelope.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      if (envelope.server_time_ms() >= cutoff_ms) break;  // the rest is younger
      batch.Delete(Cf::kDedup,
                   DedupKey(envelope.sender().account_id(), envelope.message_id()));
      ++per_sender[envelope.sender().account_id()];
    }
    if (db_->shared()) batch.Expect(Cf::kMailbox, it->key(), it->value().ToString());
    batch.Delete(Cf::kMailbox, it->key());
    ++in_batch;
    ++expired;
    if (in_batch == 1000) ALLIANCE_RETURN_IF_ERROR(flush());
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  ALLIANCE_RETURN_IF_ERROR(flush());
  return expired;
}

absl::StatusOr<uint64_t> Mailbox::SweepDedup(uint64_t cutoff_ms) {
  KvBatch batch;
  uint64_t removed = 0;
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kDedup);
  for (it->Seek("x"); it->Valid() && it->key().starts_with("x"); it->Next()) {
    if (it->key().size() != kDedupIndexKeySize) continue;  // a dedup key that begins with 'x'
    if (base::ReadU64BE(it->key().data() + 1) >= cutoff_ms)
      break;  // time order: the rest is younger
    batch.Delete(Cf::kDedup, it->key());
    batch.Delete(Cf::kDedup, it->key().ToStringView().substr(9));
    if (++removed % 1000 == 0) {
      ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/false));
      batch.Clear();
    }
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  if (batch.Count() > 0) ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/false));
  return removed;
}

absl::Status Mailbox::AddEraseSent(std::string_view account_id, KvBatch* batch) {
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kDedup);
  std::string_view prefix(account_id.data(), account_id.size());
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() == 2 * kAccountIdSize) batch->Delete(Cf::kDedup, it->key());
  }
  return it->status();
}

absl::StatusOr<uint64_t> Mailbox::SweepExpired() {
  absl::Time cutoff = clock_->Now() - limits_.retention;
  uint64_t cutoff_ms = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(cutoff)));
  uint64_t total = 0;
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kMailbox);
  it->SeekToFirst();
  while (it->Valid()) {
    std::string mailbox_key = it->key().ToString().substr(0, kMailboxKeySize);
    if (mailbox_key.size() == kMailboxKeySize) {
      ALLIANCE_ASSIGN_OR_RETURN(uint64_t n, ExpireMailbox(mailbox_key, cutoff_ms));
      total += n;
    }
    it->Seek(MailboxEnd(mailbox_key));  // next mailbox
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  metrics_->expirations.Increment(total);
  ALLIANCE_RETURN_IF_ERROR(SweepDedup(cutoff_ms).status());
  return total;
}

absl::Status Mailbox::CloseAndErase(std::string_view account_id,
                                    absl::Span<const uint32_t> device_ids, absl::Status why,
                                    KvBatch* batch) {
  for (uint32_t d : device_ids) {
    v1::Address address;
    address.set_account_id(std::string(account_id));
    address.set_device_id(d);
    std::string mailbox_key = MailboxKey(address);
    std::shared_ptr<State> state = GetState(mailbox_key);
    std::shared_ptr<Subscription> subscriber;
    {
      base::MutexLock lock(&state->mu);
      // Only `closed` (and the stream): should the batch not be written, Reopen undoes it.
      state->closed = true;
      state->live.clear();
      state->live_bytes = 0;
      subscriber = std::move(state->subscriber);
    }
    if (subscriber != nullptr) subscriber->OnClosed(why);

    std::string end = MailboxEnd(mailbox_key);
    std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kMailbox, end);
    for (it->Seek(EnvelopeKey(mailbox_key, 0)); it->Valid(); it->Next()) {
      v1::Envelope envelope;
      if (envelope.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        batch->Delete(Cf::kDedup,
                      DedupKey(envelope.sender().account_id(), envelope.message_id()));
      }
    }
    ALLIANCE_RETURN_IF_ERROR(it->status());
    // Serialized with every send to the mailbox, whatever process it goes through (each
    // expects the counter): a send that committed first is deleted here, and one that comes
    // after finds the closed counter and stores nothing.
    batch->Lock(Cf::kMailbox, mailbox_key);
    batch->DeleteRange(Cf::kMailbox, mailbox_key, end);
    batch->Put(Cf::kMailbox, mailbox_key,
               MailboxCounter{.max_sequence = MailboxCounter::kClosedSequence}.Encode());
    // Other relay processes on the same database end their streams of it too, and refuse
    // sends to it, once this commits (Wake).
    batch->Notify(base::Concat({"c", mailbox_key}));
  }
  return absl::OkStatus();
}

void Mailbox::Reopen(std::string_view account_id, absl::Span<const uint32_t> device_ids) {
  for (uint32_t d : device_ids) {
    v1::Address address;
    address.set_account_id(std::string(account_id));
    address.set_device_id(d);
    std::shared_ptr<State> state = GetState(MailboxKey(address));
    base::MutexLock lock(&state->mu);
    state->closed = false;
  }
}

}  // namespace alliance::server

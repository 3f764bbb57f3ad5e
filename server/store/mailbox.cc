#include "server/store/mailbox.h"

#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"
#include "server/relay_records.pb.h"

namespace alliance::server {
namespace {

constexpr size_t kMailboxKeySize = 20;
constexpr size_t kEnvelopeKeySize = 28;
// mailbox key || 8 x 0xff || sender account (16): that sender's pending envelopes in this
// mailbox, a MailboxCounter (only depth used). Sorts after every envelope key.
constexpr size_t kSenderCounterKeySize = kMailboxKeySize + 8 + 16;
// Dedup CF time index: 'x' || server time ms u64 || sender (16) || message id (16) -> "".
constexpr size_t kDedupIndexKeySize = 1 + 8 + 16 + 16;
// Envelopes kept in memory per subscribed mailbox for live delivery; beyond it, streams read
// from the database.
constexpr size_t kMaxLive = 1024;

std::string EnvelopeKey(std::string_view mailbox_key, uint64_t sequence) {
  std::string key(mailbox_key);
  base::AppendU64BE(&key, sequence);
  return key;
}

// Sorts after every key of `mailbox_key` (envelopes and sender counters) and before the next
// mailbox.
std::string MailboxEnd(std::string_view mailbox_key) {
  std::string key(mailbox_key);
  key.append(kSenderCounterKeySize - kMailboxKeySize + 1, '\xff');
  return key;
}

std::string SenderCounterKey(std::string_view mailbox_key, std::string_view sender) {
  std::string key(mailbox_key);
  key.append(8, '\xff');
  key.append(sender);
  return key;
}

std::string DedupKey(std::string_view sender, std::string_view message_id) {
  return base::Concat({sender, message_id});
}

std::string DedupIndexKey(uint64_t time_ms, std::string_view sender, std::string_view message_id) {
  std::string key = "x";
  base::AppendU64BE(&key, time_ms);
  key.append(sender);
  key.append(message_id);
  return key;
}

}  // namespace

std::string MailboxKey(const v1::Address& address) {
  std::string key = address.account_id();
  base::AppendU32BE(&key, address.device_id());
  return key;
}

Mailbox::Mailbox(RelayDb* db, CommitPool* pool, const Clock* clock, const Limits& limits,
                 Metrics* metrics)
    : db_(db), pool_(pool), clock_(clock), limits_(limits), metrics_(metrics) {}

std::shared_ptr<Mailbox::State> Mailbox::GetState(const std::string& mailbox_key) {
  Shard& shard = shards_[absl::HashOf(mailbox_key) % shards_.size()];
  absl::MutexLock lock(&shard.mu);
  std::shared_ptr<State>& state = shard.states[mailbox_key];
  if (state == nullptr) state = std::make_shared<State>();
  return state;
}

absl::Status Mailbox::EnsureLoaded(State* state, const std::string& mailbox_key) {
  if (state->loaded) return absl::OkStatus();
  ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kMailbox, mailbox_key));
  MailboxCounter counter;
  if (raw) {
    std::optional<MailboxCounter> decoded = MailboxCounter::Decode(*raw);
    if (!decoded) return absl::InternalError("mailbox counter unreadable");
    counter = *decoded;
  }
  state->next_sequence = counter.max_sequence + 1;
  state->depth = counter.depth < 0 ? 0 : counter.depth;
  state->loaded = true;
  return absl::OkStatus();
}

absl::StatusOr<int64_t*> Mailbox::SenderDepthLocked(State* state, const std::string& mailbox_key,
                                                    const std::string& sender) {
  auto it = state->sender_depth.find(sender);
  if (it != state->sender_depth.end()) return &it->second;
  ALLIANCE_ASSIGN_OR_RETURN(auto raw,
                            db_->Get(Cf::kMailbox, SenderCounterKey(mailbox_key, sender)));
  int64_t depth = 0;
  if (raw) {
    std::optional<MailboxCounter> decoded = MailboxCounter::Decode(*raw);
    if (!decoded) return absl::InternalError("sender counter unreadable");
    depth = std::max<int64_t>(0, decoded->depth);
  }
  return &state->sender_depth.emplace(sender, depth).first->second;
}

void Mailbox::ReleaseSenderLocked(State* state, const std::string& sender, int64_t n) {
  auto it = state->sender_depth.find(sender);
  if (it == state->sender_depth.end()) return;  // not loaded: the database counter is the truth
  it->second = std::max<int64_t>(0, it->second - n);
}

uint64_t Mailbox::DeliverableLocked(const State& state) {
  return state.pending.empty() ? state.next_sequence - 1 : *state.pending.begin() - 1;
}

void Mailbox::Send(const v1::Address& sender, const v1::SendRequest& request, SendDone done) {
  std::string dedup_key = DedupKey(sender.account_id(), request.message_id());
  {
    absl::MutexLock lock(&inflight_mu_);
    if (!inflight_.insert(dedup_key).second) {
      done(absl::AbortedError("same message id in flight; retry"));
      return;
    }
  }
  auto release = [this, &dedup_key] {
    absl::MutexLock lock(&inflight_mu_);
    inflight_.erase(dedup_key);
  };
  absl::StatusOr<std::optional<std::string>> existing = db_->Get(Cf::kDedup, dedup_key);
  if (!existing.ok()) {
    release();
    done(existing.status());
    return;
  }
  if (existing->has_value()) {
    DedupRecord record;
    release();
    if (!record.ParseFromString(**existing)) {
      done(absl::InternalError("dedup record unreadable"));
      return;
    }
    v1::SendResponse response;
    response.set_sequence(record.sequence());
    response.set_server_time_ms(record.server_time_ms());
    response.set_duplicate(true);
    metrics_->send_duplicates.Increment();
    done(std::move(response));
    return;
  }

  std::string mailbox_key = MailboxKey(request.recipient());
  std::shared_ptr<State> state = GetState(mailbox_key);
  uint64_t sequence = 0;
  int64_t depth = 0;
  absl::Status refused;
  {
    absl::MutexLock lock(&state->mu);
    refused = EnsureLoaded(state.get(), mailbox_key);
    if (refused.ok() && state->closed) {
      refused = absl::NotFoundError("no such recipient");
    } else if (refused.ok() &&
               static_cast<uint64_t>(state->depth) >= limits_.max_mailbox_envelopes) {
      refused = absl::ResourceExhaustedError("recipient mailbox full");
    }
    int64_t* sender_depth = nullptr;
    if (refused.ok()) {
      absl::StatusOr<int64_t*> d = SenderDepthLocked(state.get(), mailbox_key, sender.account_id());
      if (!d.ok()) {
        refused = d.status();
      } else if (static_cast<uint64_t>(**d) >= limits_.max_mailbox_envelopes_per_sender) {
        // Each sender gets a bounded share, so one contact cannot block everyone else's.
        refused = absl::ResourceExhaustedError(
            "too many of your messages are waiting for this recipient; retry later");
      } else {
        sender_depth = *d;
      }
    }
    if (refused.ok()) {
      sequence = state->next_sequence++;
      depth = ++state->depth;
      ++*sender_depth;
      state->pending.insert(sequence);
    }
  }
  if (!refused.ok()) {
    release();
    metrics_->send_rejected.Increment();
    done(refused);
    return;
  }

  v1::Envelope envelope;
  envelope.set_version(request.version());
  envelope.set_message_id(request.message_id());
  *envelope.mutable_sender() = sender;
  *envelope.mutable_recipient() = request.recipient();
  envelope.set_type(request.type());
  envelope.set_payload(request.payload());
  envelope.set_sequence(sequence);
  envelope.set_server_time_ms(clock_->NowUnixMillis());

  DedupRecord dedup;
  *dedup.mutable_recipient() = request.recipient();
  dedup.set_sequence(sequence);
  dedup.set_server_time_ms(envelope.server_time_ms());

  rocksdb::WriteBatch batch;
  batch.Put(db_->cf(Cf::kMailbox), EnvelopeKey(mailbox_key, sequence),
            envelope.SerializeAsString());
  batch.Put(db_->cf(Cf::kDedup), dedup_key, dedup.SerializeAsString());
  batch.Put(db_->cf(Cf::kDedup),
            DedupIndexKey(envelope.server_time_ms(), sender.account_id(), request.message_id()),
            "");
  batch.Merge(db_->cf(Cf::kMailbox), mailbox_key,
              MailboxCounter{.max_sequence = sequence, .depth = 1}.Encode());
  batch.Merge(db_->cf(Cf::kMailbox), SenderCounterKey(mailbox_key, sender.account_id()),
              MailboxCounter{.depth = 1}.Encode());

  v1::SendResponse response;
  response.set_sequence(sequence);
  response.set_server_time_ms(envelope.server_time_ms());
  metrics_->mailbox_depth.Observe(static_cast<double>(depth));
  auto shared = std::make_shared<v1::Envelope>(std::move(envelope));
  pool_->Submit(std::move(batch),
                [this, state, shared, dedup_key = std::move(dedup_key),
                 response = std::move(response), done = std::move(done)](absl::Status s) {
                  FinishSend(state, shared.get(), dedup_key, std::move(s), response, done);
                });
}

void Mailbox::FinishSend(const std::shared_ptr<State>& state, v1::Envelope* envelope,
                         const std::string& dedup_key, absl::Status status,
                         v1::SendResponse response, const SendDone& done) {
  std::shared_ptr<Subscription> subscriber;
  {
    absl::MutexLock lock(&state->mu);
    state->pending.erase(envelope->sequence());
    if (!status.ok()) {
      --state->depth;
      ReleaseSenderLocked(state.get(), envelope->sender().account_id(), 1);
    }
    subscriber = state->subscriber;
    if (status.ok() && subscriber != nullptr && state->live.size() < kMaxLive) {
      state->live.emplace(envelope->sequence(), std::move(*envelope));
    }
  }
  {
    absl::MutexLock lock(&inflight_mu_);
    inflight_.erase(dedup_key);
  }
  // Wake the stream even on failure: the gap may unblock later sequences.
  if (subscriber != nullptr) subscriber->OnAvailable();
  if (!status.ok()) {
    done(status);
    return;
  }
  metrics_->sends.Increment();
  done(std::move(response));
}

absl::StatusOr<uint32_t> Mailbox::Ack(const v1::Address& mailbox,
                                      const google::protobuf::RepeatedField<uint64_t>& sequences) {
  std::set<uint64_t> unique(sequences.begin(), sequences.end());
  std::string mailbox_key = MailboxKey(mailbox);
  std::shared_ptr<State> state = GetState(mailbox_key);
  absl::MutexLock lock(&state->mu);
  ALLIANCE_RETURN_IF_ERROR(EnsureLoaded(state.get(), mailbox_key));
  rocksdb::WriteBatch batch;
  int64_t deleted = 0;
  absl::flat_hash_map<std::string, int64_t> per_sender;
  for (uint64_t sequence : unique) {
    std::string key = EnvelopeKey(mailbox_key, sequence);
    ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kMailbox, key));
    if (!raw) continue;
    // The dedup record stays until the retention sweep: a retry after this ack is still
    // recognized and stores nothing.
    v1::Envelope envelope;
    if (envelope.ParseFromString(*raw)) ++per_sender[envelope.sender().account_id()];
    batch.Delete(db_->cf(Cf::kMailbox), key);
    ++deleted;
  }
  if (deleted == 0) return 0u;
  batch.Merge(db_->cf(Cf::kMailbox), mailbox_key, MailboxCounter{.depth = -deleted}.Encode());
  for (const auto& [sender, n] : per_sender) {
    batch.Merge(db_->cf(Cf::kMailbox), SenderCounterKey(mailbox_key, sender),
                MailboxCounter{.depth = -n}.Encode());
  }
  ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/false));
  state->depth -= deleted;
  for (const auto& [sender, n] : per_sender) ReleaseSenderLocked(state.get(), sender, n);
  metrics_->acks.Increment(static_cast<uint64_t>(deleted));
  return static_cast<uint32_t>(deleted);
}

absl::StatusOr<uint64_t> Mailbox::Subscribe(const v1::Address& mailbox,
                                            std::shared_ptr<Subscription> subscription) {
  {
    absl::MutexLock lock(&closing_mu_);
    if (closing_) return absl::UnavailableError("relay shutting down");
  }
  std::string mailbox_key = MailboxKey(mailbox);
  std::shared_ptr<State> state = GetState(mailbox_key);
  std::shared_ptr<Subscription> previous;
  uint64_t deliverable = 0;
  {
    absl::MutexLock lock(&state->mu);
    ALLIANCE_RETURN_IF_ERROR(EnsureLoaded(state.get(), mailbox_key));
    if (state->closed) return absl::NotFoundError("no such mailbox");
    previous = std::exchange(state->subscriber, std::move(subscription));
    state->live.clear();  // the new stream reads its backlog from the database
    deliverable = DeliverableLocked(*state);
  }
  if (previous != nullptr) previous->OnClosed(absl::AbortedError("replaced by a newer stream"));
  return deliverable;
}

void Mailbox::Unsubscribe(const v1::Address& mailbox, const Subscription* subscription) {
  std::shared_ptr<State> state = GetState(MailboxKey(mailbox));
  std::shared_ptr<Subscription> dropped;  // released outside the lock
  absl::MutexLock lock(&state->mu);
  if (state->subscriber.get() == subscription) {
    dropped = std::move(state->subscriber);
    state->live.clear();
  }
}

absl::Status Mailbox::TakeLive(const v1::Address& mailbox, uint64_t after, size_t max_count,
                               std::vector<v1::Envelope>* out, uint64_t* deliverable) {
  std::string mailbox_key = MailboxKey(mailbox);
  std::shared_ptr<State> state = GetState(mailbox_key);
  absl::MutexLock lock(&state->mu);
  ALLIANCE_RETURN_IF_ERROR(EnsureLoaded(state.get(), mailbox_key));
  *deliverable = DeliverableLocked(*state);
  auto& live = state->live;
  while (!live.empty() && live.begin()->first <= after) live.erase(live.begin());
  uint64_t next = after + 1;
  while (!live.empty() && out->size() < max_count && live.begin()->first == next &&
         next <= *deliverable) {
    out->push_back(std::move(live.begin()->second));
    live.erase(live.begin());
    ++next;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Mailbox::Deliverable(const v1::Address& mailbox) {
  std::string mailbox_key = MailboxKey(mailbox);
  std::shared_ptr<State> state = GetState(mailbox_key);
  absl::MutexLock lock(&state->mu);
  ALLIANCE_RETURN_IF_ERROR(EnsureLoaded(state.get(), mailbox_key));
  return DeliverableLocked(*state);
}

absl::StatusOr<std::vector<v1::Envelope>> Mailbox::Read(const v1::Address& mailbox, uint64_t after,
                                                        uint64_t upto, size_t max_count,
                                                        uint64_t* scanned_upto) {
  *scanned_upto = after;
  std::vector<v1::Envelope> out;
  if (upto <= after) return out;
  std::string mailbox_key = MailboxKey(mailbox);
  std::string end = EnvelopeKey(mailbox_key, upto + 1);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(options, db_->cf(Cf::kMailbox)));
  for (it->Seek(EnvelopeKey(mailbox_key, after + 1)); it->Valid() && out.size() < max_count;
       it->Next()) {
    if (it->key().size() != kEnvelopeKeySize) continue;
    v1::Envelope& envelope = out.emplace_back();
    if (!envelope.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::InternalError("envelope unreadable");
    }
    *scanned_upto = base::ReadU64BE(it->key().data() + kMailboxKeySize);
  }
  ALLIANCE_RETURN_IF_ERROR(FromRocks(it->status()));
  if (out.size() < max_count) *scanned_upto = upto;
  return out;
}

absl::StatusOr<uint64_t> Mailbox::ExpireMailbox(const std::string& mailbox_key,
                                                uint64_t cutoff_ms) {
  std::shared_ptr<State> state = GetState(mailbox_key);
  absl::MutexLock lock(&state->mu);
  std::string end = EnvelopeKey(mailbox_key, ~uint64_t{0});  // envelopes only
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(options, db_->cf(Cf::kMailbox)));
  rocksdb::WriteBatch batch;
  int64_t in_batch = 0;
  uint64_t expired = 0;
  absl::flat_hash_map<std::string, int64_t> per_sender;
  // Writes the batch with its counter updates; keeps batches bounded.
  auto flush = [&]() -> absl::Status {
    state->mu.AssertHeld();  // held by this function; tells the analysis about the lambda
    if (in_batch == 0) return absl::OkStatus();
    batch.Merge(db_->cf(Cf::kMailbox), mailbox_key, MailboxCounter{.depth = -in_batch}.Encode());
    for (const auto& [sender, n] : per_sender) {
      batch.Merge(db_->cf(Cf::kMailbox), SenderCounterKey(mailbox_key, sender),
                  MailboxCounter{.depth = -n}.Encode());
    }
    ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/false));
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
      batch.Delete(db_->cf(Cf::kDedup),
                   DedupKey(envelope.sender().account_id(), envelope.message_id()));
      ++per_sender[envelope.sender().account_id()];
    }
    batch.Delete(db_->cf(Cf::kMailbox), it->key());
    ++in_batch;
    ++expired;
    if (in_batch == 1000) ALLIANCE_RETURN_IF_ERROR(flush());
  }
  ALLIANCE_RETURN_IF_ERROR(FromRocks(it->status()));
  ALLIANCE_RETURN_IF_ERROR(flush());
  return expired;
}

absl::StatusOr<uint64_t> Mailbox::SweepDedup(uint64_t cutoff_ms) {
  rocksdb::WriteBatch batch;
  uint64_t removed = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->cf(Cf::kDedup)));
  for (it->Seek("x"); it->Valid() && it->key().starts_with("x"); it->Next()) {
    if (it->key().size() != kDedupIndexKeySize) continue;  // a dedup key that begins with 'x'
    if (base::ReadU64BE(it->key().data() + 1) >= cutoff_ms)
      break;  // time order: the rest is younger
    batch.Delete(db_->cf(Cf::kDedup), it->key());
    batch.Delete(db_->cf(Cf::kDedup), it->key().ToStringView().substr(9));
    if (++removed % 1000 == 0) {
      ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/false));
      batch.Clear();
    }
  }
  ALLIANCE_RETURN_IF_ERROR(FromRocks(it->status()));
  if (batch.Count() > 0) ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/false));
  return removed;
}

absl::Status Mailbox::AddEraseSent(std::string_view account_id, rocksdb::WriteBatch* batch) {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->cf(Cf::kDedup)));
  rocksdb::Slice prefix(account_id.data(), account_id.size());
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() == 2 * kAccountIdSize) batch->Delete(db_->cf(Cf::kDedup), it->key());
  }
  return FromRocks(it->status());
}

absl::StatusOr<uint64_t> Mailbox::SweepExpired() {
  absl::Time cutoff = clock_->Now() - limits_.retention;
  uint64_t cutoff_ms = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(cutoff)));
  uint64_t total = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->cf(Cf::kMailbox)));
  it->SeekToFirst();
  while (it->Valid()) {
    std::string mailbox_key = it->key().ToString().substr(0, kMailboxKeySize);
    if (mailbox_key.size() == kMailboxKeySize) {
      ALLIANCE_ASSIGN_OR_RETURN(uint64_t n, ExpireMailbox(mailbox_key, cutoff_ms));
      total += n;
    }
    it->Seek(MailboxEnd(mailbox_key));  // next mailbox
  }
  ALLIANCE_RETURN_IF_ERROR(FromRocks(it->status()));
  metrics_->expirations.Increment(total);
  ALLIANCE_RETURN_IF_ERROR(SweepDedup(cutoff_ms).status());
  return total;
}

absl::Status Mailbox::CloseAndErase(std::string_view account_id, uint32_t device_count,
                                    absl::Status why, rocksdb::WriteBatch* batch) {
  for (uint32_t d = 1; d <= device_count; ++d) {
    v1::Address address;
    address.set_account_id(std::string(account_id));
    address.set_device_id(d);
    std::string mailbox_key = MailboxKey(address);
    std::shared_ptr<State> state = GetState(mailbox_key);
    std::shared_ptr<Subscription> subscriber;
    {
      absl::MutexLock lock(&state->mu);
      state->closed = true;
      state->depth = 0;
      state->sender_depth.clear();
      state->live.clear();
      subscriber = std::move(state->subscriber);
    }
    if (subscriber != nullptr) subscriber->OnClosed(why);

    std::string end = MailboxEnd(mailbox_key);
    rocksdb::Slice upper(end);
    rocksdb::ReadOptions options;
    options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(options, db_->cf(Cf::kMailbox)));
    for (it->Seek(EnvelopeKey(mailbox_key, 0)); it->Valid(); it->Next()) {
      v1::Envelope envelope;
      if (envelope.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        batch->Delete(db_->cf(Cf::kDedup),
                      DedupKey(envelope.sender().account_id(), envelope.message_id()));
      }
    }
    ALLIANCE_RETURN_IF_ERROR(FromRocks(it->status()));
    batch->DeleteRange(db_->cf(Cf::kMailbox), mailbox_key, end);
  }
  return absl::OkStatus();
}

void Mailbox::CloseAll(absl::Status why) {
  {
    absl::MutexLock lock(&closing_mu_);
    closing_ = true;
  }
  std::vector<std::shared_ptr<Subscription>> subscribers;
  for (Shard& shard : shards_) {
    absl::MutexLock shard_lock(&shard.mu);
    for (auto& [key, state] : shard.states) {
      absl::MutexLock lock(&state->mu);
      if (state->subscriber != nullptr) subscribers.push_back(std::move(state->subscriber));
      state->live.clear();
    }
  }
  for (auto& s : subscribers) s->OnClosed(why);
}

}  // namespace alliance::server

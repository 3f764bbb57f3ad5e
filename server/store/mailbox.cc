#include "server/store/mailbox.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include <sodium.h>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"
#include "server/relay_records.pb.h"
#include "server/store/mailbox_keys.h"

namespace alliance::server {
namespace {

using namespace mailbox_internal;  // NOLINT(google-build-using-namespace): this file's own keys

// Envelopes kept in memory per subscribed mailbox for live delivery, by count and by bytes (a
// subscriber that stops reading must not pin 1 024 envelopes of 64 KiB); beyond either, streams
// read from the database.
constexpr size_t kMaxLive = 1024;
constexpr size_t kMaxLiveBytes = 1 << 20;

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
  base::MutexLock lock(&shard.mu);
  std::shared_ptr<State>& state = shard.states[mailbox_key];
  if (state == nullptr) state = std::make_shared<State>();
  return state;
}

std::shared_ptr<Mailbox::State> Mailbox::FindState(const std::string& mailbox_key) {
  Shard& shard = shards_[absl::HashOf(mailbox_key) % shards_.size()];
  base::MutexLock lock(&shard.mu);
  auto it = shard.states.find(mailbox_key);
  return it != shard.states.end() ? it->second : nullptr;
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
  if (counter.closed()) state->closed = true;  // erased, by this process or another
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

absl::StatusOr<bool> Mailbox::AlreadyStored(std::string_view sender_account,
                                            std::string_view message_id) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> existing,
                            db_->Get(Cf::kDedup, DedupKey(sender_account, message_id)));
  return existing.has_value();
}

void Mailbox::Send(const v1::Address& sender, const v1::SendRequest& request, SendDone done) {
  // The destinations: `messages`, or the single recipient/type/payload.
  std::vector<Destination> destinations;
  if (request.messages_size() == 0) {
    destinations.push_back({&request.recipient(), request.type(), &request.payload(), {}, {}});
  } else {
    for (const v1::DeviceMessage& m : request.messages()) {
      destinations.push_back({&m.destination(), m.type(), &m.payload(), {}, {}});
    }
  }

  std::string dedup_key = DedupKey(sender.account_id(), request.message_id());
  {
    base::MutexLock lock(&inflight_mu_);
    if (!inflight_.insert(dedup_key).second) {
      done(absl::AbortedError("same message id in flight; retry"));
      return;
    }
  }
  auto release = [this, &dedup_key] {
    base::MutexLock lock(&inflight_mu_);
    inflight_.erase(dedup_key);
  };
  if (db_->shared()) {
    // Several round trips to the database: on a pool thread, not the caller's (a gRPC thread).
    // `request` outlives `done` (it belongs to the call that `done` finishes).
    pool_->Post([this, sender, &request, destinations = std::move(destinations),
                 dedup_key = std::move(dedup_key), done = std::move(done)]() mutable {
      absl::StatusOr<v1::SendResponse> sent =
          SendShared(sender, request, &destinations, dedup_key);
      {
        base::MutexLock lock(&inflight_mu_);
        inflight_.erase(dedup_key);
      }
      if (!sent.ok() && sent.status().code() == absl::StatusCode::kResourceExhausted) {
        metrics_->send_rejected.Increment();
      } else if (sent.ok() && !sent->duplicate()) {
        metrics_->sends.Increment();
      }
      done(std::move(sent));
    });
    return;
  }
  absl::StatusOr<std::optional<std::string>> existing = db_->Get(Cf::kDedup, dedup_key);
  if (!existing.ok()) {
    release();
    done(existing.status());
    return;
  }
  if (existing->has_value()) {
    release();
    done(DuplicateResponse(**existing));
    return;
  }

  // Reserve a sequence in every destination's mailbox; on any refusal, give back the
  // reservations already made (their sequences become gaps, as after a failed write).
  absl::Status refused;
  size_t reserved = 0;
  std::vector<int64_t> depths;
  for (Destination& d : destinations) {
    d.mailbox_key = MailboxKey(*d.address);
    d.state = GetState(d.mailbox_key);
    base::MutexLock lock(&d.state->mu);
    refused = EnsureLoaded(d.state.get(), d.mailbox_key);
    if (refused.ok() && d.state->closed) {
      refused = absl::NotFoundError("no such recipient");
    } else if (refused.ok() &&
               static_cast<uint64_t>(d.state->depth) >= limits_.max_mailbox_envelopes) {
      refused = absl::ResourceExhaustedError("recipient mailbox full");
    }
    int64_t* sender_depth = nullptr;
    if (refused.ok()) {
      absl::StatusOr<int64_t*> n =
          SenderDepthLocked(d.state.get(), d.mailbox_key, sender.account_id());
      if (!n.ok()) {
        refused = n.status();
      } else if (static_cast<uint64_t>(**n) >= limits_.max_mailbox_envelopes_per_sender) {
        // Each sender gets a bounded share, so one contact cannot block everyone else's.
        refused = absl::ResourceExhaustedError(
            "too many of your messages are waiting for this recipient; retry later");
      } else {
        sender_depth = *n;
      }
    }
    if (!refused.ok()) break;
    d.sequence = d.state->next_sequence++;
    depths.push_back(++d.state->depth);
    ++*sender_depth;
    d.state->pending.insert(d.sequence);
    ++reserved;
  }
  if (!refused.ok()) {
    for (size_t i = 0; i < reserved; ++i) {
      Destination& d = destinations[i];
      std::shared_ptr<Subscription> subscriber;
      {
        base::MutexLock lock(&d.state->mu);
        d.state->pending.erase(d.sequence);
        --d.state->depth;
        ReleaseSenderLocked(d.state.get(), sender.account_id(), 1);
        subscriber = d.state->subscriber;
      }
      if (subscriber != nullptr) subscriber->OnAvailable();  // the gap may unblock later ones
    }
    release();
    metrics_->send_rejected.Increment();
    done(refused);
    return;
  }

  const uint64_t now_ms = clock_->NowUnixMillis();
  DedupRecord dedup;
  *dedup.mutable_recipient() = *destinations.front().address;
  dedup.set_sequence(destinations.front().sequence);
  dedup.set_server_time_ms(now_ms);
  v1::SendResponse response;
  response.set_sequence(destinations.front().sequence);
  response.set_server_time_ms(now_ms);

  KvBatch batch;
  auto envelopes = std::make_shared<std::vector<v1::Envelope>>();
  envelopes->reserve(destinations.size());
  for (const Destination& d : destinations) {
    const v1::Envelope& envelope =
        envelopes->emplace_back(MakeEnvelope(request, sender, d, now_ms));
    AddEnvelope(envelope, d, &batch);
    dedup.add_sequences(d.sequence);
    response.add_sequences(d.sequence);
  }
  batch.Put(Cf::kDedup, dedup_key, dedup.SerializeAsString());
  batch.Put(Cf::kDedup, DedupIndexKey(now_ms, sender.account_id(), request.message_id()),
            "");
  for (int64_t depth : depths) metrics_->mailbox_depth.Observe(static_cast<double>(depth));
  std::vector<std::shared_ptr<State>> states;
  for (const Destination& d : destinations) states.push_back(d.state);
  pool_->Submit(std::move(batch), [this, states = std::move(states), envelopes,
                                   dedup_key = std::move(dedup_key),
                                   response = std::move(response),
                                   done = std::move(done)](absl::Status s) {
    FinishSend(states, envelopes.get(), dedup_key, std::move(s), response, done);
  });
}

v1::Envelope Mailbox::MakeEnvelope(const v1::SendRequest& request, const v1::Address& sender,
                                   const Destination& d, uint64_t now_ms) {
  v1::Envelope envelope;
  envelope.set_version(request.version());
  envelope.set_message_id(request.message_id());
  *envelope.mutable_sender() = sender;
  *envelope.mutable_recipient() = *d.address;
  envelope.set_type(d.type);
  envelope.set_payload(*d.payload);
  envelope.set_sequence(d.sequence);
  envelope.set_server_time_ms(now_ms);
  return envelope;
}

void Mailbox::AddEnvelope(const v1::Envelope& envelope, const Destination& d, KvBatch* batch) {
  batch->Put(Cf::kMailbox, EnvelopeKey(d.mailbox_key, d.sequence), envelope.SerializeAsString());
  batch->Merge(Cf::kMailbox, d.mailbox_key,
               MailboxCounter{.max_sequence = d.sequence, .depth = 1}.Encode());
  batch->Merge(Cf::kMailbox, SenderCounterKey(d.mailbox_key, envelope.sender().account_id()),
               MailboxCounter{.depth = 1}.Encode());
}

absl::StatusOr<v1::SendResponse> Mailbox::DuplicateResponse(const std::string& raw) {
  DedupRecord record;
  if (!record.ParseFromString(raw)) return absl::InternalError("dedup record unreadable");
  v1::SendResponse response;
  response.set_sequence(record.sequence());
  response.set_server_time_ms(record.server_time_ms());
  response.set_duplicate(true);
  if (record.sequences_size() == 0) {
    response.add_sequences(record.sequence());
  } else {
    *response.mutable_sequences() = record.sequences();
  }
  metrics_->send_duplicates.Increment();
  return response;
}

absl::StatusOr<MailboxCounter> Mailbox::ReadCounter(const std::string& key,
                                                    std::optional<std::string>* raw) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> stored, db_->Get(Cf::kMailbox, key));
  MailboxCounter counter;
  if (stored.has_value()) {
    std::optional<MailboxCounter> decoded = MailboxCounter::Decode(*stored);
    if (!decoded) return absl::InternalError("mailbox counter unreadable");
    counter = *decoded;
  }
  if (raw != nullptr) *raw = std::move(stored);
  return counter;
}

absl::StatusOr<v1::SendResponse> Mailbox::SendShared(const v1::Address& sender,
                                                     const v1::SendRequest& request,
                                                     std::vector<Destination>* destinations,
                                                     const std::string& dedup_key) {
  // This process's sends to one mailbox take turns (send_mu, in key order for several
  // destinations): they would only lose the database's expectation to each other and retry.
  std::vector<std::pair<std::string, State*>> order;
  for (Destination& d : *destinations) {
    d.mailbox_key = MailboxKey(*d.address);
    d.state = GetState(d.mailbox_key);
    order.emplace_back(d.mailbox_key, d.state.get());
  }
  std::sort(order.begin(), order.end());
  order.erase(std::unique(order.begin(), order.end()), order.end());
  // At most a few pool threads wait per mailbox: beyond that a send goes ahead without its
  // turn (the database's expectation still orders it), so one busy mailbox cannot take every
  // pool thread from the others.
  constexpr int kMaxWaiting = 2;
  bool turns = true;
  for (auto& [key, state] : order) {
    if (state->send_waiting.load() >= kMaxWaiting) turns = false;
  }
  if (turns) {
    for (auto& [key, state] : order) {
      ++state->send_waiting;
      state->send_mu.Lock();
      --state->send_waiting;
    }
  }
  absl::StatusOr<v1::SendResponse> sent;
  for (int attempt = 0; attempt < 32; ++attempt) {
    sent = SendSharedOnce(sender, request, destinations, dedup_key);
    // Another process sent to one of these mailboxes between the read and the write: read
    // the new sequence and try again (a short, growing pause spreads the contenders).
    if (!IsWriteConflict(sent.status())) break;
    std::this_thread::sleep_for(std::chrono::microseconds(
        (100 << std::min(attempt, 6)) + randombytes_uniform(100u << std::min(attempt, 6))));
  }
  if (turns) {
    for (auto it = order.rbegin(); it != order.rend(); ++it) it->second->send_mu.Unlock();
  }
  if (!sent.ok() || sent->duplicate()) return sent;
  // Streams of this process wake at once; those of other processes through the notification.
  for (Destination& d : *destinations) {
    std::shared_ptr<Subscription> subscriber;
    {
      base::MutexLock lock(&d.state->mu);
      subscriber = d.state->subscriber;
    }
    if (subscriber != nullptr) subscriber->OnAvailable();
  }
  return sent;
}

// One try of a send on a shared database. Each destination's sequence is its counter's highest
// sequence plus one, and the batch expects that counter's sequence unchanged: the sends to one
// mailbox commit one at a time, in sequence order, whatever process they go through, so the
// counter's committed highest sequence is also the highest deliverable one. Two round trips:
// the reads together, then the write.
absl::StatusOr<v1::SendResponse> Mailbox::SendSharedOnce(const v1::Address& sender,
                                                         const v1::SendRequest& request,
                                                         std::vector<Destination>* destinations,
                                                         const std::string& dedup_key) {
  std::vector<std::pair<Cf, std::string>> keys = {{Cf::kDedup, dedup_key}};
  for (const Destination& d : *destinations) {
    keys.emplace_back(Cf::kMailbox, d.mailbox_key);
    keys.emplace_back(Cf::kMailbox, SenderCounterKey(d.mailbox_key, sender.account_id()));
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> read, db_->GetMany(keys));
  if (read[0].has_value()) return DuplicateResponse(*read[0]);
  auto decode = [](const std::optional<std::string>& raw) -> absl::StatusOr<MailboxCounter> {
    if (!raw.has_value()) return MailboxCounter();
    std::optional<MailboxCounter> decoded = MailboxCounter::Decode(*raw);
    if (!decoded) return absl::InternalError("mailbox counter unreadable");
    return *decoded;
  };
  const uint64_t now_ms = clock_->NowUnixMillis();
  KvBatch batch;
  batch.Expect(Cf::kDedup, dedup_key, std::nullopt);
  DedupRecord dedup;
  v1::SendResponse response;
  std::vector<int64_t> depths;
  for (size_t i = 0; i < destinations->size(); ++i) {
    Destination& d = (*destinations)[i];
    {
      base::MutexLock lock(&d.state->mu);
      if (d.state->closed) return absl::NotFoundError("no such recipient");
    }
    std::optional<std::string> raw = std::move(read[1 + 2 * i]);
    if (!raw.has_value()) {
      // A prefix can only be expected of a stored value: a first send stores a zero counter
      // (a no-op merge for anyone else) and reads again.
      KvBatch zero;
      zero.Merge(Cf::kMailbox, d.mailbox_key, MailboxCounter{}.Encode());
      ALLIANCE_RETURN_IF_ERROR(db_->Write(&zero, /*sync=*/false));
      ALLIANCE_ASSIGN_OR_RETURN(raw, db_->Get(Cf::kMailbox, d.mailbox_key));
      if (!raw.has_value()) return absl::AbortedError(kWriteConflict);
    }
    ALLIANCE_ASSIGN_OR_RETURN(const MailboxCounter counter, decode(raw));
    if (counter.closed()) {
      // Erased through another process, whose notice has not arrived yet.
      base::MutexLock lock(&d.state->mu);
      d.state->closed = true;
      return absl::NotFoundError("no such recipient");
    }
    ALLIANCE_ASSIGN_OR_RETURN(const MailboxCounter mine, decode(read[2 + 2 * i]));
    if (counter.depth >= 0 &&
        static_cast<uint64_t>(counter.depth) >= limits_.max_mailbox_envelopes) {
      return absl::ResourceExhaustedError("recipient mailbox full");
    }
    if (mine.depth >= 0 &&
        static_cast<uint64_t>(mine.depth) >= limits_.max_mailbox_envelopes_per_sender) {
      return absl::ResourceExhaustedError(
          "too many of your messages are waiting for this recipient; retry later");
    }
    d.sequence = counter.max_sequence + 1;
    depths.push_back(counter.depth + 1);
    batch.ExpectPrefix(Cf::kMailbox, d.mailbox_key, raw->substr(0, 8));
    AddEnvelope(MakeEnvelope(request, sender, d, now_ms), d, &batch);
    batch.Notify(d.mailbox_key);
    dedup.add_sequences(d.sequence);
    response.add_sequences(d.sequence);
  }
  *dedup.mutable_recipient() = *destinations->front().address;
  dedup.set_sequence(destinations->front().sequence);
  dedup.set_server_time_ms(now_ms);
  response.set_sequence(destinations->front().sequence);
  response.set_server_time_ms(now_ms);
  batch.Put(Cf::kDedup, dedup_key, dedup.SerializeAsString());
  batch.Put(Cf::kDedup, DedupIndexKey(now_ms, sender.account_id(), request.message_id()), "");
  ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/true));
  for (int64_t depth : depths) metrics_->mailbox_depth.Observe(static_cast<double>(depth));
  return response;
}

void Mailbox::Wake(std::string_view mailbox_key) {
  if (mailbox_key.size() == kMailboxKeySize + 1 && mailbox_key[0] == 'c') {
    // Another process erased this mailbox (a device removed, an account closed). Only a
    // mailbox this process holds state for has anything to end; sends through it to the
    // others find the closed counter in the database.
    std::shared_ptr<State> state = FindState(std::string(mailbox_key.substr(1)));
    if (state == nullptr) return;
    std::shared_ptr<Subscription> subscriber;
    {
      base::MutexLock lock(&state->mu);
      state->closed = true;
      state->live.clear();
      state->live_bytes = 0;
      subscriber = std::move(state->subscriber);
    }
    if (subscriber != nullptr) {
      pool_->Post([subscriber] {
        subscriber->OnClosed(absl::UnauthenticatedError("this device was removed or its account closed"));
      });
    }
    return;
  }
  std::vector<std::shared_ptr<Subscription>> subscribers;
  auto collect = [&subscribers](State* state) {
    base::MutexLock lock(&state->mu);
    if (state->subscriber != nullptr) subscribers.push_back(state->subscriber);
  };
  if (mailbox_key.empty()) {
    for (Shard& shard : shards_) {
      std::vector<std::shared_ptr<State>> states;
      {
        base::MutexLock lock(&shard.mu);
        for (auto& [key, state] : shard.states) states.push_back(state);
      }
      for (auto& state : states) collect(state.get());
    }
  } else {
    std::shared_ptr<State> state = FindState(std::string(mailbox_key));
    if (state != nullptr) collect(state.get());
  }
  // A woken stream reads from the database: on pool threads, in chunks, not on the caller's
  // (the listener's, which must go on reading notifications).
  constexpr size_t kChunk = 32;
  for (size_t i = 0; i < subscribers.size(); i += kChunk) {
    std::vector<std::shared_ptr<Subscription>> chunk(
        subscribers.begin() + static_cast<std::ptrdiff_t>(i),
        subscribers.begin() + static_cast<std::ptrdiff_t>(std::min(i + kChunk, subscribers.size())));
    pool_->Post([chunk = std::move(chunk)] {
      for (const auto& s : chunk) s->OnAvailable();
    });
  }
}

void Mailbox::FinishSend(const std::vector<std::shared_ptr<State>>& states,
                         std::vector<v1::Envelope>* envelopes, const std::string& dedup_key,
                         absl::Status status, v1::SendResponse response, const SendDone& done) {
  std::vector<std::shared_ptr<Subscription>> subscribers;
  std::vector<std::string> erased;  // envelopes committed after their mailbox's erasure
  std::vector<std::string> erased_counts;  // and the counters they were counted in
  for (size_t i = 0; i < states.size(); ++i) {
    State* state = states[i].get();
    v1::Envelope* envelope = &(*envelopes)[i];
    base::MutexLock lock(&state->mu);
    state->pending.erase(envelope->sequence());
    if (status.ok() && state->closed) {
      // Reserved before CloseAndErase, written after its batch: nobody will read it. Taken
      // back whole (envelope and counts), also should the erasure not be written after all.
      const std::string mailbox_key = MailboxKey(envelope->recipient());
      erased.push_back(EnvelopeKey(mailbox_key, envelope->sequence()));
      erased_counts.push_back(mailbox_key);
      erased_counts.push_back(SenderCounterKey(mailbox_key, envelope->sender().account_id()));
      --state->depth;
      ReleaseSenderLocked(state, envelope->sender().account_id(), 1);
      continue;
    }
    if (!status.ok()) {
      --state->depth;
      ReleaseSenderLocked(state, envelope->sender().account_id(), 1);
    }
    const size_t size = envelope->ByteSizeLong();
    if (status.ok() && state->subscriber != nullptr && state->live.size() < kMaxLive &&
        state->live_bytes + size <= kMaxLiveBytes) {
      state->live_bytes += size;
      state->live.emplace(envelope->sequence(), std::move(*envelope));
    }
    if (state->subscriber != nullptr) subscribers.push_back(state->subscriber);
  }
  if (!erased.empty()) {
    KvBatch cleanup;
    for (const std::string& key : erased) cleanup.Delete(Cf::kMailbox, key);
    for (const std::string& key : erased_counts) {
      cleanup.Merge(Cf::kMailbox, key, MailboxCounter{.depth = -1}.Encode());
    }
    // Every destination gone: as if the recipient had been refused before the write.
    const bool all = erased.size() == states.size();
    if (all) cleanup.Delete(Cf::kDedup, dedup_key);
    // Should this fail, the retention sweep removes what is left.
    if (db_->Write(&cleanup, /*sync=*/false).ok() && all) {
      status = absl::NotFoundError("no such recipient");
    }
  }
  {
    base::MutexLock lock(&inflight_mu_);
    inflight_.erase(dedup_key);
  }
  // Wake the streams even on failure: the gap may unblock later sequences.
  for (const std::shared_ptr<Subscription>& s : subscribers) s->OnAvailable();
  if (!status.ok()) {
    done(status);
    return;
  }
  metrics_->sends.Increment();
  done(std::move(response));
}

absl::StatusOr<uint32_t> Mailbox::Ack(const v1::Address& mailbox,
                                      const google::protobuf::RepeatedField<uint64_t>& sequences) {
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<uint32_t> acked = AckOnce(mailbox, sequences);
    if (acked.ok() || !IsWriteConflict(acked.status()) || attempt == 7) return acked;
  }
}

absl::StatusOr<uint32_t> Mailbox::AckOnce(
    const v1::Address& mailbox, const google::protobuf::RepeatedField<uint64_t>& sequences) {
  std::set<uint64_t> unique(sequences.begin(), sequences.end());
  std::string mailbox_key = MailboxKey(mailbox);
  std::shared_ptr<State> state = GetState(mailbox_key);
  base::MutexLock lock(&state->mu);
  ALLIANCE_RETURN_IF_ERROR(EnsureLoaded(state.get(), mailbox_key));
  KvBatch batch;
  int64_t deleted = 0;
  absl::flat_hash_map<std::string, int64_t> per_sender;
  std::vector<std::pair<Cf, std::string>> keys;
  keys.reserve(unique.size());
  for (uint64_t sequence : unique) keys.emplace_back(Cf::kMailbox, EnvelopeKey(mailbox_key, sequence));
  // Together: one round trip on PostgreSQL.
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> stored, db_->GetMany(keys));
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& key = keys[i].second;
    const std::optional<std::string>& raw = stored[i];
    if (!raw) continue;
    // The dedup record stays until the retention sweep: a retry after this ack is still
    // recognized and stores nothing.
    v1::Envelope envelope;
    if (envelope.ParseFromString(*raw)) ++per_sender[envelope.sender().account_id()];
    // Another process may delete it at the same moment (the same device acking through two
    // relays, or the sweep): only one of them counts it off the depth.
    if (db_->shared()) batch.Expect(Cf::kMailbox, key, raw);
    batch.Delete(Cf::kMailbox, key);
    ++deleted;
  }
  if (deleted == 0) return 0u;
  batch.Merge(Cf::kMailbox, mailbox_key, MailboxCounter{.depth = -deleted}.Encode());
  for (const auto& [sender, n] : per_sender) {
    batch.Merge(Cf::kMailbox, SenderCounterKey(mailbox_key, sender),
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
    base::MutexLock lock(&closing_mu_);
    if (closing_) return absl::UnavailableError("relay shutting down");
  }
  std::string mailbox_key = MailboxKey(mailbox);
  std::shared_ptr<State> state = GetState(mailbox_key);
  std::shared_ptr<Subscription> previous;
  uint64_t deliverable = 0;
  const Subscription* const added = subscription.get();
  {
    base::MutexLock lock(&state->mu);
    ALLIANCE_RETURN_IF_ERROR(EnsureLoaded(state.get(), mailbox_key));
    if (state->closed) return absl::NotFoundError("no such mailbox");
    previous = std::exchange(state->subscriber, std::move(subscription));
    state->live.clear();  // the new stream reads its backlog from the database
    state->live_bytes = 0;
    deliverable = DeliverableLocked(*state);
  }
  absl::Status read;
  if (db_->shared()) {
    // Read after the new stream is in place: a send that commits meanwhile wakes it.
    absl::StatusOr<MailboxCounter> counter = ReadCounter(mailbox_key, nullptr);
    if (counter.ok()) {
      deliverable = counter->max_sequence;
    } else {
      read = counter.status();
      std::shared_ptr<Subscription> mine;  // released outside the lock
      base::MutexLock lock(&state->mu);
      if (state->subscriber.get() == added) mine = std::move(state->subscriber);
    }
  }
  // The previous stream ends either way: it was replaced, or the new one failed.
  if (previous != nullptr) previous->OnClosed(absl::AbortedError("replaced by a newer stream"));
  if (!read.ok()) return read;
  return deliverable;
}

void Mailbox::Unsubscribe(const v1::Address& mailbox, const Subscription* subscription) {
  std::shared_ptr<State> state = GetState(MailboxKey(mailbox));
  std::shared_ptr<Subscription> dropped;  // released outside the lock
  base::MutexLock lock(&state->mu);
  if (state->subscriber.get() == subscription) {
    dropped = std::move(state->subscriber);
    state->live.clear();
    state->live_bytes = 0;
  }
}

absl::Status Mailbox::TakeLive(const v1::Address& mailbox, uint64_t after, size_t max_count,
                               std::vector<v1::Envelope>* out, uint64_t* deliverable,
                               size_t max_bytes) {
  std::string mailbox_key = MailboxKey(mailbox);
  if (db_->shared()) {
    // Nothing is held in memory: another process may have committed what comes next.
    ALLIANCE_ASSIGN_OR_RETURN(MailboxCounter counter, ReadCounter(mailbox_key, nullptr));
    *deliverable = counter.max_sequence;
    return absl::OkStatus();
  }
  std::shared_ptr<State> state = GetState(mailbox_key);
  base::MutexLock lock(&state->mu);
  ALLIANCE_RETURN_IF_ERROR(EnsureLoaded(state.get(), mailbox_key));
  *deliverable = DeliverableLocked(*state);
  auto& live = state->live;
  size_t& live_bytes = state->live_bytes;
  while (!live.empty() && live.begin()->first <= after) {
    live_bytes -= std::min(live_bytes, live.begin()->second.ByteSizeLong());
    live.erase(live.begin());
  }
  uint64_t next = after + 1;
  size_t bytes = 0;
  while (!live.empty() && out->size() < max_count && live.begin()->first == next &&
         next <= *deliverable) {
    const size_t size = live.begin()->second.ByteSizeLong();
    if (!out->empty() && bytes + size > max_bytes) break;
    out->push_back(std::move(live.begin()->second));
    live.erase(live.begin());
    live_bytes -= std::min(live_bytes, size);
    bytes += size;
    ++next;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Mailbox::Deliverable(const v1::Address& mailbox) {
  std::string mailbox_key = MailboxKey(mailbox);
  if (db_->shared()) {
    ALLIANCE_ASSIGN_OR_RETURN(MailboxCounter counter, ReadCounter(mailbox_key, nullptr));
    return counter.max_sequence;
  }
  std::shared_ptr<State> state = GetState(mailbox_key);
  base::MutexLock lock(&state->mu);
  ALLIANCE_RETURN_IF_ERROR(EnsureLoaded(state.get(), mailbox_key));
  return DeliverableLocked(*state);
}

absl::StatusOr<std::vector<v1::Envelope>> Mailbox::Read(const v1::Address& mailbox, uint64_t after,
                                                        uint64_t upto, size_t max_count,
                                                        uint64_t* scanned_upto, size_t max_bytes) {
  *scanned_upto = after;
  std::vector<v1::Envelope> out;
  if (upto <= after) return out;
  std::string mailbox_key = MailboxKey(mailbox);
  std::string end = EnvelopeKey(mailbox_key, upto + 1);
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kMailbox, end);
  size_t bytes = 0;
  bool full = false;
  for (it->Seek(EnvelopeKey(mailbox_key, after + 1)); it->Valid(); it->Next()) {
    if (it->key().size() != kEnvelopeKeySize) continue;
    if (out.size() >= max_count || (!out.empty() && bytes + it->value().size() > max_bytes)) {
      full = true;
      break;
    }
    v1::Envelope& envelope = out.emplace_back();
    if (!envelope.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::InternalError("envelope unreadable");
    }
    bytes += it->value().size();
    *scanned_upto = base::ReadU64BE(it->key().data() + kMailboxKeySize);
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  if (!full) *scanned_upto = upto;
  return out;
}

void Mailbox::CloseAll(absl::Status why) {
  {
    base::MutexLock lock(&closing_mu_);
    closing_ = true;
  }
  std::vector<std::shared_ptr<Subscription>> subscribers;
  for (Shard& shard : shards_) {
    base::MutexLock shard_lock(&shard.mu);
    for (auto& [key, state] : shard.states) {
      base::MutexLock lock(&state->mu);
      if (state->subscriber != nullptr) subscribers.push_back(std::move(state->subscriber));
      state->live.clear();
      state->live_bytes = 0;
    }
  }
  for (auto& s : subscribers) s->OnClosed(why);
}

}  // namespace alliance::server

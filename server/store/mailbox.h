// Mailbox: durable per-device queues of envelopes, with live delivery (DESIGN §5 Relay, §6).
//
//   Send     assigns the next sequence of the recipient's mailbox and hands one WriteBatch
//            (envelope + dedup record + counter merge) to the CommitPool for a synced write;
//            `done` runs once it is durable. Idempotent on (sender, message id).
//   Receive  Subscribe() then Read() up to Deliverable(): a sequence becomes deliverable once
//            it and every lower sequence have committed, so streams never skip an envelope
//            that commits late.
//   Ack      deletes from the caller's own mailbox, unsynced (a lost ack only redelivers). The
//            dedup record is kept until the retention sweep, so a retry after the ack still
//            stores nothing.
//   Shares   each sender may hold at most max_mailbox_envelopes_per_sender pending envelopes
//            in one mailbox (a per-(mailbox, sender) counter beside the mailbox counter), so
//            one contact cannot fill a therapist's mailbox for every other contact.
//   Sweep    removes envelopes older than the retention period, mailbox by mailbox, starting
//            from each mailbox's oldest entry (sequences grow with time), so it touches
//            O(mailboxes + expired) keys.
//
// Per-mailbox sequence and depth live in a counter key updated by a commutative merge operator
// (db.h), read lazily on first use: startup never scans, and sends never count.
//
// On a database that several relay processes share (RelayDb::shared(), PostgreSQL), nothing
// authoritative is kept in memory: a send reads each destination's counter and writes the
// envelope at the next sequence, expecting that counter's sequence unchanged (KvBatch::Expect),
// so sends to one mailbox commit one at a time in sequence order through any process; the
// committed counter is then the deliverable end, and streams read from the database when woken
// by a local send or a notification from another process (Wake).
//
// Thread-safe. Subscription callbacks are invoked without any Mailbox lock held.
#ifndef ALLIANCE_SERVER_STORE_MAILBOX_H_
#define ALLIANCE_SERVER_STORE_MAILBOX_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/mutex.h"
#include "alliance/v1/relay_service.pb.h"
#include "server/infra/kv.h"
#include "server/infra/clock.h"
#include "server/infra/commit_pool.h"
#include "server/infra/config.h"
#include "server/infra/db.h"
#include "server/infra/metrics.h"

namespace alliance::server {

class Mailbox {
 public:
  // The receiving end of one mailbox (a Receive stream). Methods must not block.
  class Subscription {
   public:
    virtual ~Subscription() = default;
    // New envelopes may have become deliverable.
    virtual void OnAvailable() = 0;
    // The subscription is over (replaced by a newer one, relay shutting down, account erased).
    virtual void OnClosed(absl::Status why) = 0;
  };

  using SendDone = std::function<void(absl::StatusOr<v1::SendResponse>)>;

  // Pointers must outlive the mailbox.
  Mailbox(RelayDb* db, CommitPool* pool, const Clock* clock, const Limits& limits,
          Metrics* metrics);

  // Stores `request` (already validated: version, sizes, type, link, destinations) from
  // `sender`: one envelope per destination (`messages`, or the single `recipient`), all in one
  // synced batch under one dedup record. `done` runs exactly once, possibly on another thread,
  // with the sequences and time or: RESOURCE_EXHAUSTED (a mailbox full), NOT_FOUND (a mailbox
  // erased), ABORTED (same message id in flight), UNAVAILABLE (shutting down), INTERNAL.
  void Send(const v1::Address& sender, const v1::SendRequest& request, SendDone done);

  // Whether `sender_account` already stored a message with `message_id` (a Send of it answers
  // duplicate, whatever its destinations).
  [[nodiscard]] absl::StatusOr<bool> AlreadyStored(std::string_view sender_account,
                                                   std::string_view message_id);

  // Deletes `sequences` from `mailbox`; returns how many were present.
  [[nodiscard]] absl::StatusOr<uint32_t> Ack(
      const v1::Address& mailbox, const google::protobuf::RepeatedField<uint64_t>& sequences);

  // Makes `subscription` the only one of `mailbox` (the previous one gets OnClosed(ABORTED)).
  // Returns the highest deliverable sequence now: the end of the backlog.
  // Errors: NOT_FOUND (mailbox erased), UNAVAILABLE (shutting down).
  [[nodiscard]] absl::StatusOr<uint64_t> Subscribe(const v1::Address& mailbox,
                                                   std::shared_ptr<Subscription> subscription);
  // Removes `subscription` if it is still the current one.
  void Unsubscribe(const v1::Address& mailbox, const Subscription* subscription);

  // Highest sequence s such that every envelope of `mailbox` up to s has committed or failed.
  [[nodiscard]] absl::StatusOr<uint64_t> Deliverable(const v1::Address& mailbox);

  // Live fast path for a subscribed stream: moves out envelopes committed since the stream
  // subscribed, for the consecutive sequences after+1, after+2, ... (up to max_count) that are
  // still held in memory, and sets *deliverable as Deliverable() does. An empty result with
  // *deliverable > after means: read (after, *deliverable] from the database instead.
  // Beyond the first envelope, at most max_bytes are taken.
  [[nodiscard]] absl::Status TakeLive(const v1::Address& mailbox, uint64_t after, size_t max_count,
                                      std::vector<v1::Envelope>* out, uint64_t* deliverable,
                                      size_t max_bytes = SIZE_MAX);

  // Envelopes with after < sequence <= upto, oldest first, at most max_count and, beyond the
  // first, at most max_bytes of stored envelopes (so a stream's buffer is bounded whatever the
  // envelope size). Sets *scanned_upto to the sequence the next Read should continue after.
  [[nodiscard]] absl::StatusOr<std::vector<v1::Envelope>> Read(const v1::Address& mailbox,
                                                               uint64_t after, uint64_t upto,
                                                               size_t max_count,
                                                               uint64_t* scanned_upto,
                                                               size_t max_bytes = SIZE_MAX);

  // Removes envelopes and dedup records older than the retention period. Returns how many
  // envelopes.
  [[nodiscard]] absl::StatusOr<uint64_t> SweepExpired();

  // Adds to `batch` the deletion of the dedup records of everything `account_id` sent.
  [[nodiscard]] absl::Status AddEraseSent(std::string_view account_id, KvBatch* batch);

  // Ends the streams of the devices `device_ids` of `account_id` with `why` and refuses further
  // sends to them, then adds the deletion of their envelopes (and dedup records) to `batch`,
  // and a closed counter that refuses sends through every process once written. If the batch
  // is not written, call Reopen.
  [[nodiscard]] absl::Status CloseAndErase(std::string_view account_id,
                                           absl::Span<const uint32_t> device_ids,
                                           absl::Status why, KvBatch* batch);

  // After CloseAndErase's batch failed to be written: sends and subscriptions to those
  // mailboxes are accepted again (their streams, ended, reconnect).
  void Reopen(std::string_view account_id, absl::Span<const uint32_t> device_ids);

  // Ends every stream with `why` and refuses new subscriptions. For shutdown.
  void CloseAll(absl::Status why);

  // Wakes the stream of the mailbox `mailbox_key` (every stream when empty): something may
  // have been committed there by another relay process (RelayDb::Listen). "c" || mailbox key:
  // another process erased that mailbox (CloseAndErase); its stream here ends and sends to it
  // are refused.
  void Wake(std::string_view mailbox_key);

 private:
  struct State;
  // One destination of a send.
  struct Destination {
    const v1::Address* address;
    v1::EnvelopeType type;
    const std::string* payload;
    std::string mailbox_key;
    std::shared_ptr<State> state;
    uint64_t sequence = 0;
  };
  struct State {
    // Shared databases: held by this process's send to the mailbox (SendShared), across its
    // database round trips. Never taken while holding `mu`.
    base::Mutex send_mu;
    std::atomic<int> send_waiting{0};  // sends waiting for send_mu
    base::Mutex mu;
    bool loaded ABSL_GUARDED_BY(mu) = false;
    bool closed ABSL_GUARDED_BY(mu) = false;
    uint64_t next_sequence ABSL_GUARDED_BY(mu) = 1;
    int64_t depth ABSL_GUARDED_BY(mu) = 0;           // committed + reserved
    std::set<uint64_t> pending ABSL_GUARDED_BY(mu);  // reserved, not yet committed
    // Pending envelopes per sender account, loaded per sender on first use.
    absl::flat_hash_map<std::string, int64_t> sender_depth ABSL_GUARDED_BY(mu);
    std::shared_ptr<Subscription> subscriber ABSL_GUARDED_BY(mu);
    // Committed envelopes not yet taken by the subscriber (only while one exists; bounded).
    std::map<uint64_t, v1::Envelope> live ABSL_GUARDED_BY(mu);
    size_t live_bytes ABSL_GUARDED_BY(mu) = 0;  // ByteSizeLong() of what `live` holds
  };
  struct Shard {
    base::Mutex mu;
    absl::flat_hash_map<std::string, std::shared_ptr<State>> states ABSL_GUARDED_BY(mu);
  };

  std::shared_ptr<State> GetState(const std::string& mailbox_key);
  // The state if this process holds one, or nullptr (creates none).
  std::shared_ptr<State> FindState(const std::string& mailbox_key);
  absl::Status EnsureLoaded(State* state, const std::string& mailbox_key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu);
  static uint64_t DeliverableLocked(const State& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.mu);
  absl::StatusOr<int64_t*> SenderDepthLocked(State* state, const std::string& mailbox_key,
                                             const std::string& sender)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu);
  void ReleaseSenderLocked(State* state, const std::string& sender, int64_t n)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu);
  absl::StatusOr<v1::SendResponse> DuplicateResponse(const std::string& raw);
  // The envelope `request` stores for `d` (its sequence assigned).
  static v1::Envelope MakeEnvelope(const v1::SendRequest& request, const v1::Address& sender,
                                   const Destination& d, uint64_t now_ms);
  // Adds the envelope and its mailbox and per-sender counter updates to `batch`.
  static void AddEnvelope(const v1::Envelope& envelope, const Destination& d, KvBatch* batch);
  // The counter stored at `key` (zero when absent); `raw`, when given, gets the stored bytes.
  absl::StatusOr<MailboxCounter> ReadCounter(const std::string& key,
                                             std::optional<std::string>* raw);
  // Send on a shared database (RelayDb::shared()): nothing reserved in memory; see the .cc.
  absl::StatusOr<v1::SendResponse> SendShared(const v1::Address& sender,
                                              const v1::SendRequest& request,
                                              std::vector<Destination>* destinations,
                                              const std::string& dedup_key)
      ABSL_NO_THREAD_SAFETY_ANALYSIS;  // locks a run of send_mu in key order
  absl::StatusOr<v1::SendResponse> SendSharedOnce(const v1::Address& sender,
                                                  const v1::SendRequest& request,
                                                  std::vector<Destination>* destinations,
                                                  const std::string& dedup_key);
  absl::StatusOr<uint32_t> AckOnce(const v1::Address& mailbox,
                                   const google::protobuf::RepeatedField<uint64_t>& sequences);
  absl::StatusOr<uint64_t> ExpireMailbox(const std::string& mailbox_key, uint64_t cutoff_ms);
  absl::StatusOr<uint64_t> SweepDedup(uint64_t cutoff_ms);
  // Completes a send once its batch is written (or failed): `envelopes[i]` went to
  // `states[i]`.
  void FinishSend(const std::vector<std::shared_ptr<State>>& states,
                  std::vector<v1::Envelope>* envelopes, const std::string& dedup_key,
                  absl::Status status, v1::SendResponse response, const SendDone& done);

  RelayDb* const db_;
  CommitPool* const pool_;
  const Clock* const clock_;
  const Limits limits_;
  Metrics* const metrics_;
  std::array<Shard, 32> shards_;
  base::Mutex inflight_mu_;
  absl::flat_hash_set<std::string> inflight_ ABSL_GUARDED_BY(inflight_mu_);
  base::Mutex closing_mu_;
  bool closing_ ABSL_GUARDED_BY(closing_mu_) = false;
};

// account (16) || device u32: the mailbox key prefix (and its counter key).
std::string MailboxKey(const v1::Address& address);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_STORE_MAILBOX_H_

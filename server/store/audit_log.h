// AuditLog: the hash-chained log of security events (DESIGN §5, issue 3). Never content and
// never per-message metadata: registrations, logins, invites, key publication, deactivation
// and deletion only.
//
//   KvBatch batch;
//   batch.Put(...);                                  // the operation itself
//   AuditLog::Event e{.event = v1::AUDIT_EVENT_REGISTERED, .subject = account_id};
//   ALLIANCE_RETURN_IF_ERROR(audit->Commit(&batch, e));   // one batch, synced
//
// Entry n stores prev_hash = hash(n-1) (32 zero bytes for n = 1); hash(n) = BLAKE2b-256 of the
// stored encoding. The head (last sequence and hash) lives in meta and is updated in the same
// batch. Security events (IsSecurityEvent) are also indexed in meta under
// "audit_sec" || sequence u64, so that they stay findable however many routine entries follow.
// Thread-safe: appends are serialized so that chain order equals commit order, across relay
// processes too (each append expects the head it extends; KvBatch::Expect).
#ifndef ALLIANCE_SERVER_STORE_AUDIT_LOG_H_
#define ALLIANCE_SERVER_STORE_AUDIT_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "alliance/v1/clinic_service.pb.h"
#include "server/infra/kv.h"
#include "server/infra/clock.h"
#include "server/infra/db.h"

namespace alliance::server {

class AuditLog {
 public:
  struct Event {
    v1::AuditEvent event = v1::AUDIT_EVENT_UNSPECIFIED;
    std::string actor;      // account id or empty
    std::string subject;    // account id or empty
    std::string invite_id;  // or empty
    v1::Role role = v1::ROLE_UNSPECIFIED;
    uint32_t count = 0;
    uint32_t device_id = 0;
  };

  // Loads the chain head. `db` and `clock` must outlive the log.
  // Errors: INTERNAL (unreadable head).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AuditLog>> Open(RelayDb* db,
                                                                      const Clock* clock);

  // Appends `events` (in order) to `batch` and writes the batch with sync = true. On error
  // nothing is written and the chain is unchanged.
  [[nodiscard]] absl::Status Commit(KvBatch* batch, const std::vector<Event>& events);
  [[nodiscard]] absl::Status Commit(KvBatch* batch, const Event& event) {
    return Commit(batch, std::vector<Event>{event});
  }

  // Entries with sequence > after, at most `limit`, oldest first, each with its hash filled;
  // with `security_only`, only security events (read through their index).
  [[nodiscard]] absl::StatusOr<std::vector<v1::AuditEntry>> Read(uint64_t after, uint32_t limit,
                                                                 bool security_only = false);

  // Registrations, redeemed or revoked invites, deactivations, deletions, initialization,
  // restores, device lists and removed devices.
  static bool IsSecurityEvent(v1::AuditEvent event);

  // Recomputes the whole chain and compares it with the stored head.
  // Returns the number of entries. Errors: DATA_LOSS (gap, broken link or head mismatch),
  // INTERNAL (I/O).
  [[nodiscard]] static absl::StatusOr<uint64_t> Verify(RelayDb* db);

 private:
  AuditLog(RelayDb* db, const Clock* clock) : db_(db), clock_(clock) {}
  // Reads the head from the database; true when it differs from the one held.
  absl::StatusOr<bool> ReloadHeadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RelayDb* const db_;
  const Clock* const clock_;
  base::Mutex mu_;
  uint64_t head_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  std::string head_hash_ ABSL_GUARDED_BY(mu_);
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_STORE_AUDIT_LOG_H_

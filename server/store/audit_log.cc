#include "server/store/audit_log.h"

#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"

namespace alliance::server {
namespace {

constexpr std::string_view kHeadKey = "audit_head";

std::string EncodeHead(uint64_t sequence, const std::string& hash) {
  std::string out;
  base::AppendU64BE(&out, sequence);
  out += hash;
  return out;
}

std::string SequenceKey(uint64_t sequence) {
  std::string key;
  base::AppendU64BE(&key, sequence);
  return key;
}

constexpr std::string_view kSecurityIndexPrefix = "audit_sec";

std::string SecurityIndexKey(uint64_t sequence) {
  std::string key(kSecurityIndexPrefix);
  base::AppendU64BE(&key, sequence);
  return key;
}

}  // namespace

bool AuditLog::IsSecurityEvent(v1::AuditEvent event) {
  switch (event) {
    case v1::AUDIT_EVENT_RELAY_INITIALIZED:
    case v1::AUDIT_EVENT_RELAY_RESTORED:
    case v1::AUDIT_EVENT_REGISTERED:
    case v1::AUDIT_EVENT_INVITE_REDEEMED:
    case v1::AUDIT_EVENT_INVITE_REVOKED:
    case v1::AUDIT_EVENT_ACCOUNT_DEACTIVATED:
    case v1::AUDIT_EVENT_ACCOUNT_DELETED:
    case v1::AUDIT_EVENT_DEVICE_LIST_PUBLISHED:
    case v1::AUDIT_EVENT_DEVICE_REMOVED:
    case v1::AUDIT_EVENT_DEVICE_LINKED:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(RelayDb* db, const Clock* clock) {
  auto log = std::unique_ptr<AuditLog>(new AuditLog(db, clock));
  ALLIANCE_ASSIGN_OR_RETURN(auto head, db->Get(Cf::kMeta, kHeadKey));
  base::MutexLock lock(&log->mu_);
  if (!head) {
    log->head_hash_ = std::string(kHashSize, '\0');
  } else if (head->size() == 8 + kHashSize) {
    log->head_sequence_ = base::ReadU64BE(head->data());
    log->head_hash_ = head->substr(8);
  } else {
    return absl::InternalError("audit head unreadable");
  }
  return log;
}

absl::Status AuditLog::Commit(KvBatch* batch, const std::vector<Event>& events) {
  base::MutexLock lock(&mu_);
  const size_t own = batch->Count();
  // Several relay processes may append to one chain (PostgreSQL): each append expects the head
  // it extends, so two appends never both follow one entry; the loser reloads the head and
  // extends the winner's. (One process: the head is never stale and the first try succeeds.)
  for (int attempt = 0;; ++attempt) {
    batch->Truncate(own);
    batch->Expect(Cf::kMeta, kHeadKey,
                  head_sequence_ == 0 ? std::nullopt
                                      : std::optional<std::string>(
                                            EncodeHead(head_sequence_, head_hash_)));
    uint64_t sequence = head_sequence_;
    std::string hash = head_hash_;
    for (const Event& event : events) {
      v1::AuditEntry entry;
      entry.set_sequence(++sequence);
      entry.set_time(clock_->NowUnixSeconds());
      entry.set_event(event.event);
      entry.set_actor_account_id(event.actor);
      entry.set_subject_account_id(event.subject);
      entry.set_invite_id(event.invite_id);
      entry.set_role(event.role);
      entry.set_count(event.count);
      entry.set_device_id(event.device_id);
      entry.set_prev_hash(hash);
      std::string encoded;
      if (!entry.SerializeToString(&encoded)) return absl::InternalError("audit encode");
      hash = Blake2b256(encoded);
      batch->Put(Cf::kAudit, SequenceKey(sequence), encoded);
      if (IsSecurityEvent(event.event))
        batch->Put(Cf::kMeta, SecurityIndexKey(sequence), "");
    }
    batch->Put(Cf::kMeta, kHeadKey, EncodeHead(sequence, hash));
    absl::Status written = db_->Write(batch, /*sync=*/true);
    if (written.ok()) {
      head_sequence_ = sequence;
      head_hash_ = std::move(hash);
      return absl::OkStatus();
    }
    if (!IsWriteConflict(written) || attempt == 63) return written;
    // Another process appended, or the caller's own expectation failed: only the first is
    // retried here (the caller reads again for the second).
    ALLIANCE_ASSIGN_OR_RETURN(const bool moved, ReloadHeadLocked());
    if (!moved) return written;
    for (size_t i = 0; i < own; ++i) {
      const KvBatch::Entry& e = batch->entries()[i];
      if (!KvBatch::IsExpectation(e.op)) continue;
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> stored, db_->Get(e.cf, e.key));
      if (!KvBatch::Holds(e, stored)) return written;
    }
  }
}

absl::StatusOr<bool> AuditLog::ReloadHeadLocked() {
  ALLIANCE_ASSIGN_OR_RETURN(auto head, db_->Get(Cf::kMeta, kHeadKey));
  uint64_t sequence = 0;
  std::string hash(kHashSize, '\0');
  if (head) {
    if (head->size() != 8 + kHashSize) return absl::InternalError("audit head unreadable");
    sequence = base::ReadU64BE(head->data());
    hash = head->substr(8);
  }
  const bool moved = sequence != head_sequence_ || hash != head_hash_;
  head_sequence_ = sequence;
  head_hash_ = std::move(hash);
  return moved;
}

absl::StatusOr<std::vector<v1::AuditEntry>> AuditLog::Read(uint64_t after, uint32_t limit,
                                                           bool security_only) {
  std::vector<v1::AuditEntry> out;
  if (security_only) {
    std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kMeta);
    for (it->Seek(SecurityIndexKey(after + 1));
         it->Valid() && it->key().starts_with(kSecurityIndexPrefix) && out.size() < limit;
         it->Next()) {
      if (it->key().size() != kSecurityIndexPrefix.size() + 8) continue;
      uint64_t sequence = base::ReadU64BE(it->key().data() + kSecurityIndexPrefix.size());
      ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kAudit, SequenceKey(sequence)));
      v1::AuditEntry entry;
      if (!raw || !entry.ParseFromString(*raw))
        return absl::InternalError("audit entry unreadable");
      entry.set_hash(Blake2b256(*raw));
      out.push_back(std::move(entry));
    }
    ALLIANCE_RETURN_IF_ERROR(it->status());
    return out;
  }
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kAudit);
  for (it->Seek(SequenceKey(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
    v1::AuditEntry entry;
    if (!entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::InternalError("audit entry unreadable");
    }
    entry.set_hash(Blake2b256(std::string_view(it->value().data(), it->value().size())));
    out.push_back(std::move(entry));
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  return out;
}

absl::StatusOr<uint64_t> AuditLog::Verify(RelayDb* db) {
  std::string prev(kHashSize, '\0');
  uint64_t expected = 1;
  std::unique_ptr<KvIterator> it = db->NewIterator(Cf::kAudit);
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++expected) {
    if (it->key().size() != 8 || base::ReadU64BE(it->key().data()) != expected) {
      return absl::DataLossError(absl::StrCat("audit gap before entry ", expected));
    }
    std::string_view value(it->value().data(), it->value().size());
    v1::AuditEntry entry;
    if (!entry.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
        entry.sequence() != expected || !entry.hash().empty() ||
        !ConstantTimeEquals(entry.prev_hash(), prev)) {
      return absl::DataLossError(absl::StrCat("audit chain broken at entry ", expected));
    }
    prev = Blake2b256(value);
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  uint64_t count = expected - 1;
  ALLIANCE_ASSIGN_OR_RETURN(auto head, db->Get(Cf::kMeta, kHeadKey));
  std::string want = EncodeHead(count, prev);
  if (count == 0 && !head) return count;
  if (!head || *head != want) return absl::DataLossError("audit head does not match the chain");
  return count;
}

}  // namespace alliance::server

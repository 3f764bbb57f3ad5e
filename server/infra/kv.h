// The relay's storage seam: an ordered key-value store with column families, atomic batches
// and range iteration. Every store (mailbox, directory, prekeys, audit log, sessions, blobs)
// speaks only this; RelayDb (db.h) has two implementations of it: RocksDB, embedded, the
// default, and PostgreSQL (pg_db.h), one table per column family, for relays that must survive
// the loss of a machine.
//
//   KvBatch batch;
//   batch.Put(Cf::kLinks, key, value);
//   batch.Delete(Cf::kInvites, invite_id);
//   ALLIANCE_RETURN_IF_ERROR(db->Write(&batch, /*sync=*/true));
//
//   for (auto it = db->NewIterator(Cf::kMailbox, /*upper=*/end); ...) it->Seek(begin) ...
//
// Keys order as unsigned bytes (memcmp, shorter first on a tie) in both implementations.
#ifndef ALLIANCE_SERVER_INFRA_KV_H_
#define ALLIANCE_SERVER_INFRA_KV_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace alliance::server {

enum class Cf : int {
  kDefault = 0,
  kMeta,
  kAccounts,
  kIdentity,
  kOneTime,
  kMailbox,
  kDedup,
  kSessions,
  kInvites,
  kLinks,
  kAudit,
  kBlobs,
  kCount,
};

// The column families' names: RocksDB's column family names, and the PostgreSQL tables
// "alliance_<name>".
const char* CfName(Cf which);

// A group of writes applied atomically by RelayDb::Write, in order.
class KvBatch {
 public:
  enum class Op : uint8_t {
    kPut,
    kDelete,
    // Combines `value` with the stored value by the column family's merge rule. Only
    // Cf::kMailbox has one: MailboxCounter's (max, sum) (db.h).
    kMerge,
    // Deletes every key k with key <= k < value.
    kDeleteRange,
    // Writes nothing. The whole batch fails with ABORTED (kWriteConflict), writing nothing,
    // unless `key` holds exactly `value` (kExpect) or is absent (kExpectAbsent) when the batch
    // applies: checked atomically with the batch's writes, and serialized with every other
    // batch that expects the same key, in any relay process on the same database. A record
    // updated from a read is thus written only if nobody changed it since (one-time prekeys,
    // invites, login challenges, the audit chain head, mailbox sequences).
    kExpect,
    kExpectAbsent,
    // As kExpect, but the stored value need only begin with `value` (a mailbox counter's
    // sequence half, whatever its depth half).
    kExpectPrefix,
    // Writes nothing and always holds, but serializes the batch as an expectation of `key`
    // would: a batch that locks a key and one that expects it apply one after the other, the
    // second seeing what the first committed (an erasure and the sends to the mailbox it
    // erases).
    kLock,
    // PostgreSQL: once the batch commits, every relay process on the database that listens
    // (RelayDb::Listen) is woken with `key` (a mailbox). RocksDB: nothing (one process).
    kNotify,
  };
  struct Entry {
    Op op;
    Cf cf;
    std::string key;
    std::string value;  // kPut, kMerge: the value; kDeleteRange: the end (exclusive)
  };

  void Put(Cf cf, std::string_view key, std::string_view value) {
    entries_.push_back({Op::kPut, cf, std::string(key), std::string(value)});
  }
  void Delete(Cf cf, std::string_view key) {
    entries_.push_back({Op::kDelete, cf, std::string(key), {}});
  }
  void Merge(Cf cf, std::string_view key, std::string_view value) {
    entries_.push_back({Op::kMerge, cf, std::string(key), std::string(value)});
  }
  void DeleteRange(Cf cf, std::string_view begin, std::string_view end) {
    entries_.push_back({Op::kDeleteRange, cf, std::string(begin), std::string(end)});
  }
  // `value`: what `key` must hold; std::nullopt: it must be absent.
  void Expect(Cf cf, std::string_view key, const std::optional<std::string>& value) {
    entries_.push_back({value ? Op::kExpect : Op::kExpectAbsent, cf, std::string(key),
                        value.value_or(std::string())});
  }
  void ExpectPrefix(Cf cf, std::string_view key, std::string_view prefix) {
    entries_.push_back({Op::kExpectPrefix, cf, std::string(key), std::string(prefix)});
  }
  void Lock(Cf cf, std::string_view key) {
    entries_.push_back({Op::kLock, cf, std::string(key), {}});
  }
  void Notify(std::string_view key) { entries_.push_back({Op::kNotify, Cf::kDefault, std::string(key), {}}); }
  // Drops the entries after the first `n` (a write retried with a recomputed tail).
  void Truncate(size_t n) {
    if (n < entries_.size()) entries_.resize(n);
  }
  bool HasExpectations() const {
    for (const Entry& e : entries_) {
      if (IsExpectation(e.op)) return true;
    }
    return false;
  }

  static bool IsExpectation(Op op) {
    return op == Op::kExpect || op == Op::kExpectAbsent || op == Op::kExpectPrefix ||
           op == Op::kLock;
  }
  // Whether `stored` (std::nullopt: absent) meets the expectation `e`.
  static bool Holds(const Entry& e, const std::optional<std::string_view>& stored) {
    switch (e.op) {
      case Op::kExpect: return stored.has_value() && *stored == e.value;
      case Op::kExpectAbsent: return !stored.has_value();
      case Op::kExpectPrefix: return stored.has_value() && stored->starts_with(e.value);
      default: return true;
    }
  }

  size_t Count() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void Clear() { entries_.clear(); }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// What a batch whose expectation failed answers (ABORTED): nothing was written; read again and
// retry.
inline constexpr const char* kWriteConflict = "storage: changed concurrently; retry";
inline bool IsWriteConflict(const absl::Status& s) {
  return absl::IsAborted(s) && s.message() == kWriteConflict;
}

// A key or value seen through an iterator; valid until the iterator moves.
class KvSlice : public std::string_view {
 public:
  using std::string_view::string_view;
  KvSlice(std::string_view v) : std::string_view(v) {}  // NOLINT: implicit by design
  std::string_view ToStringView() const { return *this; }
  std::string ToString() const { return std::string(*this); }
};

// Forward iteration over one column family in key order, up to an optional exclusive upper
// bound. Not a snapshot in the PostgreSQL implementation: keys written behind the cursor may
// or may not be seen, so callers tolerate both (every store's scans do).
class KvIterator {
 public:
  virtual ~KvIterator() = default;
  virtual void SeekToFirst() = 0;
  // First key >= `target`.
  virtual void Seek(std::string_view target) = 0;
  // Last key <= `target` (then Next() goes on forward).
  virtual void SeekForPrev(std::string_view target) = 0;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  virtual KvSlice key() const = 0;
  virtual KvSlice value() const = 0;
  // Non-OK when iteration stopped on an error (Valid() is then false).
  virtual absl::Status status() const = 0;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_KV_H_

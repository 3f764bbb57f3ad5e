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

  size_t Count() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void Clear() { entries_.clear(); }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

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

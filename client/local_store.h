// The client's local store: a RocksDB whose keys are keyed-BLAKE2b names and whose values are
// sealed with the store key (crypto/sealed_store.h). Nothing in the directory reveals an
// identifier, a key or a message without the passphrase.
//
// Layout of a profile directory:
//   key.pb   the store key wrapped by the passphrase (v1::WrappedStoreKey; no secret in clear)
//   db/      RocksDB
//
// RocksDB allows one process at a time. A store opened with `hold_open = false` opens the
// database only for the duration of each transaction (Run), so several processes (a long-running
// `alliance watch` and a `alliance send`) take turns; Run waits up to `lock_wait` for the other.
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto store, LocalStore::Open(dir, passphrase, options));
//   ALLIANCE_RETURN_IF_ERROR(store->Run([&](LocalStore::Txn& txn) -> absl::Status {
//     ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c, txn.Get<v1::ContactRecord>(n));
//     txn.Put(n, record);
//     return absl::OkStatus();   // committed with a synced write; an error commits nothing
//   }));
//
// Thread safety: Run calls are serialized by an internal mutex.
#ifndef ALLIANCE_CLIENT_LOCAL_STORE_H_
#define ALLIANCE_CLIENT_LOCAL_STORE_H_

#include <google/protobuf/message.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "absl/time/time.h"
#include "crypto/sealed_store.h"
#include "crypto/secret.h"

namespace rocksdb {
class DB;
class WriteBatchWithIndex;
}  // namespace rocksdb

#include "client/options.h"

namespace alliance::client {

class LocalStore {
 public:
  class Txn;

  // Creates a new profile directory (must not contain a profile). ALREADY_EXISTS if it does;
  // INVALID_ARGUMENT for an empty passphrase; UNAVAILABLE if the directory cannot be written.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LocalStore>> Create(
      const std::string& dir, crypto::ByteSpan passphrase, const LocalStoreOptions& options = {});
  // Opens an existing profile. NOT_FOUND if there is none; PERMISSION_DENIED for a wrong
  // passphrase; DATA_LOSS if the key file or database is damaged.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LocalStore>> Open(
      const std::string& dir, crypto::ByteSpan passphrase, const LocalStoreOptions& options = {});

  ~LocalStore();

  // Runs `fn` as one transaction: reads see the database, writes are buffered and committed
  // atomically if `fn` returns OK, discarded otherwise. Returns fn's status, UNAVAILABLE if
  // another process holds the database longer than lock_wait, RESOURCE_EXHAUSTED when the disk
  // holding the profile is (nearly) full (nothing written; retry once space is freed), or
  // DATA_LOSS.
  // With `sync` (the default) the commit reaches the disk before Run returns; pass false only
  // for writes whose loss after a crash is harmless (e.g. bookkeeping that is redone).
  [[nodiscard]] absl::Status Run(const std::function<absl::Status(Txn&)>& fn, bool sync = true);

  const std::string& dir() const { return dir_; }

 private:
  LocalStore(std::string dir, crypto::StoreKey key, LocalStoreOptions options);
  absl::Status OpenDb() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseDb() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With options_.linger: closes the database once it has been idle that long.
  void CloseWhenIdle() ABSL_LOCKS_EXCLUDED(mu_);

  std::string dir_;
  crypto::StoreKey key_;
  LocalStoreOptions options_;
  base::Mutex mu_;
  std::unique_ptr<rocksdb::DB> db_ ABSL_GUARDED_BY(mu_);  // Null while closed.
  absl::Time last_used_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread closer_;  // Runs CloseWhenIdle when options_.linger is set.
};

// A transaction's view. Names are logical ("contact/<hex id>"); the store hashes them.
class LocalStore::Txn {
 public:
  // Reads and opens a value. Returns nullopt when absent; DATA_LOSS when damaged.
  [[nodiscard]] absl::StatusOr<std::optional<crypto::SecretBytes>> GetBytes(
      const std::string& name);
  // Reads a record. nullopt when absent; DATA_LOSS when damaged or unparsable.
  template <typename Record>
  [[nodiscard]] absl::StatusOr<std::optional<Record>> Get(const std::string& name) {
    Record r;
    absl::StatusOr<bool> found = GetRecord(name, &r);
    if (!found.ok()) return found.status();
    if (!*found) return std::nullopt;
    return r;
  }
  // Seals and buffers a write; later Gets in the same transaction see it.
  [[nodiscard]] absl::Status PutBytes(const std::string& name, crypto::ByteSpan value);
  [[nodiscard]] absl::Status Put(const std::string& name, const google::protobuf::Message& record);
  void Delete(const std::string& name);

 private:
  friend class LocalStore;
  Txn(rocksdb::DB* db, const crypto::StoreKey* key, rocksdb::WriteBatchWithIndex* batch)
      : db_(db), key_(key), batch_(batch) {}
  absl::StatusOr<bool> GetRecord(const std::string& name, google::protobuf::Message* record);

  rocksdb::DB* db_;
  const crypto::StoreKey* key_;
  rocksdb::WriteBatchWithIndex* batch_;
};

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_LOCAL_STORE_H_

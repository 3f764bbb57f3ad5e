// RelayDb: the relay's database and its column families (DESIGN §6), behind the storage seam
// of kv.h. Two implementations: RocksRelayDb (here; one embedded RocksDB, the default) and
// PgRelayDb (pg_db.h; PostgreSQL, one table per column family).
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto db, RocksRelayDb::Create(dir));   // `alliance-relay init`
//   ALLIANCE_ASSIGN_OR_RETURN(auto db, RocksRelayDb::Open(dir));     // `serve`, `check`
//   KvBatch batch;
//   batch.Put(Cf::kLinks, key, value);
//   ALLIANCE_RETURN_IF_ERROR(db->Write(&batch, /*sync=*/true));
//
// Column families and their keys (all integers big-endian):
//   meta      "schema_version" -> u32; "relay_id" -> 16 bytes; "audit_head" -> seq u64 || hash 32;
//             "audit_sec" || seq u64 -> "" (index of security events in the audit log)
//   accounts  account id (16) -> AccountRecord
//   identity  'k' || identity key (32) -> account id; 's' || account || device u32 -> DeviceKeys
//   onetime   account (16) || device u32 || prekey id u32 -> X25519 public key (32)
//   mailbox   account || device u32 (20 bytes) -> MailboxCounter (merge operator, below);
//             account || device u32 || sequence u64 (28 bytes) -> alliance.v1.Envelope;
//             account || device u32 || 8 x 0xff || sender account (44 bytes) -> MailboxCounter
//             (that sender's pending envelopes in the mailbox; only depth is used)
//   dedup     sender account (16) || message id (16) -> DedupRecord (kept until retention);
//             'x' || server time ms u64 || sender || message id (41 bytes) -> "" (sweep order)
//   sessions  't' || BLAKE2b(token) -> SessionRecord; 'a' || account || BLAKE2b(token) -> "";
//             'l' || account || device u32 -> last login day u64; 'k' || link id -> LinkSlotRecord
//   invites   BLAKE2b(code) -> InviteRecord; 'c' || creator (16) || BLAKE2b(code) -> ""
//   links     account || account -> LinkRecord (both directions)
//   audit     sequence u64 -> alliance.v1.AuditEntry encoding (hash unset)
//   blobs     encrypted attachments, values in RocksDB's blob files (server/store/blob_store.h)
//
// Opening reads a handful of meta keys and never scans data, so startup time does not grow with
// the database. Thread-safe (RocksDB is); Close() must not race other calls.
#ifndef ALLIANCE_SERVER_INFRA_DB_H_
#define ALLIANCE_SERVER_INFRA_DB_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "server/infra/kv.h"

namespace alliance::server {

// 1: first release. 2: accounts list their devices (AccountRecord.devices, next_device_id).
// 3: column family "blobs" (attachments).
inline constexpr uint32_t kSchemaVersion = 3;

// Value of a mailbox counter key: highest sequence ever assigned (u64) || pending envelopes
// (i64), both big-endian. Merge operands have the same layout and combine as (max, sum), so
// concurrent sends and acks can update it in any commit order without a read.
struct MailboxCounter {
  // The highest sequence of an erased mailbox (Mailbox::CloseAndErase): both merges, RocksDB's
  // unsigned and PostgreSQL's signed, keep it, and nothing is stored there again.
  static constexpr uint64_t kClosedSequence = uint64_t{INT64_MAX};
  uint64_t max_sequence = 0;
  int64_t depth = 0;
  bool closed() const { return max_sequence >= kClosedSequence; }
  std::string Encode() const;
  // std::nullopt unless exactly 16 bytes.
  static std::optional<MailboxCounter> Decode(std::string_view bytes);
};

// Converts a RocksDB status to absl (IsNotFound -> NOT_FOUND, IsNoSpace -> RESOURCE_EXHAUSTED,
// others -> INTERNAL/UNAVAILABLE).
absl::Status FromRocks(const rocksdb::Status& s);

// What a write answers while the storage is (nearly) full.
inline constexpr const char* kStorageFull = "relay storage is full; retry later";
// Writes are refused while the filesystem holding the database has less free than 5% of its
// size, at most this much: room for memtable flushes and compactions, which RocksDB cannot
// survive failing for lack of space. Default: 256 MiB.
inline constexpr uint64_t kMaxFreeSpaceReserve = 256ull << 20;

class RocksRelayDb;

// The storage seam (kv.h) plus what every relay database has: a relay id and a schema version
// in Cf::kMeta. Thread-safe; Close() must not race other calls.
class RelayDb {
 public:
  virtual ~RelayDb() = default;

  // The relay id (16 bytes), fixed at creation.
  const std::string& relay_id() const { return relay_id_; }

  // Applies `batch` atomically; with `sync` it returns once the write is durable (RocksDB: WAL
  // synced; PostgreSQL: committed with synchronous_commit on). Errors: RESOURCE_EXHAUSTED
  // (kStorageFull) while storage is full, nothing written; ABORTED (PostgreSQL: the
  // transaction lost a conflict, nothing written; retry); UNAVAILABLE; INTERNAL.
  [[nodiscard]] virtual absl::Status Write(KvBatch* batch, bool sync) = 0;
  // Reads one key; std::nullopt when absent. Errors: UNAVAILABLE, INTERNAL.
  [[nodiscard]] virtual absl::StatusOr<std::optional<std::string>> Get(Cf which,
                                                                       std::string_view key) = 0;
  // Reads several keys (one round trip on PostgreSQL); std::nullopt for each one absent.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::optional<std::string>>> GetMany(
      const std::vector<std::pair<Cf, std::string>>& keys) {
    std::vector<std::optional<std::string>> out;
    out.reserve(keys.size());
    for (const auto& [cf, key] : keys) {
      absl::StatusOr<std::optional<std::string>> value = Get(cf, key);
      if (!value.ok()) return value.status();
      out.push_back(*std::move(value));
    }
    return out;
  }
  // Iterates `which` in key order, below `upper` when it is not empty.
  [[nodiscard]] virtual std::unique_ptr<KvIterator> NewIterator(Cf which,
                                                                std::string_view upper = {}) = 0;
  // A cheap estimate of the number of keys in `which` (metrics, `check`).
  [[nodiscard]] virtual uint64_t EstimateKeys(Cf which) = 0;
  // The RocksDB underneath, or nullptr (PostgreSQL): checkpoints, properties, disk checks.
  virtual RocksRelayDb* rocks() { return nullptr; }
  // "rocksdb" or "postgres".
  virtual std::string_view backend() const = 0;

  // Whether several relay processes may serve this database at once (PostgreSQL). The stores
  // then keep nothing authoritative in memory: what another process may change is read from
  // the database and written under expectations (KvBatch::Expect).
  virtual bool shared() const { return false; }

  // Calls `wake(key)` for every KvBatch::Notify(key) committed by any relay process on this
  // database, from a thread of its own, and `wake("")` whenever notifications may have been
  // missed (a reconnection, and every few seconds): a missed wake-up only delays. RocksDB:
  // never calls it. At most one listener; Close() stops it.
  [[nodiscard]] virtual absl::Status Listen(std::function<void(std::string_view key)> wake) {
    (void)wake;
    return absl::OkStatus();
  }

  // A role that one relay process holds at a time (the retention sweep). Released when
  // destroyed, or when the process dies.
  class Exclusive {
   public:
    virtual ~Exclusive() = default;
  };
  // The role `name` for this process, or nullptr while another process holds it. RocksDB: one
  // process owns the database, so always granted.
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<Exclusive>> TryExclusive(
      std::string_view name) {
    (void)name;
    return std::make_unique<Exclusive>();
  }

  // Makes the database durable and closes it. Idempotent.
  [[nodiscard]] virtual absl::Status Close() = 0;

  // The schema version recorded in meta. Errors: DATA_LOSS (missing or malformed).
  [[nodiscard]] absl::StatusOr<uint32_t> SchemaVersion();
  // Adds "record schema version `version`" to `batch` (a migration's last step).
  static void PutSchemaVersion(KvBatch* batch, uint32_t version);

 protected:
  RelayDb() = default;
  // Writes a new relay id and the current schema version (a database being created).
  [[nodiscard]] absl::Status InitializeMeta();
  // Checks the schema version (newer: refused; older: refused unless `allow_older`, with
  // `migrate_hint` naming the command) and loads the relay id.
  [[nodiscard]] absl::Status LoadMeta(bool allow_older, std::string_view where,
                                      std::string_view migrate_hint);

  std::string relay_id_;
};

// The embedded RocksDB implementation: one database, one column family per Cf.
class RocksRelayDb final : public RelayDb {
 public:
  // Creates a new database in `dir` (which must not hold one), with the schema version and a
  // fresh random relay id. Errors: ALREADY_EXISTS, INTERNAL (I/O).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RelayDb>> Create(const std::string& dir);
  // Opens an existing database. Errors: NOT_FOUND (no database), FAILED_PRECONDITION (schema
  // version differs: a newer one needs a newer relay, an older one `migrate`; the message says
  // which), INTERNAL (I/O or corruption).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RelayDb>> Open(const std::string& dir);
  // Opens an existing database read-only (a backup being verified): nothing in `dir` is
  // written, and writes through this object fail. Errors: as Open.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RelayDb>> OpenReadOnly(
      const std::string& dir);
  // As Open, but also accepts an older schema version (for `migrate` only; a newer one is
  // still refused).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RelayDb>> OpenForMigration(
      const std::string& dir);

  ~RocksRelayDb() override;
  RocksRelayDb(const RocksRelayDb&) = delete;
  RocksRelayDb& operator=(const RocksRelayDb&) = delete;

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(Cf which) const { return handles_[static_cast<int>(which)]; }
  const std::string& dir() const { return dir_; }

  // Errors as RelayDb::Write; RESOURCE_EXHAUSTED also while the disk is nearly full.
  [[nodiscard]] absl::Status Write(KvBatch* batch, bool sync) override;
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Get(Cf which,
                                                               std::string_view key) override;
  [[nodiscard]] std::unique_ptr<KvIterator> NewIterator(Cf which,
                                                        std::string_view upper = {}) override;
  [[nodiscard]] uint64_t EstimateKeys(Cf which) override;
  RocksRelayDb* rocks() override { return this; }
  std::string_view backend() const override { return "rocksdb"; }
  // Syncs the WAL, flushes memtables (so the next start replays nothing), closes. Idempotent.
  // A read-only database is only closed.
  [[nodiscard]] absl::Status Close() override;

 private:
  RocksRelayDb() = default;
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RocksRelayDb>> OpenInternal(
      const std::string& dir, bool create, bool read_only);
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RelayDb>> OpenExisting(
      const std::string& dir, bool read_only, bool allow_older);

  std::unique_ptr<rocksdb::DB> db_;
  std::string dir_;
  std::array<rocksdb::ColumnFamilyHandle*, static_cast<int>(Cf::kCount)> handles_{};
  bool read_only_ = false;
  // Held while a batch with expectations checks and writes (one process owns the database).
  base::Mutex expect_mu_;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_DB_H_

// PgRelayDb: the relay's database in PostgreSQL (libpq), the second implementation of the
// storage seam (kv.h). For clinics and providers that need the relay to survive the loss of a
// machine: the database is an existing, replicated system (a primary with a synchronous
// standby, or a managed service), and the relay process keeps no state of its own.
//
//   PgRelayDb::Options o;  o.url = "postgresql://alliance@db.internal/alliance";
//   ALLIANCE_ASSIGN_OR_RETURN(auto db, PgRelayDb::Create(o));   // `init --storage postgres`
//   ALLIANCE_ASSIGN_OR_RETURN(auto db, PgRelayDb::Open(o));     // `serve`, `check`
//
// Layout: one table per column family, alliance_<name> (k bytea PRIMARY KEY, v bytea NOT
// NULL), holding exactly the bytes the RocksDB implementation holds (ids, hashes, counters,
// serialized records, ciphertext): nothing more is visible to the database's operator. bytea
// orders as unsigned bytes, as RocksDB's comparator does. Mailbox counters merge with the SQL
// function alliance_counter_merge ((max, sum), as db.h's merge operator). Table versions are
// recorded in alliance_schema and applied by `alliance-relay migrate` (PgRelayDb::Migrate);
// Open refuses a database whose tables are older or newer than this relay's.
//
// Writes: a batch is one transaction. sync=true commits with synchronous_commit on (durable on
// the primary, and on a synchronous standby when the server has one); sync=false commits with
// it off for that transaction only (acks, sweeps: a lost one only redelivers). A transaction
// that loses a deadlock or serialization conflict is retried, as a batch carries no reads.
// Expectations (KvBatch::Expect) take a transaction advisory lock per expected key, in key
// order, then read the key in the transaction (the SQL function alliance_expect): batches
// expecting one key serialize across every relay process, and the loser sees the winner's
// commit (ABORTED, kWriteConflict). KvBatch::Notify is pg_notify on the relay's channel,
// delivered when the transaction commits. A batch goes in one round trip (libpq's pipeline
// mode): BEGIN, expectations, writes, COMMIT.
//
// Several relay processes may serve one database (shared()): each LISTENs on the relay's
// channel for mailbox wake-ups, and TryExclusive elects the one that sweeps.
//
// Connections: a pool of at most Options::connections, opened on demand (connect_timeout 10 s
// unless the URL says otherwise; application_name alliance-relay); a broken one is dropped and
// replaced. A statement that runs longer than 60 s is cancelled (UNAVAILABLE), so a database
// that stops answering cannot hold the relay's threads. Thread-safe.
#ifndef ALLIANCE_SERVER_INFRA_PG_DB_H_
#define ALLIANCE_SERVER_INFRA_PG_DB_H_

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "server/infra/db.h"

typedef struct pg_conn PGconn;  // NOLINT: libpq's own name

namespace alliance::server {

class PgRelayDb final : public RelayDb {
 public:
  struct Options {
    // A libpq connection URI or key=value string. May carry a password: never logged.
    std::string url;
    // Most connections open at once. Default: 16.
    int connections = 16;
  };

  // The newest table version this relay knows (alliance_schema).
  static constexpr int kTableVersion = 2;

  // Brings the tables up to date and creates a relay there (new relay id, schema version).
  // Errors: ALREADY_EXISTS (a relay is there), UNAVAILABLE (cannot connect), INTERNAL.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RelayDb>> Create(const Options& options);
  // Opens the relay stored there. Errors: NOT_FOUND (no relay: run init), FAILED_PRECONDITION
  // (tables or schema version older: run migrate; newer: a newer relay wrote them),
  // UNAVAILABLE, INTERNAL.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RelayDb>> Open(const Options& options);
  // Applies the table migrations still missing, then opens as Open but also accepts an older
  // schema version (for `migrate`). Errors: as Open.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RelayDb>> OpenForMigration(
      const Options& options);

  ~PgRelayDb() override;
  PgRelayDb(const PgRelayDb&) = delete;
  PgRelayDb& operator=(const PgRelayDb&) = delete;

  [[nodiscard]] absl::Status Write(KvBatch* batch, bool sync) override;
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Get(Cf which,
                                                               std::string_view key) override;
  // In one round trip (pipelined).
  [[nodiscard]] absl::StatusOr<std::vector<std::optional<std::string>>> GetMany(
      const std::vector<std::pair<Cf, std::string>>& keys) override;
  [[nodiscard]] std::unique_ptr<KvIterator> NewIterator(Cf which,
                                                        std::string_view upper = {}) override;
  [[nodiscard]] uint64_t EstimateKeys(Cf which) override;
  std::string_view backend() const override { return "postgres"; }
  [[nodiscard]] absl::Status Close() override;

  bool shared() const override { return true; }
  // LISTENs on this relay's channel on a connection of its own (reconnecting as needed).
  [[nodiscard]] absl::Status Listen(std::function<void(std::string_view key)> wake) override;
  // A session advisory lock keyed by this relay and `name`, held on a connection of its own
  // until the returned object is destroyed (or the process dies and its session ends).
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Exclusive>> TryExclusive(
      std::string_view name) override;

  // Up to `limit` rows of `which` with from <= k (< upper when not empty), in key order
  // (`descending`: the rows with k <= from, highest first). For iterators.
  [[nodiscard]] absl::Status Scan(Cf which, std::string_view from, std::string_view upper,
                                  bool descending, int limit,
                                  std::vector<std::pair<std::string, std::string>>* rows);

 private:
  class Connection;
  class Lease;

  explicit PgRelayDb(Options options);
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PgRelayDb>> Connect(const Options& options);
  // Creates missing tables and functions (transactional, serialized by an advisory lock).
  [[nodiscard]] absl::Status ApplyTableMigrations();
  // kTableVersion vs alliance_schema. Errors: NOT_FOUND (no tables), FAILED_PRECONDITION.
  [[nodiscard]] absl::Status CheckTableVersion();
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Connection>> Acquire();
  void Release(std::unique_ptr<Connection> connection);
  [[nodiscard]] absl::Status WriteOnce(Connection* c, const KvBatch& batch, bool sync);
  // An advisory lock key for `what`, distinct per relay (relays in separate schemas of one
  // database never share one).
  int64_t LockKey(std::string_view what) const;
  void ListenLoop();

  const Options options_;
  base::Mutex mu_;
  base::CondVar available_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // The listener (Listen).
  std::function<void(std::string_view)> wake_;
  std::thread listener_;
  std::atomic<bool> stopping_{false};
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_PG_DB_H_

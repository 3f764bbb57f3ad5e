#include "server/infra/pg_db.h"

#include <libpq-fe.h>

#include <algorithm>
#include <bitset>
#include <poll.h>
#include <tuple>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"

namespace alliance::server {
namespace {

constexpr Oid kByteaOid = 17;
constexpr int kCfCount = static_cast<int>(Cf::kCount);
// Advisory lock key of table migrations (any 64-bit number; this spells "alliance").
constexpr int64_t kMigrationLockKey = 0x616c6c69616e6365;
// How often the listener wakes every stream anyway (a notification lost with a connection
// only delays delivery by this much).
constexpr auto kWakeAllEvery = std::chrono::seconds(5);
// A batch that lost a deadlock or serialization conflict is tried again this many times.
constexpr int kWriteAttempts = 8;

std::string Table(Cf which) { return absl::StrCat("alliance_", CfName(which)); }

// libpq's messages span lines ("...failed: ...\n\tIs the server running...?"): one line, as
// every error the relay prints.
std::string OneLine(std::string_view message) {
  std::string out;
  for (char c : message) {
    const bool space = c == '\n' || c == '\t' || c == '\r' || c == ' ';
    if (space) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Statement kinds prepared on every connection, per column family.
enum Stmt : int {
  kGet,
  kPut,
  kDelete,
  kDeleteRange,
  kMerge,
  kScan,
  kScanBounded,
  kFloor,
  kExpectKey,  // alliance_expect: lock key, table, key, value, mode
  kLockKey,    // pg_advisory_xact_lock: lock key
  kNotify,     // pg_notify: channel, payload
  kStmtCount
};
// What alliance_expect raises when an expectation fails (a SQLSTATE of our own).
constexpr const char* kConflictState = "AL001";

std::string StmtName(Stmt s, Cf which) {
  return absl::StrCat("s", static_cast<int>(s), "_", static_cast<int>(which));
}

std::string StmtSql(Stmt s, Cf which) {
  const std::string t = Table(which);
  switch (s) {
    case kGet: return absl::StrCat("SELECT v FROM ", t, " WHERE k = $1");
    case kPut:
      return absl::StrCat("INSERT INTO ", t, " (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE ",
                          "SET v = EXCLUDED.v");
    case kDelete: return absl::StrCat("DELETE FROM ", t, " WHERE k = $1");
    case kDeleteRange: return absl::StrCat("DELETE FROM ", t, " WHERE k >= $1 AND k < $2");
    case kMerge:
      return absl::StrCat("INSERT INTO ", t, " AS o (k, v) VALUES ($1, $2) ON CONFLICT (k) DO ",
                          "UPDATE SET v = alliance_counter_merge(o.v, EXCLUDED.v)");
    case kScan:
      return absl::StrCat("SELECT k, v FROM ", t, " WHERE k >= $1 ORDER BY k LIMIT $2");
    case kScanBounded:
      return absl::StrCat("SELECT k, v FROM ", t, " WHERE k >= $1 AND k < $3 ORDER BY k LIMIT $2");
    case kFloor:
      return absl::StrCat("SELECT k, v FROM ", t, " WHERE k <= $1 ORDER BY k DESC LIMIT $2");
    case kExpectKey: return "SELECT alliance_expect($1, $2, $3, $4, $5)";
    case kLockKey: return "SELECT pg_advisory_xact_lock($1)";
    case kNotify: return "SELECT pg_notify($1, $2)";
    case kStmtCount: break;
  }
  return "";
}

// Table migrations, in order; alliance_schema records each one applied.
struct TableMigration {
  int version;
  const char* description;
  std::string sql;
};

std::vector<TableMigration> TableMigrations() {
  std::string v1 =
      "CREATE TABLE alliance_schema (version integer PRIMARY KEY, description text NOT NULL, "
      "applied_at timestamptz NOT NULL DEFAULT now());\n";
  for (int i = 0; i < kCfCount; ++i) {
    absl::StrAppend(&v1, "CREATE TABLE ", Table(static_cast<Cf>(i)),
                    " (k bytea PRIMARY KEY, v bytea NOT NULL);\n");
  }
  // Attachment ciphertext does not compress: store it out of line, uncompressed.
  absl::StrAppend(&v1, "ALTER TABLE ", Table(Cf::kBlobs), " ALTER COLUMN v SET STORAGE EXTERNAL;\n");
  // MailboxCounter (db.h): u64 highest sequence || i64 depth, big-endian; merged as (max, sum),
  // a value that does not decode counting as zero, as the RocksDB merge operator does.
  absl::StrAppend(
      &v1,
      "CREATE FUNCTION alliance_be64(x bytea, pos integer) RETURNS bigint LANGUAGE sql "
      "IMMUTABLE AS $$ SELECT CASE WHEN length(x) = 16 THEN "
      "('x' || encode(substring(x FROM pos + 1 FOR 8), 'hex'))::bit(64)::bigint ELSE 0 END $$;\n"
      "CREATE FUNCTION alliance_counter_merge(a bytea, b bytea) RETURNS bytea LANGUAGE sql "
      "IMMUTABLE AS $$ SELECT int8send(GREATEST(alliance_be64(a, 0), alliance_be64(b, 0))) || "
      "int8send(alliance_be64(a, 8) + alliance_be64(b, 8)) $$;\n");
  // Expectations (KvBatch::Expect) checked in the database, so that a whole batch goes in one
  // round trip (pipelined): lock the key (transaction advisory lock), read it, compare; mode 0
  // equal, 1 absent, 2 begins with. A failure raises AL001 and aborts the transaction.
  std::string v2 =
      "CREATE FUNCTION alliance_expect(lock_key bigint, tbl text, key bytea, expected bytea, "
      "mode integer) RETURNS void LANGUAGE plpgsql AS $$\n"
      "DECLARE stored bytea;\n"
      "BEGIN\n"
      "  PERFORM pg_advisory_xact_lock(lock_key);\n"
      "  EXECUTE format('SELECT v FROM %I WHERE k = $1', tbl) INTO stored USING key;\n"
      "  IF (mode = 0 AND stored IS DISTINCT FROM expected)\n"
      "     OR (mode = 1 AND stored IS NOT NULL)\n"
      "     OR (mode = 2 AND (stored IS NULL OR\n"
      "         substring(stored FROM 1 FOR length(expected)) <> expected)) THEN\n"
      "    RAISE EXCEPTION 'changed concurrently' USING ERRCODE = 'AL001';\n"
      "  END IF;\n"
      "END $$;\n";
  return {{1, "one table per column family; mailbox counter merge", v1},
          {2, "alliance_expect: conditional batches in one round trip", v2}};
}

// Maps a failed result to a status. Only the SQLSTATE and the primary message are used: the
// detail of some errors quotes key values.
absl::Status FromResult(PGconn* conn, const PGresult* res, std::string_view what) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string message = OneLine(primary != nullptr ? primary : PQerrorMessage(conn));
  const std::string code = state != nullptr ? state : "";
  if (code == kConflictState) return absl::AbortedError(kWriteConflict);
  if (code == "40001" || code == "40P01") {
    return absl::AbortedError(absl::StrCat("storage: ", std::string(what), ": ", message));
  }
  if (code == "53100") return absl::ResourceExhaustedError(kStorageFull);
  if (code == "42P01") return absl::NotFoundError(absl::StrCat("storage: ", message));
  if (PQstatus(conn) != CONNECTION_OK || code.starts_with("08") || code.starts_with("57") ||
      code.starts_with("53")) {
    return absl::UnavailableError(absl::StrCat("storage unavailable: ", std::string(what), ": ", message));
  }
  return absl::InternalError(absl::StrCat("storage: ", std::string(what), ": ", message, " (", code, ")"));
}

// Owns one PGresult.
struct Result {
  PGresult* res = nullptr;
  explicit Result(PGresult* r) : res(r) {}
  ~Result() {
    if (res != nullptr) PQclear(res);
  }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  bool ok() const {
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
};

// The parameters of one statement: bytea binary; a limit, lock key, mode, table name or
// notification as text.
struct Params {
  const char* values[5];
  int lengths[5];
  int formats[5];
  int n = 0;
  Params(Stmt stmt, std::initializer_list<std::string_view> params) {
    for (std::string_view p : params) {
      values[n] = p.data() != nullptr ? p.data() : "";  // a null pointer would mean SQL NULL
      lengths[n] = static_cast<int>(p.size());
      formats[n] = 1;
      ++n;
    }
    if (stmt == kScan || stmt == kScanBounded || stmt == kFloor) formats[1] = 0;
    if (stmt == kExpectKey) formats[0] = formats[1] = formats[4] = 0;
    if (stmt == kLockKey) formats[0] = 0;
    if (stmt == kNotify) formats[0] = formats[1] = 0;
  }
};

}  // namespace

// One libpq connection with its prepared statements.
class PgRelayDb::Connection {
 public:
  ~Connection() {
    if (conn_ != nullptr) PQfinish(conn_);
  }

  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& url) {
    auto c = std::unique_ptr<Connection>(new Connection());
    // Defaults first, the URL last: a value the URL gives wins (libpq keeps the last one).
    const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {"10", "alliance-relay", url.c_str(), nullptr};
    c->conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    if (c->conn_ == nullptr) return absl::ResourceExhaustedError("out of memory for a connection");
    if (PQstatus(c->conn_) != CONNECTION_OK) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to PostgreSQL: ", OneLine(PQerrorMessage(c->conn_))));
    }
    // Quiet notices (they would go to stderr), and the time zone does not matter: the relay
    // stores its own times.
    PQsetNoticeProcessor(c->conn_, [](void*, const char*) {}, nullptr);
    // A database that stops answering fails the call (UNAVAILABLE) instead of holding a gRPC
    // thread and a pooled connection for ever.
    ALLIANCE_RETURN_IF_ERROR(c->Exec("SET statement_timeout = '60s'"));
    return c;
  }

  PGconn* pg() const { return conn_; }
  // Closes the connection (broken() from now on; the pool drops it).
  void Discard() {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }
  // Hands over the libpq connection (the caller PQfinish'es it).
  PGconn* Detach() { return std::exchange(conn_, nullptr); }
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }

  // Simple-protocol command(s) without parameters.
  absl::Status Exec(const char* sql) {
    Result r(PQexec(conn_, sql));
    if (!r.ok()) return FromResult(conn_, r.res, "command");
    return absl::OkStatus();
  }

  // Prepares `stmt` for `cf` on this connection unless it already is (tables may not exist
  // when a connection opens, so statements are prepared on first use). Returns the failed
  // result, or nullptr.
  PGresult* Prepare(Stmt stmt, Cf cf) {
    const int index = static_cast<int>(cf) * kStmtCount + static_cast<int>(stmt);
    if (prepared_[index]) return nullptr;
    Oid types[5] = {kByteaOid, kByteaOid, kByteaOid, kByteaOid, kByteaOid};
    int n = 2;
    if (stmt == kGet || stmt == kDelete) n = 1;
    if (stmt == kScan || stmt == kFloor) types[1] = 23;  // int4 limit
    if (stmt == kScanBounded) {
      types[1] = 23;
      n = 3;
    }
    if (stmt == kExpectKey) {
      types[0] = 20;  // int8 lock key
      types[1] = 25;  // text table
      types[4] = 23;  // int4 mode
      n = 5;
    }
    if (stmt == kNotify) types[0] = types[1] = 25;
    if (stmt == kLockKey) {
      types[0] = 20;  // int8 lock key
      n = 1;
    }
    PGresult* prepared =
        PQprepare(conn_, StmtName(stmt, cf).c_str(), StmtSql(stmt, cf).c_str(), n, types);
    if (PQresultStatus(prepared) != PGRES_COMMAND_OK) return prepared;  // the caller reports
    PQclear(prepared);
    prepared_[index] = true;
    return nullptr;
  }

  // Runs a prepared statement; bytea parameters binary, int and text parameters as text.
  PGresult* Run(Stmt stmt, Cf cf, std::initializer_list<std::string_view> params) {
    if (PGresult* failed = Prepare(stmt, cf)) return failed;
    Params p(stmt, params);
    return PQexecPrepared(conn_, StmtName(stmt, cf).c_str(), p.n, p.values, p.lengths, p.formats,
                          /*resultFormat=*/1);
  }

  // Queues a prepared (Prepare'd) statement in pipeline mode. False when libpq refused it.
  bool Send(Stmt stmt, Cf cf, std::initializer_list<std::string_view> params) {
    Params p(stmt, params);
    return PQsendQueryPrepared(conn_, StmtName(stmt, cf).c_str(), p.n, p.values, p.lengths,
                               p.formats, /*resultFormat=*/1) == 1;
  }

 private:
  Connection() = default;
  PGconn* conn_ = nullptr;
  std::bitset<kCfCount * kStmtCount> prepared_;
};

namespace {

// KvIterator over pages of rows read in key order (see kv.h: not a snapshot).
class PgIterator final : public KvIterator {
 public:
  PgIterator(PgRelayDb* db, Cf which, std::string_view upper)
      : db_(db), cf_(which), upper_(upper) {}

  void SeekToFirst() override { Seek(std::string_view()); }
  void Seek(std::string_view target) override {
    page_ = kFirstPage;
    Load(target, /*descending=*/false);
  }
  void SeekForPrev(std::string_view target) override {
    std::vector<std::pair<std::string, std::string>> floor;
    status_ = db_->Scan(cf_, target, {}, /*descending=*/true, 1, &floor);
    rows_.clear();
    pos_ = 0;
    if (!status_.ok() || floor.empty()) {
      exhausted_ = true;
      return;
    }
    Seek(floor[0].first);
  }
  bool Valid() const override { return status_.ok() && pos_ < rows_.size(); }
  void Next() override {
    ++pos_;
    if (pos_ < rows_.size() || exhausted_) return;
    // The smallest key after the last one read is that key followed by a zero byte.
    std::string after = std::move(rows_.back().first);
    after.push_back('\0');
    page_ = std::min(page_ * 4, kMaxPage);
    Load(after, /*descending=*/false);
  }
  KvSlice key() const override { return KvSlice(rows_[pos_].first); }
  KvSlice value() const override { return KvSlice(rows_[pos_].second); }
  absl::Status status() const override { return status_; }

 private:
  // Pages grow from a few rows (a lookup, or a 256 KiB attachment chunk) to many (a scan).
  static constexpr int kFirstPage = 2;
  static constexpr int kMaxPage = 1024;

  void Load(std::string_view from, bool descending) {
    rows_.clear();
    pos_ = 0;
    status_ = db_->Scan(cf_, from, upper_, descending, page_, &rows_);
    exhausted_ = !status_.ok() || static_cast<int>(rows_.size()) < page_;
  }

  PgRelayDb* const db_;
  const Cf cf_;
  const std::string upper_;
  std::vector<std::pair<std::string, std::string>> rows_;
  size_t pos_ = 0;
  int page_ = kFirstPage;
  bool exhausted_ = true;
  absl::Status status_;
};

}  // namespace

PgRelayDb::PgRelayDb(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<PgRelayDb>> PgRelayDb::Connect(const Options& options) {
  if (options.url.empty()) {
    return absl::InvalidArgumentError("no database URL (--database-url)");
  }
  if (options.connections < 1) {
    return absl::InvalidArgumentError("database_connections must be at least 1");
  }
  auto db = std::unique_ptr<PgRelayDb>(new PgRelayDb(options));
  // One connection now, so that a wrong URL fails at once with libpq's reason.
  ALLIANCE_ASSIGN_OR_RETURN(auto first, db->Acquire());
  db->Release(std::move(first));
  return db;
}

absl::StatusOr<std::unique_ptr<RelayDb>> PgRelayDb::Create(const Options& options) {
  ALLIANCE_ASSIGN_OR_RETURN(auto db, Connect(options));
  ALLIANCE_RETURN_IF_ERROR(db->ApplyTableMigrations());
  ALLIANCE_ASSIGN_OR_RETURN(auto existing, db->Get(Cf::kMeta, "relay_id"));
  if (existing.has_value()) {
    return absl::AlreadyExistsError("that database already holds a relay");
  }
  ALLIANCE_RETURN_IF_ERROR(db->InitializeMeta());
  return std::unique_ptr<RelayDb>(std::move(db));
}

absl::StatusOr<std::unique_ptr<RelayDb>> PgRelayDb::Open(const Options& options) {
  ALLIANCE_ASSIGN_OR_RETURN(auto db, Connect(options));
  ALLIANCE_RETURN_IF_ERROR(db->CheckTableVersion());
  ALLIANCE_RETURN_IF_ERROR(db->LoadMeta(/*allow_older=*/false, "in PostgreSQL",
                                        "alliance-relay migrate --storage postgres"));
  return std::unique_ptr<RelayDb>(std::move(db));
}

absl::StatusOr<std::unique_ptr<RelayDb>> PgRelayDb::OpenForMigration(const Options& options) {
  ALLIANCE_ASSIGN_OR_RETURN(auto db, Connect(options));
  ALLIANCE_RETURN_IF_ERROR(db->ApplyTableMigrations());
  ALLIANCE_ASSIGN_OR_RETURN(auto relay_id, db->Get(Cf::kMeta, "relay_id"));
  if (!relay_id.has_value()) {
    return absl::NotFoundError(
        "no relay in that database (run `alliance-relay init --storage postgres` first)");
  }
  ALLIANCE_RETURN_IF_ERROR(db->LoadMeta(/*allow_older=*/true, "in PostgreSQL", ""));
  return std::unique_ptr<RelayDb>(std::move(db));
}

PgRelayDb::~PgRelayDb() { (void)Close(); }

absl::Status PgRelayDb::ApplyTableMigrations() {
  ALLIANCE_ASSIGN_OR_RETURN(auto c, Acquire());
  absl::Status s = [&]() -> absl::Status {
    ALLIANCE_RETURN_IF_ERROR(c->Exec("BEGIN"));
    // Relays starting at once on a new database take turns.
    ALLIANCE_RETURN_IF_ERROR(c->Exec(
        absl::StrCat("SELECT pg_advisory_xact_lock(", kMigrationLockKey, ")").c_str()));
    int have = 0;
    {
      Result r(PQexec(c->pg(), "SELECT to_regclass('alliance_schema') IS NOT NULL"));
      if (!r.ok()) return FromResult(c->pg(), r.res, "schema lookup");
      if (std::string_view(PQgetvalue(r.res, 0, 0)) == "t") {
        Result v(PQexec(c->pg(), "SELECT coalesce(max(version), 0) FROM alliance_schema"));
        if (!v.ok()) return FromResult(c->pg(), v.res, "schema version");
        have = std::atoi(PQgetvalue(v.res, 0, 0));
      }
    }
    if (have > kTableVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the PostgreSQL tables have version ", have, ", written by a newer alliance-relay; "
          "this one knows versions up to ", kTableVersion, " (nothing was changed)"));
    }
    for (const TableMigration& m : TableMigrations()) {
      if (m.version <= have) continue;
      ALLIANCE_RETURN_IF_ERROR(c->Exec(m.sql.c_str()));
      const std::string record = absl::StrCat(
          "INSERT INTO alliance_schema (version, description) VALUES (", m.version, ", '",
          m.description, "')");
      ALLIANCE_RETURN_IF_ERROR(c->Exec(record.c_str()));
    }
    return c->Exec("COMMIT");
  }();
  if (!s.ok() && !c->broken()) (void)c->Exec("ROLLBACK");
  Release(std::move(c));
  return s;
}

absl::Status PgRelayDb::CheckTableVersion() {
  ALLIANCE_ASSIGN_OR_RETURN(auto c, Acquire());
  int have = -1;
  absl::Status s = [&]() -> absl::Status {
    Result r(PQexec(c->pg(), "SELECT to_regclass('alliance_schema') IS NOT NULL"));
    if (!r.ok()) return FromResult(c->pg(), r.res, "schema lookup");
    if (std::string_view(PQgetvalue(r.res, 0, 0)) != "t") {
      return absl::NotFoundError(
          "no relay in that database (run `alliance-relay init --storage postgres` first)");
    }
    Result v(PQexec(c->pg(), "SELECT coalesce(max(version), 0) FROM alliance_schema"));
    if (!v.ok()) return FromResult(c->pg(), v.res, "schema version");
    have = std::atoi(PQgetvalue(v.res, 0, 0));
    return absl::OkStatus();
  }();
  Release(std::move(c));
  ALLIANCE_RETURN_IF_ERROR(s);
  if (have > kTableVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the PostgreSQL tables have version ", have, ", written by a newer alliance-relay; this "
        "one knows versions up to ", kTableVersion, ": install the newer relay"));
  }
  if (have < kTableVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the PostgreSQL tables have version ", have, " and this relay needs ", kTableVersion,
        ": run `alliance-relay migrate --storage postgres` (back the database up first)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PgRelayDb::Connection>> PgRelayDb::Acquire() {
  {
    base::MutexLock lock(&mu_);
    while (true) {
      if (closed_) return absl::UnavailableError("the database is closed");
      if (!idle_.empty()) {
        std::unique_ptr<Connection> c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
      if (open_ < options_.connections) break;
      available_.Wait(&mu_);
    }
    ++open_;
  }
  absl::StatusOr<std::unique_ptr<Connection>> c = Connection::Open(options_.url);
  if (!c.ok()) {
    base::MutexLock lock(&mu_);
    --open_;
    available_.Signal();
    return c.status();
  }
  return c;
}

void PgRelayDb::Release(std::unique_ptr<Connection> connection) {
  base::MutexLock lock(&mu_);
  if (connection->broken() || closed_) {
    connection.reset();
    --open_;
  } else {
    idle_.push_back(std::move(connection));
  }
  available_.Signal();
}

namespace {

// Reads up to the pipeline's sync point (when it was sent) and leaves pipeline mode. False when
// the connection is left in a state nothing can use (a pipeline sent only in part).
bool EndPipeline(PGconn* pg, bool synced_sent) {
  if (synced_sent) {
    while (PGresult* tail = PQgetResult(pg)) {
      const bool synced = PQresultStatus(tail) == PGRES_PIPELINE_SYNC;
      PQclear(tail);
      if (synced) break;
    }
  }
  return PQexitPipelineMode(pg) == 1;
}

Stmt StmtOf(KvBatch::Op op) {
  switch (op) {
    case KvBatch::Op::kPut: return kPut;
    case KvBatch::Op::kDelete: return kDelete;
    case KvBatch::Op::kMerge: return kMerge;
    case KvBatch::Op::kDeleteRange: return kDeleteRange;
    case KvBatch::Op::kExpect:
    case KvBatch::Op::kExpectAbsent:
    case KvBatch::Op::kExpectPrefix: return kExpectKey;
    case KvBatch::Op::kLock: return kLockKey;
    case KvBatch::Op::kNotify: return kNotify;
  }
  return kStmtCount;
}

}  // namespace

absl::Status PgRelayDb::WriteOnce(Connection* c, const KvBatch& batch, bool sync) {
  // Statements are prepared before the pipeline starts (preparing is a round trip of its own).
  for (const KvBatch::Entry& e : batch.entries()) {
    const Stmt stmt = StmtOf(e.op);
    const Cf cf = stmt == kExpectKey || stmt == kLockKey || stmt == kNotify ? Cf::kDefault : e.cf;
    Result failed(c->Prepare(stmt, cf));
    if (failed.res != nullptr) return FromResult(c->pg(), failed.res, "prepare");
  }
  // Expectations first, in one order (no deadlock between two expecting batches); each locks
  // its key, then reads it, so the value a concurrent winner committed is the one compared.
  std::vector<const KvBatch::Entry*> expected;
  for (const KvBatch::Entry& e : batch.entries()) {
    if (KvBatch::IsExpectation(e.op)) expected.push_back(&e);
  }
  std::sort(expected.begin(), expected.end(), [](const KvBatch::Entry* x, const KvBatch::Entry* y) {
    return std::tie(x->cf, x->key) < std::tie(y->cf, y->key);
  });

  // The whole transaction in one round trip: libpq's pipeline mode sends every statement, then
  // reads every result. A statement that fails aborts the ones after it (COMMIT included).
  PGconn* pg = c->pg();
  if (PQenterPipelineMode(pg) != 1) {
    return absl::UnavailableError(absl::StrCat("storage unavailable: ", OneLine(PQerrorMessage(pg))));
  }
  int queued = 0;
  bool sent = true;
  auto send_text = [&](const char* sql) {
    sent = sent && PQsendQueryParams(pg, sql, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
    ++queued;
  };
  // READ COMMITTED whatever the database's default: alliance_expect reads each key after its
  // lock, and must see what the previous holder committed.
  send_text("BEGIN ISOLATION LEVEL READ COMMITTED");
  if (!sync) send_text("SET LOCAL synchronous_commit TO off");
  const std::string channel = absl::StrCat("alliance_", base::ToHex(relay_id_.substr(0, 8)));
  for (const KvBatch::Entry* e : expected) {
    const std::string lock = std::to_string(LockKey(absl::StrCat(CfName(e->cf), ":", e->key)));
    if (e->op == KvBatch::Op::kLock) {
      sent = sent && c->Send(kLockKey, Cf::kDefault, {lock});
      ++queued;
      continue;
    }
    const std::string table = Table(e->cf);
    const std::string mode = e->op == KvBatch::Op::kExpect         ? "0"
                             : e->op == KvBatch::Op::kExpectAbsent ? "1"
                                                                   : "2";
    sent = sent && c->Send(kExpectKey, Cf::kDefault, {lock, table, e->key, e->value, mode});
    ++queued;
  }
  for (const KvBatch::Entry& e : batch.entries()) {
    switch (e.op) {
      case KvBatch::Op::kPut:
      case KvBatch::Op::kMerge:
      case KvBatch::Op::kDeleteRange:
        sent = sent && c->Send(StmtOf(e.op), e.cf, {e.key, e.value});
        break;
      case KvBatch::Op::kDelete: sent = sent && c->Send(kDelete, e.cf, {e.key}); break;
      case KvBatch::Op::kExpect:
      case KvBatch::Op::kExpectAbsent:
      case KvBatch::Op::kExpectPrefix:
      case KvBatch::Op::kLock: continue;
      case KvBatch::Op::kNotify: continue;  // after COMMIT, below
    }
    ++queued;
  }
  send_text("COMMIT");
  const int committed_at = queued - 1;  // the COMMIT's result; what follows is notifications
  // Notifications go after the commit, each in a transaction of its own: a NOTIFY inside the
  // transaction would hold PostgreSQL's notification queue lock across the commit's WAL flush,
  // serializing every send of every node. After a failed statement the pipeline skips them,
  // so a write that did not commit wakes nobody; a relay that dies right after the commit
  // loses the wake-up only (the listeners' periodic wake-up delivers it).
  for (const KvBatch::Entry& e : batch.entries()) {
    if (e.op != KvBatch::Op::kNotify) continue;
    const std::string payload = base::ToHex(e.key);
    sent = sent && c->Send(kNotify, Cf::kDefault, {channel, payload});
    ++queued;
  }
  sent = sent && PQpipelineSync(pg) == 1;

  absl::Status status;
  if (!sent) {
    status = absl::UnavailableError(absl::StrCat("storage unavailable: write: ", OneLine(PQerrorMessage(pg))));
  }
  // One result (then a null) per statement, then the sync point.
  for (int i = 0; i < queued && sent; ++i) {
    PGresult* raw = PQgetResult(pg);
    if (raw == nullptr) {
      status.Update(absl::UnavailableError("storage unavailable: the connection broke"));
      break;
    }
    Result r(raw);
    // A notification that fails after the commit does not undo the write: the listeners'
    // periodic wake-up delivers what it would have announced.
    if (PQresultStatus(raw) == PGRES_FATAL_ERROR && i <= committed_at) {
      status.Update(FromResult(pg, raw, "write"));
    }
    while (PGresult* extra = PQgetResult(pg)) PQclear(extra);  // up to the null
  }
  if (!EndPipeline(pg, sent)) c->Discard();
  if (!status.ok() && !c->broken()) (void)c->Exec("ROLLBACK");  // the aborted transaction
  return status;
}

int64_t PgRelayDb::LockKey(std::string_view what) const {
  const std::string h = Blake2b256(absl::StrCat(relay_id_, ":", std::string(what)));
  uint64_t key = 0;
  for (int i = 0; i < 8; ++i) key = (key << 8) | static_cast<uint8_t>(h[i]);
  return static_cast<int64_t>(key);
}

absl::Status PgRelayDb::Write(KvBatch* batch, bool sync) {
  if (batch->empty()) return absl::OkStatus();
  absl::Status s;
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, Acquire());
    s = WriteOnce(c.get(), *batch, sync);
    Release(std::move(c));
    // A batch has no reads but its expectations, so one that lost a deadlock or serialization
    // conflict (and was rolled back) can simply run again; a failed expectation is the
    // caller's to handle.
    if (!absl::IsAborted(s) || IsWriteConflict(s)) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(1 << std::min(attempt, 5)));
  }
  return s;
}

absl::StatusOr<std::optional<std::string>> PgRelayDb::Get(Cf which, std::string_view key) {
  ALLIANCE_ASSIGN_OR_RETURN(auto c, Acquire());
  Result r(c->Run(kGet, which, {key}));
  absl::StatusOr<std::optional<std::string>> out = std::optional<std::string>();
  if (!r.ok()) {
    out = FromResult(c->pg(), r.res, "read");
  } else if (PQntuples(r.res) == 1) {
    out = std::optional<std::string>(
        std::string(PQgetvalue(r.res, 0, 0), static_cast<size_t>(PQgetlength(r.res, 0, 0))));
  }
  Release(std::move(c));
  return out;
}

absl::StatusOr<std::vector<std::optional<std::string>>> PgRelayDb::GetMany(
    const std::vector<std::pair<Cf, std::string>>& keys) {
  ALLIANCE_ASSIGN_OR_RETURN(auto c, Acquire());
  PGconn* pg = c->pg();
  absl::Status status;
  std::vector<std::optional<std::string>> out(keys.size());
  for (const auto& [cf, key] : keys) {
    Result failed(c->Prepare(kGet, cf));
    if (failed.res != nullptr) status.Update(FromResult(pg, failed.res, "prepare"));
  }
  if (status.ok() && PQenterPipelineMode(pg) != 1) {
    status = absl::UnavailableError(absl::StrCat("storage unavailable: ", OneLine(PQerrorMessage(pg))));
  }
  if (status.ok()) {
    // Every read in one round trip.
    bool sent = true;
    for (const auto& [cf, key] : keys) sent = sent && c->Send(kGet, cf, {key});
    sent = sent && PQpipelineSync(pg) == 1;
    if (!sent) {
      status = absl::UnavailableError(
          absl::StrCat("storage unavailable: read: ", OneLine(PQerrorMessage(pg))));
    }
    for (size_t i = 0; i < keys.size() && sent; ++i) {
      PGresult* raw = PQgetResult(pg);
      if (raw == nullptr) {
        status.Update(absl::UnavailableError("storage unavailable: the connection broke"));
        break;
      }
      Result r(raw);
      if (PQresultStatus(raw) == PGRES_TUPLES_OK) {
        if (PQntuples(raw) == 1) {
          out[i].emplace(PQgetvalue(raw, 0, 0), static_cast<size_t>(PQgetlength(raw, 0, 0)));
        }
      } else {
        status.Update(FromResult(pg, raw, "read"));
      }
      while (PGresult* extra = PQgetResult(pg)) PQclear(extra);
    }
    if (!EndPipeline(pg, sent)) c->Discard();
  }
  Release(std::move(c));
  if (!status.ok()) return status;
  return out;
}

absl::Status PgRelayDb::Scan(Cf which, std::string_view from, std::string_view upper,
                             bool descending, int limit,
                             std::vector<std::pair<std::string, std::string>>* rows) {
  ALLIANCE_ASSIGN_OR_RETURN(auto c, Acquire());
  const std::string limit_text = std::to_string(limit);
  PGresult* raw = descending        ? c->Run(kFloor, which, {from, limit_text})
                  : upper.empty()   ? c->Run(kScan, which, {from, limit_text})
                                    : c->Run(kScanBounded, which, {from, limit_text, upper});
  Result r(raw);
  absl::Status s;
  if (!r.ok()) {
    s = FromResult(c->pg(), r.res, "scan");
  } else {
    const int n = PQntuples(r.res);
    rows->reserve(rows->size() + static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      rows->emplace_back(
          std::string(PQgetvalue(r.res, i, 0), static_cast<size_t>(PQgetlength(r.res, i, 0))),
          std::string(PQgetvalue(r.res, i, 1), static_cast<size_t>(PQgetlength(r.res, i, 1))));
    }
  }
  Release(std::move(c));
  return s;
}

std::unique_ptr<KvIterator> PgRelayDb::NewIterator(Cf which, std::string_view upper) {
  return std::make_unique<PgIterator>(this, which, upper);
}

uint64_t PgRelayDb::EstimateKeys(Cf which) {
  absl::StatusOr<std::unique_ptr<Connection>> c = Acquire();
  if (!c.ok()) return 0;
  const std::string sql = absl::StrCat(
      "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass('",
      Table(which), "')");
  uint64_t n = 0;
  {
    Result r(PQexec((*c)->pg(), sql.c_str()));
    if (r.ok() && PQntuples(r.res) == 1) n = std::strtoull(PQgetvalue(r.res, 0, 0), nullptr, 10);
  }
  Release(*std::move(c));
  return n;
}

namespace {

// A session advisory lock held on a connection of its own.
class PgExclusive final : public RelayDb::Exclusive {
 public:
  explicit PgExclusive(PGconn* conn) : conn_(conn) {}
  ~PgExclusive() override { PQfinish(conn_); }  // ends the session: the lock goes with it
  PgExclusive(const PgExclusive&) = delete;
  PgExclusive& operator=(const PgExclusive&) = delete;

 private:
  PGconn* const conn_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RelayDb::Exclusive>> PgRelayDb::TryExclusive(std::string_view name) {
  ALLIANCE_ASSIGN_OR_RETURN(auto c, Connection::Open(options_.url));
  const std::string sql =
      absl::StrCat("SELECT pg_try_advisory_lock(", LockKey(absl::StrCat("exclusive:", std::string(name))), ")");
  Result r(PQexec(c->pg(), sql.c_str()));
  if (!r.ok()) return FromResult(c->pg(), r.res, "exclusive lock");
  if (std::string_view(PQgetvalue(r.res, 0, 0)) != "t") return std::unique_ptr<Exclusive>();
  return std::unique_ptr<Exclusive>(new PgExclusive(c->Detach()));
}

absl::Status PgRelayDb::Listen(std::function<void(std::string_view key)> wake) {
  if (listener_.joinable()) return absl::FailedPreconditionError("already listening");
  wake_ = std::move(wake);
  listener_ = std::thread([this] { ListenLoop(); });
  return absl::OkStatus();
}

void PgRelayDb::ListenLoop() {
  const std::string listen =
      absl::StrCat("LISTEN alliance_", base::ToHex(relay_id_.substr(0, 8)));
  std::unique_ptr<Connection> c;
  auto last_all = std::chrono::steady_clock::now();
  while (!stopping_) {
    if (c == nullptr || c->broken()) {
      c.reset();
      absl::StatusOr<std::unique_ptr<Connection>> opened = Connection::Open(options_.url);
      if (!opened.ok() || !(*opened)->Exec(listen.c_str()).ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        continue;
      }
      c = *std::move(opened);
      wake_("");  // whatever was notified while not listening
      last_all = std::chrono::steady_clock::now();
    }
    pollfd fd{.fd = PQsocket(c->pg()), .events = POLLIN, .revents = 0};
    (void)poll(&fd, 1, /*timeout ms=*/200);
    if (PQconsumeInput(c->pg()) == 0) {  // the connection broke: reconnect above
      c.reset();
      continue;
    }
    while (PGnotify* n = PQnotifies(c->pg())) {
      std::optional<std::string> key = base::FromHex(n->extra);
      PQfreemem(n);
      if (key) wake_(*key);
    }
    if (std::chrono::steady_clock::now() - last_all >= kWakeAllEvery) {
      wake_("");
      last_all = std::chrono::steady_clock::now();
    }
  }
}

absl::Status PgRelayDb::Close() {
  std::vector<std::unique_ptr<Connection>> idle;
  {
    base::MutexLock lock(&mu_);
    if (closed_) return absl::OkStatus();
    closed_ = true;
    idle.swap(idle_);
    open_ -= static_cast<int>(idle.size());
    available_.SignalAll();
  }
  idle.clear();
  stopping_ = true;
  if (listener_.joinable()) listener_.join();
  return absl::OkStatus();
}

}  // namespace alliance::server

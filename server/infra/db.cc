#include "server/infra/db.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/disk_space.h"
#include "base/status_macros.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/table_properties_collectors.h"
#include "server/infra/crypto_util.h"

namespace alliance::server {
namespace {

constexpr const char* kCfNames[] = {"default", "meta",    "accounts", "identity",
                                    "onetime", "mailbox", "dedup",    "sessions",
                                    "invites", "links",   "audit",    "blobs"};
static_assert(sizeof(kCfNames) / sizeof(kCfNames[0]) == static_cast<int>(Cf::kCount));

constexpr std::string_view kSchemaKey = "schema_version";
constexpr std::string_view kRelayIdKey = "relay_id";

// (max, sum) over MailboxCounter encodings. Values that do not decode are treated as zero, so a
// damaged counter can never make the relay crash; `check` reports it.
class MailboxCounterMerge final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    MailboxCounter sum;
    if (existing != nullptr) {
      sum = MailboxCounter::Decode(std::string_view(existing->data(), existing->size()))
                .value_or(MailboxCounter{});
    }
    MailboxCounter add = MailboxCounter::Decode(std::string_view(value.data(), value.size()))
                             .value_or(MailboxCounter{});
    sum.max_sequence = std::max(sum.max_sequence, add.max_sequence);
    sum.depth += add.depth;
    *new_value = sum.Encode();
    return true;
  }
  const char* Name() const override { return "alliance.MailboxCounterMerge"; }
};

rocksdb::ColumnFamilyOptions CfOptions(Cf which, const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  if (which == Cf::kMailbox) o.merge_operator = std::make_shared<MailboxCounterMerge>();
  if (which == Cf::kBlobs) {
    // Attachment chunks (64 KiB and up) go to blob files, so compactions of the small records
    // beside them never rewrite them; a deleted blob's space returns through blob garbage
    // collection. A smaller memtable bounds what an upload holds in memory before a flush.
    o.enable_blob_files = true;
    o.min_blob_size = 4096;
    o.blob_file_size = 256ull << 20;
    o.enable_blob_garbage_collection = true;
    o.blob_garbage_collection_age_cutoff = 0.5;
    o.write_buffer_size = 16ull << 20;
  }
  if (which == Cf::kMailbox || which == Cf::kDedup || which == Cf::kOneTime ||
      which == Cf::kBlobs) {
    // Acks delete runs of keys; compact files that fill up with tombstones so that the start
    // of a mailbox stays cheap to seek to.
    o.table_properties_collector_factories.push_back(
        rocksdb::NewCompactOnDeletionCollectorFactory(/*sliding_window_size=*/1024,
                                                      /*deletion_trigger=*/512));
  }
  return o;
}

// KvIterator over a RocksDB iterator (a snapshot, as RocksDB's are).
class RocksIterator final : public KvIterator {
 public:
  RocksIterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string_view upper)
      : upper_(upper), upper_slice_(upper_) {
    rocksdb::ReadOptions options;
    if (!upper_.empty()) options.iterate_upper_bound = &upper_slice_;
    it_.reset(db->NewIterator(options, cf));
  }
  void SeekToFirst() override { it_->SeekToFirst(); }
  void Seek(std::string_view target) override {
    it_->Seek(rocksdb::Slice(target.data(), target.size()));
  }
  void SeekForPrev(std::string_view target) override {
    it_->SeekForPrev(rocksdb::Slice(target.data(), target.size()));
  }
  bool Valid() const override { return it_->Valid(); }
  void Next() override { it_->Next(); }
  KvSlice key() const override { return KvSlice(it_->key().ToStringView()); }
  KvSlice value() const override { return KvSlice(it_->value().ToStringView()); }
  absl::Status status() const override { return FromRocks(it_->status()); }

 private:
  std::string upper_;
  rocksdb::Slice upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace

const char* CfName(Cf which) { return kCfNames[static_cast<int>(which)]; }

std::string MailboxCounter::Encode() const {
  std::string out;
  base::AppendU64BE(&out, max_sequence);
  base::AppendU64BE(&out, static_cast<uint64_t>(depth));
  return out;
}

std::optional<MailboxCounter> MailboxCounter::Decode(std::string_view bytes) {
  if (bytes.size() != 16) return std::nullopt;
  MailboxCounter c;
  c.max_sequence = base::ReadU64BE(bytes.data());
  c.depth = static_cast<int64_t>(base::ReadU64BE(bytes.data() + 8));
  return c;
}

absl::Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError("not found");
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(kStorageFull);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return absl::UnavailableError(s.ToString());
  return absl::InternalError(absl::StrCat("storage: ", s.ToString()));
}

absl::StatusOr<uint32_t> RelayDb::SchemaVersion() {
  ALLIANCE_ASSIGN_OR_RETURN(auto version, Get(Cf::kMeta, kSchemaKey));
  if (!version || version->size() != 4) {
    return absl::DataLossError("the database records no readable schema version");
  }
  return base::ReadU32BE(version->data());
}

void RelayDb::PutSchemaVersion(KvBatch* batch, uint32_t version) {
  std::string encoded;
  base::AppendU32BE(&encoded, version);
  batch->Put(Cf::kMeta, kSchemaKey, encoded);
}

absl::Status RelayDb::InitializeMeta() {
  KvBatch batch;
  relay_id_ = RandomBytes(kRelayIdSize);
  PutSchemaVersion(&batch, kSchemaVersion);
  batch.Put(Cf::kMeta, kRelayIdKey, relay_id_);
  return Write(&batch, /*sync=*/true);
}

absl::Status RelayDb::LoadMeta(bool allow_older, std::string_view where,
                               std::string_view migrate_hint) {
  ALLIANCE_ASSIGN_OR_RETURN(const uint32_t version, SchemaVersion());
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database ", std::string(where), " has schema version ", version, ", written by a newer "
        "alliance-relay; this one knows versions up to ", kSchemaVersion,
        ": install the newer relay (nothing was changed)"));
  }
  if (version < kSchemaVersion && !allow_older) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database ", std::string(where), " has schema version ", version, " and this relay needs ",
        kSchemaVersion, ": run `", std::string(migrate_hint), "` (it takes a backup first)"));
  }
  ALLIANCE_ASSIGN_OR_RETURN(auto relay_id, Get(Cf::kMeta, kRelayIdKey));
  if (!relay_id || relay_id->size() != kRelayIdSize) {
    return absl::FailedPreconditionError("relay id missing");
  }
  relay_id_ = *relay_id;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RelayDb>> RocksRelayDb::Create(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
    return absl::AlreadyExistsError("a database already exists there");
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  ALLIANCE_ASSIGN_OR_RETURN(auto db, OpenInternal(dir, /*create=*/true, /*read_only=*/false));
  ALLIANCE_RETURN_IF_ERROR(db->InitializeMeta());
  return std::unique_ptr<RelayDb>(std::move(db));
}

absl::StatusOr<std::unique_ptr<RelayDb>> RocksRelayDb::Open(const std::string& dir) {
  return OpenExisting(dir, /*read_only=*/false, /*allow_older=*/false);
}

absl::StatusOr<std::unique_ptr<RelayDb>> RocksRelayDb::OpenReadOnly(const std::string& dir) {
  return OpenExisting(dir, /*read_only=*/true, /*allow_older=*/false);
}

absl::StatusOr<std::unique_ptr<RelayDb>> RocksRelayDb::OpenForMigration(const std::string& dir) {
  return OpenExisting(dir, /*read_only=*/false, /*allow_older=*/true);
}

absl::StatusOr<std::unique_ptr<RelayDb>> RocksRelayDb::OpenExisting(const std::string& dir,
                                                                    bool read_only,
                                                                    bool allow_older) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
    return absl::NotFoundError("no database there (run `alliance-relay init` first)");
  }
  ALLIANCE_ASSIGN_OR_RETURN(auto db, OpenInternal(dir, /*create=*/false, read_only));
  ALLIANCE_RETURN_IF_ERROR(db->LoadMeta(allow_older, absl::StrCat("in ", dir),
                                        absl::StrCat("alliance-relay migrate --data ", dir)));
  return std::unique_ptr<RelayDb>(std::move(db));
}

absl::StatusOr<std::unique_ptr<RocksRelayDb>> RocksRelayDb::OpenInternal(const std::string& dir,
                                                                         bool create,
                                                                         bool read_only) {
  rocksdb::DBOptions options;
  options.create_if_missing = create;
  // A column family added by a later schema (blobs, schema 3) is created when a writable
  // database opens; the schema check after opening then decides (older: `migrate`).
  options.create_missing_column_families = !read_only;
  options.max_background_jobs = 2;
  // Bounds WAL replay at startup: older WAL files force their memtables to flush.
  options.max_total_wal_size = 256ull << 20;
  options.keep_log_file_num = 4;
  // Writers waiting for a group commit block instead of spinning: on small machines the spin
  // steals the CPU the leader and the gRPC threads need.
  options.enable_write_thread_adaptive_yield = false;
  auto cache = rocksdb::NewLRUCache(64ull << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  std::vector<int> opened;  // Cf index of each descriptor
  std::vector<std::string> existing;
  if (read_only) {
    // A backup of an older schema lacks the newer families: open what it has (the schema
    // check refuses it with the `migrate` advice; nothing reads the missing families).
    (void)rocksdb::DB::ListColumnFamilies(options, dir, &existing);
  }
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    if (read_only && !existing.empty() &&
        std::find(existing.begin(), existing.end(), kCfNames[i]) == existing.end()) {
      continue;
    }
    descriptors.emplace_back(kCfNames[i], CfOptions(static_cast<Cf>(i), cache));
    opened.push_back(i);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(options, dir, descriptors, &handles, &raw)
                : rocksdb::DB::Open(options, dir, descriptors, &handles, &raw);
  if (!s.ok()) return absl::InternalError(absl::StrCat("cannot open database: ", s.ToString()));
  auto db = std::unique_ptr<RocksRelayDb>(new RocksRelayDb());
  db->dir_ = dir;
  db->read_only_ = read_only;
  db->db_.reset(raw);
  for (size_t i = 0; i < handles.size(); ++i) db->handles_[opened[i]] = handles[i];
  return db;
}

RocksRelayDb::~RocksRelayDb() { (void)Close(); }

absl::Status RocksRelayDb::Write(KvBatch* kv, bool sync) {
  // Refused before RocksDB meets ENOSPC (see base/disk_space.h); re-checked on every write,
  // so writes resume as soon as space is freed, without a restart.
  if (base::BelowReserve(dir_, kMaxFreeSpaceReserve)) {
    return absl::ResourceExhaustedError(kStorageFull);
  }
  rocksdb::WriteBatch batch;
  for (const KvBatch::Entry& e : kv->entries()) {
    rocksdb::Slice key(e.key.data(), e.key.size());
    rocksdb::Slice value(e.value.data(), e.value.size());
    rocksdb::Status added;
    switch (e.op) {
      case KvBatch::Op::kPut: added = batch.Put(cf(e.cf), key, value); break;
      case KvBatch::Op::kDelete: added = batch.Delete(cf(e.cf), key); break;
      case KvBatch::Op::kMerge: added = batch.Merge(cf(e.cf), key, value); break;
      case KvBatch::Op::kDeleteRange: added = batch.DeleteRange(cf(e.cf), key, value); break;
      case KvBatch::Op::kExpect:
      case KvBatch::Op::kExpectAbsent:
      case KvBatch::Op::kExpectPrefix:
      case KvBatch::Op::kLock:
      case KvBatch::Op::kNotify: break;
    }
    if (!added.ok()) return FromRocks(added);
  }
  auto commit = [&]() -> absl::Status {
    rocksdb::WriteOptions options;
    options.sync = sync;
    rocksdb::Status s = db_->Write(options, &batch);
    if (s.IsNoSpace()) {
      // The disk filled faster than the check above saw (another process): RocksDB has
      // stopped writes with a background error. Clear it once there is room again; until then
      // every write answers RESOURCE_EXHAUSTED. (Busy: RocksDB's own recovery is running.)
      if (!base::BelowReserve(dir_, kMaxFreeSpaceReserve)) db_->Resume().PermitUncheckedError();
    }
    return FromRocks(s);
  };
  if (!kv->HasExpectations()) return commit();
  // Checked and written under one lock: no other expecting batch of this process (the only one
  // that can open the database) can land in between.
  base::MutexLock lock(&expect_mu_);
  for (const KvBatch::Entry& e : kv->entries()) {
    if (!KvBatch::IsExpectation(e.op)) continue;
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> stored, Get(e.cf, e.key));
    if (!KvBatch::Holds(e, stored)) return absl::AbortedError(kWriteConflict);
  }
  return commit();
}

absl::StatusOr<std::optional<std::string>> RocksRelayDb::Get(Cf which, std::string_view key) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(which), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s);
  return std::optional<std::string>(std::move(value));
}

std::unique_ptr<KvIterator> RocksRelayDb::NewIterator(Cf which, std::string_view upper) {
  return std::make_unique<RocksIterator>(db_.get(), cf(which), upper);
}

uint64_t RocksRelayDb::EstimateKeys(Cf which) {
  uint64_t keys = 0;
  if (!db_->GetIntProperty(cf(which), "rocksdb.estimate-num-keys", &keys)) return 0;
  return keys;
}

absl::Status RocksRelayDb::Close() {
  if (db_ == nullptr) return absl::OkStatus();
  absl::Status result;
  if (!read_only_) {
    result = FromRocks(db_->FlushWAL(/*sync=*/true));
    std::vector<rocksdb::ColumnFamilyHandle*> all(handles_.begin(), handles_.end());
    rocksdb::FlushOptions flush;
    if (result.ok()) result = FromRocks(db_->Flush(flush, all));
  }
  for (auto*& h : handles_) {
    if (h != nullptr) (void)db_->DestroyColumnFamilyHandle(h);
    h = nullptr;
  }
  rocksdb::Status close = db_->Close();
  if (result.ok()) result = FromRocks(close);
  db_.reset();
  return result;
}

}  // namespace alliance::server

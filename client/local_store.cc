#include "client/local_store.h"

#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/write_batch_with_index.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "base/disk_space.h"
#include "base/status_macros.h"
#include "crypto/record_io.h"

namespace alliance::client {
namespace {

namespace fs = std::filesystem;
using crypto::ByteSpan;

constexpr char kKeyFile[] = "key.pb";
constexpr char kDbDir[] = "db";
// The store refuses to open or write while the filesystem holding the profile has less free
// than 5% of its size, at most this much (base/disk_space.h: RocksDB does not survive ENOSPC).
constexpr uint64_t kMaxFreeSpaceReserve = 64ull << 20;

absl::Status DiskFull(const std::string& dir) {
  return absl::ResourceExhaustedError("no space left on the disk holding the profile " + dir +
                                      "; free some space and retry");
}

rocksdb::Slice AsSlice(ByteSpan b) {
  return rocksdb::Slice(reinterpret_cast<const char*>(b.data()), b.size());
}

// Writes, syncs, renames into place and syncs the directory, so a power loss leaves either
// no key file or the whole one.
absl::Status WriteFileAtomically(const fs::path& path, const std::string& bytes) {
  fs::path tmp = path;
  tmp += ".tmp";
  const absl::Status failed = absl::UnavailableError("cannot write the profile directory");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return failed;
  const bool written =
      ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
      ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return failed;
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return failed;
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return absl::OkStatus();
}

bool IsLockError(const rocksdb::Status& s) {
  return s.IsIOError() &&
         (s.ToString().find("lock") != std::string::npos ||
          s.ToString().find("Resource temporarily unavailable") != std::string::npos);
}

}  // namespace

LocalStore::LocalStore(std::string dir, crypto::StoreKey key, LocalStoreOptions options)
    : dir_(std::move(dir)), key_(std::move(key)), options_(options) {
  if (!options_.hold_open && options_.linger > absl::ZeroDuration()) {
    closer_ = std::thread([this] { CloseWhenIdle(); });
  }
}

LocalStore::~LocalStore() {
  {
    base::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (closer_.joinable()) closer_.join();
  base::MutexLock lock(&mu_);
  CloseDb();
}

void LocalStore::CloseWhenIdle() {
  base::MutexLock lock(&mu_);
  while (true) {
    auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || db_ != nullptr; };
    mu_.Await(base::Condition(&wake));
    if (stopping_) return;
    // Open: wait until it has been idle for `linger` (each Run moves last_used_ on).
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    const absl::Duration idle = absl::Now() - last_used_;
    if (idle < options_.linger) {
      if (mu_.AwaitWithTimeout(base::Condition(&stop), options_.linger - idle)) return;
      continue;
    }
    CloseDb();
  }
}

absl::StatusOr<std::unique_ptr<LocalStore>> LocalStore::Create(const std::string& dir,
                                                               ByteSpan passphrase,
                                                               const LocalStoreOptions& options) {
  std::error_code ec;
  if (fs::exists(fs::path(dir) / kKeyFile, ec)) {
    return absl::AlreadyExistsError("a profile already exists in " + dir);
  }
  fs::create_directories(dir, ec);
  if (ec) return absl::UnavailableError("cannot create profile directory " + dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  ALLIANCE_ASSIGN_OR_RETURN(crypto::StoreKey::Created created,
                            crypto::StoreKey::Create(passphrase, options.cost));
  ALLIANCE_RETURN_IF_ERROR(
      WriteFileAtomically(fs::path(dir) / kKeyFile, created.wrapped.SerializeAsString()));
  auto store = std::unique_ptr<LocalStore>(new LocalStore(dir, std::move(created.key), options));
  // Create the database now so a later Open finds a complete profile.
  {
    base::MutexLock lock(&store->mu_);
    ALLIANCE_RETURN_IF_ERROR(store->OpenDb());
    if (!options.hold_open) store->CloseDb();
  }
  return store;
}

absl::StatusOr<std::unique_ptr<LocalStore>> LocalStore::Open(const std::string& dir,
                                                             ByteSpan passphrase,
                                                             const LocalStoreOptions& options) {
  const fs::path key_path = fs::path(dir) / kKeyFile;
  std::error_code ec;
  if (!fs::exists(key_path, ec)) {
    return absl::NotFoundError("no profile in " + dir + " (run `alliance init` first)");
  }
  std::ifstream in(key_path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string bytes = buf.str();
  if (bytes.size() > 4096) return absl::DataLossError("profile key file is damaged");
  v1::WrappedStoreKey wrapped;
  if (!wrapped.ParseFromString(bytes)) return absl::DataLossError("profile key file is damaged");
  absl::StatusOr<crypto::StoreKey> key = crypto::StoreKey::Unwrap(passphrase, wrapped);
  if (!key.ok()) {
    if (key.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::DataLossError("profile key file is damaged");
    }
    return key.status();
  }
  auto store = std::unique_ptr<LocalStore>(new LocalStore(dir, *std::move(key), options));
  if (options.hold_open) {
    base::MutexLock lock(&store->mu_);
    ALLIANCE_RETURN_IF_ERROR(store->OpenDb());
  }
  return store;
}

absl::Status LocalStore::OpenDb() {
  if (db_ != nullptr) return absl::OkStatus();
  // Opening writes too (a new log and manifest).
  if (base::BelowReserve(dir_, kMaxFreeSpaceReserve)) return DiskFull(dir_);
  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.paranoid_checks = true;
  opts.max_open_files = 64;
  opts.keep_log_file_num = 2;
  opts.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  const std::string path = (fs::path(dir_) / kDbDir).string();
  const absl::Time deadline = absl::Now() + options_.lock_wait;
  absl::Duration backoff = absl::Milliseconds(5);
  while (true) {
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(opts, path, &raw);
    if (s.ok()) {
      db_.reset(raw);
      return absl::OkStatus();
    }
    if (!IsLockError(s)) {
      if (s.IsCorruption()) return absl::DataLossError("local store is damaged");
      return absl::DataLossError("cannot open local store: " + std::string(s.getState()));
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError("profile is busy in another process");
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Milliseconds(100));
  }
}

void LocalStore::CloseDb() {
  if (db_ == nullptr) return;
  db_->Close().PermitUncheckedError();
  db_.reset();
}

absl::Status LocalStore::Run(const std::function<absl::Status(Txn&)>& fn, bool sync) {
  base::MutexLock lock(&mu_);
  ALLIANCE_RETURN_IF_ERROR(OpenDb());
  rocksdb::WriteBatchWithIndex batch(rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true);
  Txn txn(db_.get(), &key_, &batch);
  absl::Status s = fn(txn);
  if (s.ok() && batch.GetWriteBatch()->Count() > 0) {
    if (base::BelowReserve(dir_, kMaxFreeSpaceReserve)) {
      s = DiskFull(dir_);  // Nothing written: the transaction is as if never run.
    } else {
      rocksdb::WriteOptions wo;
      wo.sync = sync;
      rocksdb::Status ws = db_->Write(wo, batch.GetWriteBatch());
      if (ws.IsNoSpace()) {
        s = DiskFull(dir_);
        // RocksDB stopped writes with a background error; a fresh open starts clean.
        CloseDb();
      } else if (!ws.ok()) {
        s = absl::DataLossError("cannot write local store");
      }
    }
  }
  if (!options_.hold_open) {
    if (closer_.joinable()) {
      last_used_ = absl::Now();  // The closer thread closes it once idle.
    } else {
      CloseDb();
    }
  }
  return s;
}

absl::StatusOr<std::optional<crypto::SecretBytes>> LocalStore::Txn::GetBytes(
    const std::string& name) {
  crypto::RecordName key = key_->Name(crypto::AsBytes(name));
  std::string sealed;
  rocksdb::Status s = batch_->GetFromBatchAndDB(db_, rocksdb::ReadOptions(), AsSlice(key), &sealed);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return absl::DataLossError("cannot read local store");
  ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes value, key_->Open(key, crypto::AsBytes(sealed)));
  sodium_memzero(sealed.data(), sealed.size());
  return std::optional<crypto::SecretBytes>(std::move(value));
}

absl::StatusOr<bool> LocalStore::Txn::GetRecord(const std::string& name,
                                                google::protobuf::Message* record) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> bytes, GetBytes(name));
  if (!bytes.has_value()) return false;
  if (!crypto::ParseRecord(bytes->span(), record).ok()) {
    return absl::DataLossError("local store record is damaged");
  }
  return true;
}

absl::Status LocalStore::Txn::PutBytes(const std::string& name, ByteSpan value) {
  crypto::RecordName key = key_->Name(crypto::AsBytes(name));
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<uint8_t> sealed, key_->Seal(key, value));
  rocksdb::Status s = batch_->Put(AsSlice(key), AsSlice(sealed));
  if (!s.ok()) return absl::InternalError("cannot stage local write");
  return absl::OkStatus();
}

absl::Status LocalStore::Txn::Put(const std::string& name,
                                  const google::protobuf::Message& record) {
  const size_t size = record.ByteSizeLong();
  ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes bytes, crypto::SecretBytes::Allocate(size));
  if (size > 0 && !record.SerializeToArray(bytes.data(), static_cast<int>(size))) {
    return absl::InternalError("cannot serialize record");
  }
  return PutBytes(name, bytes.span());
}

void LocalStore::Txn::Delete(const std::string& name) {
  crypto::RecordName key = key_->Name(crypto::AsBytes(name));
  batch_->Delete(AsSlice(key)).PermitUncheckedError();
}

}  // namespace alliance::client

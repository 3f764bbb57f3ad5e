// BlobStore: the relay's encrypted attachments (proto/alliance/v1/blobs_service.proto,
// docs/attachments.md). It holds opaque ciphertext; names, types and keys never reach it.
//
//   ALLIANCE_ASSIGN_OR_RETURN(BlobRecord r, blobs.Begin(declaration));   // new, or resume
//   ALLIANCE_ASSIGN_OR_RETURN(r, blobs.Append(id, account, r.stored(), bytes));
//   ALLIANCE_ASSIGN_OR_RETURN(std::string piece, blobs.Read(id, offset, 256 << 10));
//   ALLIANCE_RETURN_IF_ERROR(blobs.Fetched(id, device_address));          // maybe deletes
//
// Incomplete uploads expire a day after their declaration (kIncompleteUploadTtl).
//
// Keys of column family "blobs" (integers big-endian):
//   'm' || blob id (16)                     -> BlobRecord
//   'c' || blob id || offset u64            -> ciphertext bytes from that offset (RocksDB blob
//                                              files hold these values)
//   'u' || account (16)                     -> u64 attachment bytes the account has declared
//                                              and not yet had deleted (its quota)
//   'o' || account || blob id               -> "" (the account's uploads, for erasure)
//   'x' || created ms u64 || blob id        -> "" (retention order)
//
// Appends are unsynced writes that move the record's `stored` in the same batch, so after a
// crash the record never claims bytes the database lost; the write that completes a blob is
// synced (and with it everything before it in the log). Thread-safe: one mutex orders every
// change of records and quotas (the writes are small and unsynced, except completions).
#ifndef ALLIANCE_SERVER_STORE_BLOB_STORE_H_
#define ALLIANCE_SERVER_STORE_BLOB_STORE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "server/infra/kv.h"
#include "server/infra/clock.h"
#include "server/infra/config.h"
#include "server/infra/db.h"
#include "server/relay_records.pb.h"

namespace alliance::server {

class BlobStore {
 public:
  // An upload's first request, checked by the service (ids, sizes, links).
  struct Declaration {
    std::string blob_id;           // 16 bytes
    std::string uploader_account;  // 16 bytes
    uint32_t uploader_device = 0;
    uint64_t size = 0;                    // ciphertext bytes
    std::vector<std::string> recipients;  // accounts, 16 bytes each
    // Devices that are to fetch it (account || device u32 BE), for a new blob.
    std::vector<std::string> pending;
    uint64_t offset = 0;  // where the caller's data starts
  };

  // `db` and `clock` must outlive the store.
  BlobStore(RelayDb* db, const Clock* clock, const Limits& limits);

  // Declares a new blob (offset 0; its size is charged to the uploader's quota at once), or
  // resumes one the uploader's account declared with the same size and recipients. The
  // uploader's account must be active (read under the lock erasure holds).
  // Errors: UNAUTHENTICATED (account closed or device removed), RESOURCE_EXHAUSTED (over the per-file limit or the account's quota: nothing is
  // stored), PERMISSION_DENIED (another account's blob), FAILED_PRECONDITION (the offset is not
  // the stored size, the declaration differs, or the blob is already complete), INTERNAL.
  [[nodiscard]] absl::StatusOr<BlobRecord> Begin(const Declaration& declaration);

  // Stores `data` at `offset`, which must be the stored size; completes the blob (a synced
  // write) when it reaches the declared size. Errors: NOT_FOUND (deleted meanwhile),
  // PERMISSION_DENIED, FAILED_PRECONDITION (offset), INVALID_ARGUMENT (beyond the declared
  // size), RESOURCE_EXHAUSTED (relay storage full), INTERNAL.
  [[nodiscard]] absl::StatusOr<BlobRecord> Append(std::string_view blob_id,
                                                  std::string_view account, uint64_t offset,
                                                  std::string_view data);

  // The record. Errors: NOT_FOUND.
  // `raw`, when given, gets the stored bytes (a write based on this read expects them).
  [[nodiscard]] absl::StatusOr<BlobRecord> Get(std::string_view blob_id,
                                               std::string* raw = nullptr);

  // Up to `max_bytes` of stored ciphertext from `offset` (empty at the stored end).
  // Errors: NOT_FOUND, DATA_LOSS (a chunk missing), INTERNAL.
  [[nodiscard]] absl::StatusOr<std::string> Read(std::string_view blob_id, uint64_t offset,
                                                 size_t max_bytes);

  // `device` (account || device u32 BE) streamed the blob to its end: it is no longer
  // pending, and the blob is deleted once nobody is. A device that was not pending changes
  // nothing.
  [[nodiscard]] absl::Status Fetched(std::string_view blob_id, std::string_view device);

  // Deletes blobs declared before the retention period, and uploads still incomplete a day
  // after their declaration (their quota is free again). Also forgets pending devices that
  // can no longer fetch (removed, account closed, link ended), deleting a blob nobody is left
  // to fetch. Returns how many blobs it deleted.
  [[nodiscard]] absl::StatusOr<uint64_t> SweepExpired();

  // Adds to `batch` the deletion of every blob `account` uploaded, and of its quota.
  // REQUIRES: mutex() held until `batch` is written, so that no append or declaration of the
  // account lands after the erasure (Begin refuses an account that is no longer active, and
  // its batch expects the account record as read: an erasure through another process wins).
  [[nodiscard]] absl::Status AddEraseUploads(std::string_view account, KvBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // After the erasure of `account` has committed: deletes the uploads declared through other
  // relay processes between AddEraseUploads's read and that commit (none can be declared
  // after it: Begin expects the account record as read). REQUIRES: mutex() held, as for
  // AddEraseUploads.
  [[nodiscard]] absl::Status EraseUploadsLeft(std::string_view account)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Orders erasure against uploads (see AddEraseUploads).
  base::Mutex& mutex() ABSL_LOCK_RETURNED(mu_) { return mu_; }

  // Bytes charged to `account` now.
  [[nodiscard]] absl::StatusOr<uint64_t> StoredBytes(std::string_view account);

 private:
  // `raw`, when given, gets the stored bytes (std::nullopt: none), for an expectation.
  absl::StatusOr<uint64_t> UsageLocked(std::string_view account,
                                       std::optional<std::string>* raw = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK if `account` is active and `device` one of its devices; `read` gets its record's bytes.
  absl::Status RequireActiveLocked(std::string_view account, uint32_t device, std::string* read)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<BlobRecord> BeginOnce(const Declaration& declaration) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status FetchedOnce(std::string_view blob_id, std::string_view device)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Whether `device` (account || device u32) can still fetch `record`: an active device of an
  // active account that is the uploader's or linked to it.
  absl::StatusOr<bool> StillToFetch(const BlobRecord& record, std::string_view device)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<uint64_t> PruneUnreachable();
  // Adds the deletion of `record`'s chunks, record and indexes to `batch`.
  static void AddDropChunksAndRecords(std::string_view blob_id, const BlobRecord& record,
                                      KvBatch* batch);
  // Adds the deletion of `record`'s blob (chunks, indexes) and its quota refund to `batch`.
  absl::Status AddDeleteLocked(std::string_view blob_id, const BlobRecord& record,
                               KvBatch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RelayDb* const db_;
  const Clock* const clock_;
  const Limits limits_;
  base::Mutex mu_;
};

// The ciphertext bytes a file of the relay's largest allowed size takes (the per-file limit
// on uploads: the limit counts file bytes, the relay sees ciphertext).
uint64_t MaxBlobBytes(const Limits& limits);

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_STORE_BLOB_STORE_H_

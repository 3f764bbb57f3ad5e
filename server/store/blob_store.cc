#include "server/store/blob_store.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/kv.h"
#include "server/store/devices.h"
#include "wire/protocol.h"

namespace alliance::server {
namespace {

std::string Key(char tag, std::string_view a, std::string_view b = {}) {
  std::string k(1, tag);
  k.append(a);
  k.append(b);
  return k;
}
std::string MetaKey(std::string_view id) { return Key('m', id); }
std::string ChunkKey(std::string_view id, uint64_t offset) {
  std::string k = Key('c', id);
  base::AppendU64BE(&k, offset);
  return k;
}
std::string UsageKey(std::string_view account) { return Key('u', account); }
std::string OwnerKey(std::string_view account, std::string_view id) {
  return Key('o', account, id);
}
std::string ExpiryKey(uint64_t created_ms, std::string_view id) {
  std::string k = "x";
  base::AppendU64BE(&k, created_ms);
  k.append(id);
  return k;
}
constexpr size_t kChunkKeySize = 1 + wire::kBlobIdSize + 8;
constexpr size_t kExpiryKeySize = 1 + 8 + wire::kBlobIdSize;

std::string EncodeU64(uint64_t v) {
  std::string s;
  base::AppendU64BE(&s, v);
  return s;
}

constexpr absl::Duration kIncompleteUploadTtl = absl::Hours(24);

bool SameDeclaration(const BlobRecord& r, const BlobStore::Declaration& d) {
  if (r.size() != d.size || static_cast<size_t>(r.recipients_size()) != d.recipients.size()) {
    return false;
  }
  for (size_t i = 0; i < d.recipients.size(); ++i) {
    if (r.recipients(static_cast<int>(i)) != d.recipients[i]) return false;
  }
  return true;
}

}  // namespace

uint64_t MaxBlobBytes(const Limits& limits) {
  return wire::AttachmentCipherSize(limits.max_attachment_bytes);
}

BlobStore::BlobStore(RelayDb* db, const Clock* clock, const Limits& limits)
    : db_(db), clock_(clock), limits_(limits) {}

absl::StatusOr<uint64_t> BlobStore::UsageLocked(std::string_view account,
                                                std::optional<std::string>* raw) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> v, db_->Get(Cf::kBlobs, UsageKey(account)));
  const uint64_t used = v.has_value() && v->size() == 8 ? base::ReadU64BE(v->data()) : 0;
  if (raw != nullptr) *raw = std::move(v);
  return used;
}

absl::StatusOr<uint64_t> BlobStore::StoredBytes(std::string_view account) {
  base::MutexLock lock(&mu_);
  return UsageLocked(account);
}

absl::StatusOr<BlobRecord> BlobStore::Get(std::string_view blob_id, std::string* raw) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> v, db_->Get(Cf::kBlobs, MetaKey(blob_id)));
  if (!v.has_value()) return absl::NotFoundError("no such attachment (it may have expired)");
  BlobRecord r;
  if (!r.ParseFromString(*v)) return absl::InternalError("unreadable blob record");
  if (raw != nullptr) *raw = std::move(*v);
  return r;
}

absl::Status BlobStore::RequireActiveLocked(std::string_view account, uint32_t device,
                                            std::string* read) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> raw, db_->Get(Cf::kAccounts, account));
  AccountRecord record;
  if (!raw.has_value() || !record.ParseFromString(*raw) ||
      record.state() != v1::ACCOUNT_STATE_ACTIVE || !HasDevice(record, device)) {
    return absl::UnauthenticatedError("this device was removed or its account closed");
  }
  if (read != nullptr) *read = std::move(*raw);
  return absl::OkStatus();
}

absl::StatusOr<BlobRecord> BlobStore::Begin(const Declaration& d) {
  if (d.size > MaxBlobBytes(limits_)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the attachment is over the relay's limit of ", limits_.max_attachment_bytes >> 20,
        " MiB"));
  }
  // A conflict: another relay process changed the account or its quota since the read (or
  // closed the account: the next try says so).
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<BlobRecord> begun = BeginOnce(d);
    if (!IsWriteConflict(begun.status()) || attempt == 7) return begun;
  }
}

absl::StatusOr<BlobRecord> BlobStore::BeginOnce(const Declaration& d) {
  base::MutexLock lock(&mu_);
  std::string account_read;
  ALLIANCE_RETURN_IF_ERROR(
      RequireActiveLocked(d.uploader_account, d.uploader_device, &account_read));
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> existing,
                            db_->Get(Cf::kBlobs, MetaKey(d.blob_id)));
  if (existing.has_value()) {
    BlobRecord r;
    if (!r.ParseFromString(*existing)) return absl::InternalError("unreadable blob record");
    if (r.uploader_account() != d.uploader_account) {
      return absl::PermissionDeniedError("that attachment id belongs to another account");
    }
    if (!SameDeclaration(r, d)) {
      return absl::FailedPreconditionError(
          "that attachment id was declared with another size or recipients");
    }
    if (r.complete()) return absl::FailedPreconditionError("that attachment is already stored");
    if (d.offset != r.stored()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the upload resumes at offset ", r.stored()));
    }
    return r;
  }
  if (d.offset != 0) {
    return absl::FailedPreconditionError("the upload resumes at offset 0 (nothing is stored)");
  }
  std::optional<std::string> usage_read;
  ALLIANCE_ASSIGN_OR_RETURN(const uint64_t used, UsageLocked(d.uploader_account, &usage_read));
  if (used + d.size > limits_.max_attachment_bytes_per_account) {
    return absl::ResourceExhaustedError(
        "this account's attachments fill its space at the relay; try again once recipients "
        "have fetched earlier ones");
  }
  BlobRecord r;
  r.set_uploader_account(d.uploader_account);
  r.set_uploader_device(d.uploader_device);
  r.set_size(d.size);
  r.set_created_at_ms(static_cast<uint64_t>(absl::ToUnixMillis(clock_->Now())));
  for (const std::string& a : d.recipients) r.add_recipients(a);
  for (const std::string& p : d.pending) r.add_pending(p);
  KvBatch batch;
  constexpr Cf cf = Cf::kBlobs;
  // Read-modify-writes: checked against uploads through other relay processes meanwhile.
  batch.Expect(cf, MetaKey(d.blob_id), std::nullopt);
  batch.Expect(cf, UsageKey(d.uploader_account), usage_read);
  // And the account still as read: an erasure through another relay process (which deletes
  // the account's uploads and quota) is not followed by a new upload of the closed account.
  batch.Expect(Cf::kAccounts, d.uploader_account, account_read);
  batch.Put(cf, MetaKey(d.blob_id), r.SerializeAsString());
  batch.Put(cf, UsageKey(d.uploader_account), EncodeU64(used + d.size));
  batch.Put(cf, OwnerKey(d.uploader_account, d.blob_id), "");
  batch.Put(cf, ExpiryKey(r.created_at_ms(), d.blob_id), "");
  ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/false));
  return r;
}

absl::StatusOr<BlobRecord> BlobStore::Append(std::string_view blob_id, std::string_view account,
                                             uint64_t offset, std::string_view data) {
  base::MutexLock lock(&mu_);
  std::string read;
  ALLIANCE_ASSIGN_OR_RETURN(BlobRecord r, Get(blob_id, &read));
  if (r.uploader_account() != account) {
    return absl::PermissionDeniedError("that attachment id belongs to another account");
  }
  if (r.complete() || offset != r.stored()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the upload resumes at offset ", r.stored()));
  }
  if (data.size() > r.size() - r.stored()) {
    return absl::InvalidArgumentError("more data than the attachment's declared size");
  }
  if (data.empty()) return r;
  r.set_stored(r.stored() + data.size());
  r.set_complete(r.stored() == r.size());
  KvBatch batch;
  batch.Expect(Cf::kBlobs, MetaKey(blob_id), read);
  batch.Put(Cf::kBlobs, ChunkKey(blob_id, offset),
            std::string_view(data.data(), data.size()));
  batch.Put(Cf::kBlobs, MetaKey(blob_id), r.SerializeAsString());
  ALLIANCE_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/r.complete()));
  return r;
}

absl::StatusOr<std::string> BlobStore::Read(std::string_view blob_id, uint64_t offset,
                                            size_t max_bytes) {
  const std::string lower = ChunkKey(blob_id, 0);
  const std::string upper = ChunkKey(blob_id, ~uint64_t{0});
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kBlobs, upper);
  std::string out;
  // The chunk holding `offset` is the last one starting at or before it.
  it->SeekForPrev(ChunkKey(blob_id, offset));
  if (!it->Valid() || it->key() < std::string_view(lower)) it->Seek(lower);
  uint64_t position = offset;
  for (; it->Valid() && out.size() < max_bytes; it->Next()) {
    if (it->key().size() != kChunkKeySize) continue;
    const uint64_t start = base::ReadU64BE(it->key().data() + 1 + wire::kBlobIdSize);
    const uint64_t end = start + it->value().size();
    if (end <= position) continue;
    if (start > position) return absl::DataLossError("an attachment chunk is missing");
    const size_t skip = static_cast<size_t>(position - start);
    const size_t take = std::min<size_t>(it->value().size() - skip, max_bytes - out.size());
    out.append(it->value().data() + skip, take);
    position += take;
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  return out;
}

void BlobStore::AddDropChunksAndRecords(std::string_view blob_id, const BlobRecord& record,
                                        KvBatch* batch) {
  constexpr Cf cf = Cf::kBlobs;
  batch->DeleteRange(cf, ChunkKey(blob_id, 0), ChunkKey(blob_id, ~uint64_t{0}));
  batch->Delete(cf, ChunkKey(blob_id, ~uint64_t{0}));  // DeleteRange excludes its end
  batch->Delete(cf, MetaKey(blob_id));
  batch->Delete(cf, OwnerKey(record.uploader_account(), blob_id));
  batch->Delete(cf, ExpiryKey(record.created_at_ms(), blob_id));
}

absl::Status BlobStore::AddDeleteLocked(std::string_view blob_id, const BlobRecord& record,
                                        KvBatch* batch) {
  constexpr Cf cf = Cf::kBlobs;
  AddDropChunksAndRecords(blob_id, record, batch);
  std::optional<std::string> usage_read;
  ALLIANCE_ASSIGN_OR_RETURN(const uint64_t used,
                            UsageLocked(record.uploader_account(), &usage_read));
  batch->Expect(cf, UsageKey(record.uploader_account()), usage_read);
  const uint64_t left = used > record.size() ? used - record.size() : 0;
  if (left == 0) {
    batch->Delete(cf, UsageKey(record.uploader_account()));
  } else {
    batch->Put(cf, UsageKey(record.uploader_account()), EncodeU64(left));
  }
  return absl::OkStatus();
}

absl::Status BlobStore::Fetched(std::string_view blob_id, std::string_view device) {
  // A conflict: another recipient finished through another relay process meanwhile; read
  // again, so neither stays pending (which would keep the blob until retention).
  for (int attempt = 0;; ++attempt) {
    absl::Status done = FetchedOnce(blob_id, device);
    if (!IsWriteConflict(done) || attempt == 7) return done;
  }
}

absl::Status BlobStore::FetchedOnce(std::string_view blob_id, std::string_view device) {
  base::MutexLock lock(&mu_);
  std::string read;
  absl::StatusOr<BlobRecord> r = Get(blob_id, &read);
  if (absl::IsNotFound(r.status())) return absl::OkStatus();
  ALLIANCE_RETURN_IF_ERROR(r.status());
  auto* pending = r->mutable_pending();
  auto it = std::find(pending->begin(), pending->end(), device);
  if (it == pending->end()) return absl::OkStatus();
  pending->erase(it);
  KvBatch batch;
  // Two recipients finishing through two relay processes: neither write may undo the other.
  batch.Expect(Cf::kBlobs, MetaKey(blob_id), read);
  if (pending->empty()) {
    ALLIANCE_RETURN_IF_ERROR(AddDeleteLocked(blob_id, *r, &batch));
  } else {
    batch.Put(Cf::kBlobs, MetaKey(blob_id), r->SerializeAsString());
  }
  return db_->Write(&batch, /*sync=*/false);
}

absl::StatusOr<uint64_t> BlobStore::SweepExpired() {
  const absl::Time now = clock_->Now();
  const uint64_t cutoff_ms = static_cast<uint64_t>(absl::ToUnixMillis(now - limits_.retention));
  const uint64_t incomplete_cutoff_ms =
      static_cast<uint64_t>(absl::ToUnixMillis(now - kIncompleteUploadTtl));
  // Everything declared before the later of the two cutoffs is looked at; complete blobs go
  // only once past retention.
  const std::string upper = ExpiryKey(std::max(cutoff_ms, incomplete_cutoff_ms), "");
  std::vector<std::string> expired;
  {
    std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kBlobs, upper);
    for (it->Seek("x"); it->Valid(); it->Next()) {
      if (it->key().size() != kExpiryKeySize) continue;
      expired.emplace_back(it->key().data() + 1, 8 + wire::kBlobIdSize);  // time || id
    }
    ALLIANCE_RETURN_IF_ERROR(it->status());
  }
  uint64_t deleted = 0;
  for (const std::string& entry : expired) {
    const uint64_t created_ms = base::ReadU64BE(entry.data());
    const std::string id = entry.substr(8);
    base::MutexLock lock(&mu_);
    std::string read;
    absl::StatusOr<BlobRecord> r = Get(id, &read);
    if (absl::IsNotFound(r.status())) continue;
    ALLIANCE_RETURN_IF_ERROR(r.status());
    if (created_ms >= cutoff_ms && r->complete()) continue;  // complete, within retention
    KvBatch batch;
    batch.Expect(Cf::kBlobs, MetaKey(id), read);
    ALLIANCE_RETURN_IF_ERROR(AddDeleteLocked(id, *r, &batch));
    absl::Status written = db_->Write(&batch, /*sync=*/false);
    if (IsWriteConflict(written)) continue;  // changed through another relay: the next sweep
    ALLIANCE_RETURN_IF_ERROR(written);
    ++deleted;
  }
  ALLIANCE_ASSIGN_OR_RETURN(const uint64_t unreachable, PruneUnreachable());
  return deleted + unreachable;
}

absl::StatusOr<bool> BlobStore::StillToFetch(const BlobRecord& record, std::string_view device) {
  if (device.size() != wire::kAccountIdSize + 4) return false;
  const std::string_view account = device.substr(0, wire::kAccountIdSize);
  const uint32_t device_id = base::ReadU32BE(device.data() + wire::kAccountIdSize);
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> raw, db_->Get(Cf::kAccounts, account));
  AccountRecord a;
  if (!raw.has_value() || !a.ParseFromString(*raw) || a.state() != v1::ACCOUNT_STATE_ACTIVE ||
      !HasDevice(a, device_id)) {
    return false;
  }
  if (account == record.uploader_account()) return true;
  std::string link(record.uploader_account());
  link.append(account);
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<std::string> linked, db_->Get(Cf::kLinks, link));
  return linked.has_value();
}

absl::StatusOr<uint64_t> BlobStore::PruneUnreachable() {
  std::vector<std::string> ids;
  {
    std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kBlobs, "n");
    for (it->Seek("m"); it->Valid(); it->Next()) {
      if (it->key().size() == 1 + wire::kBlobIdSize) ids.emplace_back(it->key().data() + 1, wire::kBlobIdSize);
    }
    ALLIANCE_RETURN_IF_ERROR(it->status());
  }
  uint64_t deleted = 0;
  for (const std::string& id : ids) {
    base::MutexLock lock(&mu_);
    std::string read;
    absl::StatusOr<BlobRecord> r = Get(id, &read);
    if (absl::IsNotFound(r.status())) continue;
    ALLIANCE_RETURN_IF_ERROR(r.status());
    if (!r->complete()) continue;
    BlobRecord pruned = *r;
    pruned.clear_pending();
    for (const std::string& device : r->pending()) {
      ALLIANCE_ASSIGN_OR_RETURN(const bool waiting, StillToFetch(*r, device));
      if (waiting) pruned.add_pending(device);
    }
    if (pruned.pending_size() == r->pending_size()) continue;
    KvBatch batch;
    batch.Expect(Cf::kBlobs, MetaKey(id), read);
    const bool last = pruned.pending().empty();
    if (last) {
      ALLIANCE_RETURN_IF_ERROR(AddDeleteLocked(id, pruned, &batch));
    } else {
      batch.Put(Cf::kBlobs, MetaKey(id), pruned.SerializeAsString());
    }
    absl::Status written = db_->Write(&batch, /*sync=*/false);
    if (IsWriteConflict(written)) continue;  // changed through another relay: the next sweep
    ALLIANCE_RETURN_IF_ERROR(written);
    if (last) ++deleted;
  }
  return deleted;
}

absl::Status BlobStore::AddEraseUploads(std::string_view account, KvBatch* batch) {
  const std::string prefix = Key('o', account);
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kBlobs);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + wire::kBlobIdSize) continue;
    const std::string id(it->key().data() + prefix.size(), wire::kBlobIdSize);
    absl::StatusOr<BlobRecord> r = Get(id);
    if (absl::IsNotFound(r.status())) continue;
    ALLIANCE_RETURN_IF_ERROR(r.status());
    // No expectation (an account appending or declaring through other relay processes could
    // keep an erasure that expects its records from ever landing): the lock orders this after
    // an append in progress, and an append after it finds the record gone. The quota goes
    // whole, below.
    batch->Lock(Cf::kBlobs, MetaKey(id));
    AddDropChunksAndRecords(id, *r, batch);
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  batch->Delete(Cf::kBlobs, UsageKey(account));
  return absl::OkStatus();
}

absl::Status BlobStore::EraseUploadsLeft(std::string_view account) {
  KvBatch batch;
  ALLIANCE_RETURN_IF_ERROR(AddEraseUploads(account, &batch));
  return db_->Write(&batch, /*sync=*/true);
}

}  // namespace alliance::server

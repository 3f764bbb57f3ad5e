// Blobs: attachment ciphertext stored, resumed, limited, guarded and swept by the relay
// (proto/alliance/v1/blobs_service.proto), through real gRPC streams on 127.0.0.1.
#include <sodium.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "base/bytes.h"
#include "tests/server/relay_harness.h"
#include "wire/protocol.h"

namespace alliance::server::testing {
namespace {

std::string RandomBytes(size_t n) {
  std::string s(n, '\0');
  randombytes_buf(s.data(), s.size());
  return s;
}

class BlobsTest : public ::testing::Test {
 protected:
  explicit BlobsTest(Limits limits = SmallLimits()) : h_(limits) {
    admin_ = h_.NewAdmin();
    therapist_ = h_.Invite(admin_, v1::ROLE_THERAPIST);
    client_ = h_.Invite(therapist_, v1::ROLE_CLIENT);
  }

  static Limits SmallLimits() {
    Limits l;
    l.max_attachment_bytes = 400 << 10;
    l.max_attachment_bytes_per_account = 1000 << 10;
    return l;
  }

  v1::UploadStart Start(const std::string& id, uint64_t size,
                        std::vector<std::string> recipients, uint64_t offset = 0) {
    v1::UploadStart s;
    s.set_blob_id(id);
    s.set_size(size);
    for (const std::string& r : recipients) s.add_recipient_account_ids(r);
    s.set_offset(offset);
    return s;
  }

  // One Upload stream: `start`, then `data` in pieces of `piece` bytes, then half-close.
  grpc::Status Upload(const TestAccount& who, const v1::UploadStart& start,
                      const std::string& data, v1::UploadResponse* response = nullptr,
                      size_t piece = 100 << 10) {
    auto ctx = h_.Ctx(who);
    v1::UploadResponse local;
    auto writer = h_.blobs().Upload(ctx.get(), response ? response : &local);
    v1::UploadRequest req;
    *req.mutable_start() = start;
    bool open = writer->Write(req);
    for (size_t at = 0; open && at < data.size(); at += piece) {
      v1::UploadRequest r;
      r.set_data(data.substr(at, piece));
      open = writer->Write(r);
    }
    if (open) writer->WritesDone();
    return writer->Finish();
  }

  grpc::Status Download(const TestAccount& who, const std::string& id, std::string* out,
                        uint64_t offset = 0, size_t* responses = nullptr) {
    auto ctx = h_.Ctx(who);
    v1::DownloadRequest req;
    req.set_blob_id(id);
    req.set_offset(offset);
    auto reader = h_.blobs().Download(ctx.get(), req);
    v1::DownloadResponse r;
    size_t n = 0;
    while (reader->Read(&r)) {
      EXPECT_EQ(r.offset(), offset + out->size());
      out->append(r.data());
      ++n;
    }
    if (responses != nullptr) *responses = n;
    return reader->Finish();
  }

  grpc::Status Status(const TestAccount& who, const std::string& id,
                      v1::UploadStatusResponse* response) {
    auto ctx = h_.Ctx(who);
    v1::UploadStatusRequest req;
    req.set_blob_id(id);
    return h_.blobs().UploadStatus(ctx.get(), req, response);
  }

  // The admin deactivates `who`.
  grpc::Status Deactivate(const TestAccount& who) {
    auto ctx = h_.Ctx(admin_);
    v1::DeactivateAccountRequest req;
    req.set_account_id(who.account_id);
    v1::DeactivateAccountResponse resp;
    return h_.clinic().DeactivateAccount(ctx.get(), req, &resp);
  }

  uint64_t Quota(const TestAccount& who) { return *h_.relay().blobs()->StoredBytes(who.account_id); }

  RelayHarness h_;
  TestAccount admin_, therapist_, client_;
};

TEST_F(BlobsTest, AnUploadDownloadsWholeAndIsDeletedOnceEveryRecipientDeviceFetchedIt) {
  const std::string id = NewMessageId();
  const std::string data = RandomBytes(300 << 10);
  v1::UploadResponse up;
  ASSERT_TRUE(Upload(therapist_, Start(id, data.size(), {client_.account_id}), data, &up).ok());
  EXPECT_TRUE(up.complete());
  EXPECT_EQ(up.stored_bytes(), data.size());
  EXPECT_EQ(Quota(therapist_), data.size());

  // The uploader may read it back without counting as a recipient device.
  std::string mine;
  ASSERT_TRUE(Download(therapist_, id, &mine).ok());
  EXPECT_EQ(mine, data);

  // The recipient reads it in bounded pieces, resuming from an offset.
  std::string got;
  size_t pieces = 0;
  ASSERT_TRUE(Download(client_, id, &got, 0, &pieces).ok());
  EXPECT_EQ(got, data);
  EXPECT_EQ(pieces, 2u);  // 256 KiB + the rest

  // Streaming to the end is not yet proof of arrival: the blob stays until the device says it
  // holds it all (a request from the end), then it is gone and the quota is free again.
  v1::UploadStatusResponse status;
  ASSERT_TRUE(Status(therapist_, id, &status).ok());
  std::string nothing;
  ASSERT_TRUE(Download(client_, id, &nothing, data.size()).ok());
  EXPECT_TRUE(nothing.empty());
  EXPECT_EQ(Status(therapist_, id, &status).error_code(), grpc::StatusCode::NOT_FOUND);
  std::string again;
  EXPECT_EQ(Download(client_, id, &again).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Quota(therapist_), 0u);
}

TEST_F(BlobsTest, ADownloadResumesFromAnOffsetAndOnlyARecipientsAcknowledgementDeletes) {
  const std::string id = NewMessageId();
  const std::string data = RandomBytes(150 << 10);
  ASSERT_TRUE(Upload(client_, Start(id, data.size(), {therapist_.account_id}), data).ok());
  std::string tail;
  ASSERT_TRUE(Download(therapist_, id, &tail, 100'000).ok());
  EXPECT_EQ(tail, data.substr(100'000));
  v1::UploadStatusResponse status;
  ASSERT_TRUE(Status(client_, id, &status).ok());
  // The uploader's own word does not count (it is not a recipient device); the recipient's does.
  std::string nothing;
  ASSERT_TRUE(Download(client_, id, &nothing, data.size()).ok());
  ASSERT_TRUE(Status(client_, id, &status).ok());
  ASSERT_TRUE(Download(therapist_, id, &nothing, data.size()).ok());
  EXPECT_EQ(Status(client_, id, &status).error_code(), grpc::StatusCode::NOT_FOUND);

  const std::string id2 = NewMessageId();
  ASSERT_TRUE(Upload(client_, Start(id2, data.size(), {therapist_.account_id}), data).ok());
  std::string beyond;
  EXPECT_EQ(Download(therapist_, id2, &beyond, data.size() + 1).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Status(client_, id2, &status).ok());
}

TEST_F(BlobsTest, AnUploadCutOffMidwayResumesAtTheStoredOffsetOnly) {
  const std::string id = NewMessageId();
  const std::string data = RandomBytes(180 << 10);
  const v1::UploadStart start = Start(id, data.size(), {client_.account_id});
  v1::UploadResponse up;
  ASSERT_TRUE(Upload(therapist_, start, data.substr(0, 70'000), &up).ok());
  EXPECT_FALSE(up.complete());
  EXPECT_EQ(up.stored_bytes(), 70'000u);
  v1::UploadStatusResponse status;
  ASSERT_TRUE(Status(therapist_, id, &status).ok());
  EXPECT_EQ(status.stored_bytes(), 70'000u);
  EXPECT_EQ(status.size(), data.size());
  EXPECT_FALSE(status.complete());

  // Not downloadable while incomplete.
  std::string early;
  EXPECT_EQ(Download(client_, id, &early).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Restarting from 0, or skipping ahead, is refused with the offset to resume at.
  grpc::Status wrong = Upload(therapist_, start, data);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(wrong.error_message().find("70000"), std::string::npos) << wrong.error_message();
  // Another declaration for the same id is refused too.
  EXPECT_EQ(Upload(therapist_, Start(id, data.size() + 1, {client_.account_id}, 70'000), "")
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  ASSERT_TRUE(Upload(therapist_, Start(id, data.size(), {client_.account_id}, 70'000),
                     data.substr(70'000), &up)
                  .ok());
  EXPECT_TRUE(up.complete());
  std::string got;
  ASSERT_TRUE(Download(client_, id, &got).ok());
  EXPECT_EQ(got, data);
}

TEST_F(BlobsTest, OverLimitUploadsAreRefusedBeforeAnyByteIsStored) {
  // Per file: the limit counts file bytes; the relay allows their ciphertext size.
  const uint64_t max_cipher = wire::AttachmentCipherSize(400 << 10);
  const std::string id = NewMessageId();
  grpc::Status s =
      Upload(therapist_, Start(id, max_cipher + 1, {client_.account_id}), RandomBytes(1000));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  v1::UploadStatusResponse status;
  EXPECT_EQ(Status(therapist_, id, &status).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Quota(therapist_), 0u);

  // Per account: declared bytes count at once, until deleted.
  ASSERT_TRUE(Upload(therapist_, Start(NewMessageId(), 400 << 10, {client_.account_id}), "").ok());
  ASSERT_TRUE(Upload(therapist_, Start(NewMessageId(), 400 << 10, {client_.account_id}), "").ok());
  const std::string third = NewMessageId();
  s = Upload(therapist_, Start(third, 400 << 10, {client_.account_id}), RandomBytes(1000));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(Status(therapist_, third, &status).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Quota(therapist_), 800u << 10);
  // Charged to the uploader only: the recipient can still upload.
  EXPECT_TRUE(Upload(client_, Start(NewMessageId(), 10, {therapist_.account_id}), "0123456789").ok());

  // More data than declared.
  const std::string small = NewMessageId();
  s = Upload(client_, Start(small, 10, {therapist_.account_id}), RandomBytes(11));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(BlobsTest, OnlyTheUploaderAndLinkedRecipientsMayDownload) {
  TestAccount therapist2 = h_.Invite(admin_, v1::ROLE_THERAPIST);
  TestAccount stranger = h_.Invite(therapist2, v1::ROLE_CLIENT);
  // Declaring an account that is not linked is refused.
  grpc::Status s = Upload(therapist_, Start(NewMessageId(), 10, {stranger.account_id}), "x");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  s = Upload(therapist_, Start(NewMessageId(), 10, {NewMessageId()}), "x");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  const std::string id = NewMessageId();
  const std::string data = RandomBytes(5000);
  ASSERT_TRUE(Upload(therapist_, Start(id, data.size(), {client_.account_id}), data).ok());
  std::string got;
  EXPECT_EQ(Download(stranger, id, &got).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Download(therapist2, id, &got).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(got.empty());
  // Nobody else may resume or inspect the uploader's blob.
  v1::UploadStatusResponse status;
  EXPECT_EQ(Status(client_, id, &status).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Upload(client_, Start(id, data.size(), {client_.account_id}, 0), "").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  std::string mine;
  ASSERT_TRUE(Download(client_, id, &mine).ok());
  EXPECT_EQ(mine, data);
}

TEST_F(BlobsTest, MalformedRequestsGetInvalidArgument) {
  const std::string to = client_.account_id;
  EXPECT_EQ(Upload(therapist_, Start("short", 10, {to}), "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Upload(therapist_, Start(NewMessageId(), 0, {to}), "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Upload(therapist_, Start(NewMessageId(), 10, {}), "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Upload(therapist_, Start(NewMessageId(), 10, {to, to}), "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Upload(therapist_, Start(NewMessageId(), 10, {"bad"}), "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<std::string> nine;
  for (int i = 0; i < 9; ++i) nine.push_back(NewMessageId());
  EXPECT_EQ(Upload(therapist_, Start(NewMessageId(), 10, nine), "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  {
    // Data before any start.
    auto ctx = h_.Ctx(therapist_);
    v1::UploadResponse resp;
    auto writer = h_.blobs().Upload(ctx.get(), &resp);
    v1::UploadRequest r;
    r.set_data("abc");
    writer->Write(r);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  std::string got;
  EXPECT_EQ(Download(client_, "short", &got).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Download(client_, NewMessageId(), &got).error_code(), grpc::StatusCode::NOT_FOUND);
  // Without a token nothing works.
  TestAccount anonymous;
  EXPECT_EQ(Upload(anonymous, Start(NewMessageId(), 10, {to}), "x").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Download(anonymous, NewMessageId(), &got).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(BlobsTest, TheRetentionSweepRemovesBlobsCompleteOrNot) {
  const std::string done = NewMessageId();
  const std::string half = NewMessageId();
  ASSERT_TRUE(Upload(therapist_, Start(done, 1000, {client_.account_id}), RandomBytes(1000)).ok());
  ASSERT_TRUE(Upload(therapist_, Start(half, 1000, {client_.account_id}), RandomBytes(10)).ok());
  h_.clock().Advance(absl::Hours(24 * 29));
  ASSERT_TRUE(h_.relay().SweepNow().ok());
  ASSERT_TRUE(h_.Login(&therapist_).ok());  // the token expired meanwhile
  v1::UploadStatusResponse status;
  EXPECT_TRUE(Status(therapist_, done, &status).ok());
  h_.clock().Advance(absl::Hours(24 * 2));
  ASSERT_TRUE(h_.relay().SweepNow().ok());
  ASSERT_TRUE(h_.Login(&therapist_).ok());
  EXPECT_EQ(Status(therapist_, done, &status).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Status(therapist_, half, &status).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Quota(therapist_), 0u);
}

TEST_F(BlobsTest, AnUploadLeftIncompleteExpiresAfterADayAndFreesItsQuota) {
  const std::string half = NewMessageId();
  ASSERT_TRUE(Upload(therapist_, Start(half, 1000, {client_.account_id}), RandomBytes(10)).ok());
  const std::string done = NewMessageId();
  ASSERT_TRUE(Upload(therapist_, Start(done, 1000, {client_.account_id}), RandomBytes(1000)).ok());
  EXPECT_EQ(Quota(therapist_), 2000u);
  h_.clock().Advance(absl::Hours(25));
  ASSERT_TRUE(h_.relay().SweepNow().ok());
  ASSERT_TRUE(h_.Login(&therapist_).ok());
  v1::UploadStatusResponse status;
  EXPECT_EQ(Status(therapist_, half, &status).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Status(therapist_, done, &status).ok());  // complete: kept until retention
  EXPECT_EQ(Quota(therapist_), 1000u);
}

TEST_F(BlobsTest, ABlobNobodyCanFetchAnyMoreIsDeletedByTheNextSweep) {
  TestAccount other = h_.Invite(therapist_, v1::ROLE_CLIENT);
  const std::string lost = NewMessageId();
  const std::string kept = NewMessageId();
  ASSERT_TRUE(Upload(therapist_, Start(lost, 1000, {client_.account_id}), RandomBytes(1000)).ok());
  ASSERT_TRUE(Upload(therapist_, Start(kept, 1000, {other.account_id}), RandomBytes(1000)).ok());
  EXPECT_EQ(Quota(therapist_), 2000u);
  ASSERT_TRUE(Deactivate(client_).ok());
  ASSERT_TRUE(h_.relay().SweepNow().ok());
  // The closed recipient's device can never fetch: its blob goes at once, not in 30 days.
  EXPECT_EQ(h_.relay().blobs()->Get(lost).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(h_.relay().blobs()->Get(kept).ok());
  EXPECT_EQ(Quota(therapist_), 1000u);
}

TEST_F(BlobsTest, AnAccountClosedDuringAnUploadStoresNothingMoreAndLeavesNothingBehind) {
  const std::string id = NewMessageId();
  auto ctx = h_.Ctx(client_);
  v1::UploadResponse response;
  auto writer = h_.blobs().Upload(ctx.get(), &response);
  v1::UploadRequest first;
  *first.mutable_start() = Start(id, 300'000, {therapist_.account_id});
  first.set_data(RandomBytes(1000));
  ASSERT_TRUE(writer->Write(first));
  // Wait until the relay has the first piece, then close the account from another call.
  for (int i = 0; i < 100 && !h_.relay().blobs()->Get(id).ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(h_.relay().blobs()->Get(id).ok());
  auto del_ctx = h_.Ctx(client_);
  v1::DeleteAccountRequest del;
  del.set_confirm_account_id(client_.account_id);
  v1::DeleteAccountResponse deleted;
  ASSERT_TRUE(h_.accounts().DeleteAccount(del_ctx.get(), del, &deleted).ok());
  v1::UploadRequest more;
  more.set_data(RandomBytes(1000));
  for (int i = 0; i < 5 && writer->Write(more); ++i) {
  }
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(h_.relay().blobs()->Get(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Quota(client_), 0u);
}

// Room for a blob of many pieces: more than gRPC's flow-control window can hold in flight.
class LargeBlobsTest : public BlobsTest {
 protected:
  LargeBlobsTest() : BlobsTest(Large()) {}
  static Limits Large() {
    Limits l;
    l.max_attachment_bytes = 32 << 20;
    return l;
  }
};

TEST_F(LargeBlobsTest, ADownloadInProgressStopsWhenTheRecipientIsDeactivated) {
  const std::string id = NewMessageId();
  const std::string data = RandomBytes(24 << 20);
  ASSERT_TRUE(Upload(therapist_, Start(id, data.size(), {client_.account_id}), data).ok());
  auto ctx = h_.Ctx(client_);
  v1::DownloadRequest req;
  req.set_blob_id(id);
  auto reader = h_.blobs().Download(ctx.get(), req);
  v1::DownloadResponse piece;
  ASSERT_TRUE(reader->Read(&piece));
  ASSERT_TRUE(Deactivate(client_).ok());
  uint64_t got = piece.data().size();
  while (reader->Read(&piece)) got += piece.data().size();
  EXPECT_LT(got, data.size());
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(BlobsTest, ABlobSurvivesARelayRestart) {
  const std::string id = NewMessageId();
  const std::string data = RandomBytes(120 << 10);
  ASSERT_TRUE(Upload(therapist_, Start(id, data.size(), {client_.account_id}), data).ok());
  h_.Restart();
  ASSERT_TRUE(h_.Login(&client_).ok());
  std::string got;
  ASSERT_TRUE(Download(client_, id, &got).ok());
  EXPECT_EQ(got, data);
}

TEST_F(BlobsTest, DeletingTheUploadersAccountErasesItsBlobs) {
  const std::string id = NewMessageId();
  ASSERT_TRUE(Upload(client_, Start(id, 1000, {therapist_.account_id}), RandomBytes(1000)).ok());
  EXPECT_EQ(Quota(client_), 1000u);
  auto ctx = h_.Ctx(client_);
  v1::DeleteAccountRequest req;
  req.set_confirm_account_id(client_.account_id);
  v1::DeleteAccountResponse resp;
  ASSERT_TRUE(h_.accounts().DeleteAccount(ctx.get(), req, &resp).ok());
  EXPECT_EQ(h_.relay().blobs()->Get(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Quota(client_), 0u);
}

}  // namespace
}  // namespace alliance::server::testing

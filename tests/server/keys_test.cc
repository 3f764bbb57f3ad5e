// Keys service: publication with signature checks and caps, bundle fetch consuming exactly one
// one-time prekey (also under 16 concurrent fetchers), status counts.
#include <sodium.h>

#include <mutex>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "tests/server/relay_harness.h"

namespace alliance::server::testing {
namespace {

v1::PublishPreKeysRequest PrekeyRequest(const TestAccount& owner, uint32_t first_id, int count,
                                        bool with_signed = true) {
  v1::PublishPreKeysRequest request;
  if (with_signed) *request.mutable_signed_prekey() = MakeSignedPreKey(owner, 7);
  for (int i = 0; i < count; ++i) {
    v1::OneTimePreKey* k = request.add_one_time_prekeys();
    k->set_id(first_id + i);
    std::string pub(32, '\0');
    randombytes_buf(pub.data(), pub.size());
    k->set_public_key(pub);
  }
  return request;
}

class KeysTest : public ::testing::Test {
 protected:
  KeysTest() {
    admin_ = h_.NewAdmin();
    therapist_ = h_.Invite(admin_, v1::ROLE_THERAPIST);
    client_ = h_.Invite(therapist_, v1::ROLE_CLIENT);
  }

  grpc::Status Publish(const TestAccount& who, const v1::PublishPreKeysRequest& request,
                       v1::PublishPreKeysResponse* response = nullptr) {
    v1::PublishPreKeysResponse ignored;
    return h_.keys().PublishPreKeys(h_.Ctx(who).get(), request,
                                    response != nullptr ? response : &ignored);
  }

  grpc::Status Fetch(const TestAccount& who, const v1::Address& target, v1::PreKeyBundle* out) {
    v1::FetchPreKeyBundleRequest request;
    *request.mutable_address() = target;
    v1::FetchPreKeyBundleResponse response;
    grpc::Status s = h_.keys().FetchPreKeyBundle(h_.Ctx(who).get(), request, &response);
    if (out != nullptr) *out = response.bundle();
    return s;
  }

  v1::GetPreKeyStatusResponse Status(const TestAccount& who) {
    v1::GetPreKeyStatusResponse response;
    EXPECT_TRUE(h_.keys().GetPreKeyStatus(h_.Ctx(who).get(), {}, &response).ok());
    return response;
  }

  RelayHarness h_;
  TestAccount admin_, therapist_, client_;
};

TEST_F(KeysTest, PublishFetchAndStatus) {
  v1::PublishPreKeysResponse published;
  ASSERT_TRUE(Publish(therapist_, PrekeyRequest(therapist_, 100, 3), &published).ok());
  EXPECT_EQ(published.one_time_prekey_count(), 3u);
  v1::GetPreKeyStatusResponse status = Status(therapist_);
  EXPECT_TRUE(status.has_signed_prekey());
  EXPECT_EQ(status.signed_prekey_id(), 7u);
  EXPECT_EQ(status.one_time_prekey_count(), 3u);

  v1::PreKeyBundle bundle;
  ASSERT_TRUE(Fetch(client_, therapist_.address(), &bundle).ok());
  EXPECT_EQ(bundle.identity_key(), therapist_.public_key);
  EXPECT_EQ(bundle.account_id(), therapist_.account_id);
  EXPECT_EQ(bundle.device_id(), 1u);
  EXPECT_EQ(bundle.signed_prekey().id(), 7u);
  ASSERT_TRUE(bundle.has_one_time_prekey());
  EXPECT_EQ(bundle.one_time_prekey().id(), 100u);
  EXPECT_EQ(Status(therapist_).one_time_prekey_count(), 2u);

  ASSERT_TRUE(Fetch(client_, therapist_.address(), &bundle).ok());
  ASSERT_TRUE(Fetch(client_, therapist_.address(), &bundle).ok());
  ASSERT_TRUE(Fetch(client_, therapist_.address(), &bundle).ok());
  EXPECT_FALSE(bundle.has_one_time_prekey());  // ran out: X3DH with 3 DHs
  EXPECT_TRUE(bundle.has_signed_prekey());
  EXPECT_EQ(Status(therapist_).one_time_prekey_count(), 0u);
}

TEST_F(KeysTest, BadSignedPreKeySignatureIsRejected) {
  v1::PublishPreKeysRequest request = PrekeyRequest(therapist_, 1, 1);
  // Signed by someone else.
  *request.mutable_signed_prekey() = MakeSignedPreKey(client_, 7);
  EXPECT_EQ(Publish(therapist_, request).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Altered after signing.
  request = PrekeyRequest(therapist_, 1, 1);
  request.mutable_signed_prekey()->set_created_at(1);
  EXPECT_EQ(Publish(therapist_, request).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(Status(therapist_).has_signed_prekey());
}

TEST_F(KeysTest, MalformedPublishIsInvalidArgument) {
  EXPECT_EQ(Publish(therapist_, v1::PublishPreKeysRequest()).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::PublishPreKeysRequest dup = PrekeyRequest(therapist_, 5, 2);
  dup.mutable_one_time_prekeys(1)->set_id(5);
  EXPECT_EQ(Publish(therapist_, dup).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::PublishPreKeysRequest short_key = PrekeyRequest(therapist_, 5, 1);
  short_key.mutable_one_time_prekeys(0)->set_public_key("short");
  EXPECT_EQ(Publish(therapist_, short_key).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KeysTest, OneTimePreKeyCapsAreEnforced) {
  EXPECT_EQ(Publish(therapist_, PrekeyRequest(therapist_, 0, 101)).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(Publish(therapist_, PrekeyRequest(therapist_, 0, 100)).ok());
  ASSERT_TRUE(Publish(therapist_, PrekeyRequest(therapist_, 100, 100, false)).ok());
  EXPECT_EQ(Publish(therapist_, PrekeyRequest(therapist_, 200, 1, false)).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Re-publishing an existing id replaces it without growing the count.
  v1::PublishPreKeysResponse response;
  ASSERT_TRUE(Publish(therapist_, PrekeyRequest(therapist_, 0, 1, false), &response).ok());
  EXPECT_EQ(response.one_time_prekey_count(), 200u);
}

TEST_F(KeysTest, FetchRequiresALink) {
  ASSERT_TRUE(Publish(admin_, PrekeyRequest(admin_, 0, 1)).ok());
  // The client is linked to its therapist only.
  EXPECT_EQ(Fetch(client_, admin_.address(), nullptr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::Address bad;
  bad.set_account_id("short");
  bad.set_device_id(1);
  EXPECT_EQ(Fetch(client_, bad, nullptr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KeysTest, FetchWithoutPublishedKeysIsFailedPrecondition) {
  EXPECT_EQ(Fetch(client_, therapist_.address(), nullptr).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(KeysTest, UnknownDeviceIsNotFound) {
  ASSERT_TRUE(Publish(therapist_, PrekeyRequest(therapist_, 0, 1)).ok());
  v1::Address device2 = therapist_.address();
  device2.set_device_id(2);
  EXPECT_EQ(Fetch(client_, device2, nullptr).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(KeysTest, ConcurrentFetchersNeverShareAOneTimeKey) {
  h_.options().limits.prekey_fetch_burst = 1000;  // this test is about atomicity, not budgets
  h_.Restart();
  ASSERT_TRUE(Publish(therapist_, PrekeyRequest(therapist_, 1000, 100)).ok());
  constexpr int kThreads = 16;
  constexpr int kFetchesPerThread = 8;  // 128 fetches for 100 keys
  std::mutex mu;
  std::vector<uint32_t> handed_out;
  int without_key = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kFetchesPerThread; ++i) {
        v1::PreKeyBundle bundle;
        grpc::Status s = Fetch(client_, therapist_.address(), &bundle);
        std::lock_guard<std::mutex> lock(mu);
        ASSERT_TRUE(s.ok()) << s.error_message();
        if (bundle.has_one_time_prekey()) {
          handed_out.push_back(bundle.one_time_prekey().id());
        } else {
          ++without_key;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<uint32_t> unique(handed_out.begin(), handed_out.end());
  EXPECT_EQ(handed_out.size(), 100u);
  EXPECT_EQ(unique.size(), 100u);
  EXPECT_EQ(without_key, kThreads * kFetchesPerThread - 100);
  EXPECT_EQ(Status(therapist_).one_time_prekey_count(), 0u);
}

TEST_F(KeysTest, PublishIsAudited) {
  ASSERT_TRUE(Publish(therapist_, PrekeyRequest(therapist_, 0, 5)).ok());
  v1::ReadAuditResponse audit;
  ASSERT_TRUE(h_.clinic().ReadAudit(h_.Ctx(admin_).get(), {}, &audit).ok());
  ASSERT_GT(audit.entries_size(), 0);
  const v1::AuditEntry& last = *audit.entries().rbegin();
  EXPECT_EQ(last.event(), v1::AUDIT_EVENT_KEYS_PUBLISHED);
  EXPECT_EQ(last.actor_account_id(), therapist_.account_id);
  EXPECT_EQ(last.count(), 5u);
}

}  // namespace
}  // namespace alliance::server::testing

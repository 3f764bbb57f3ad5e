// The relay's side of several devices per account (devices_service.proto): it enforces the
// device list the identity key signs — logins and signed prekeys by each device's own key,
// removal at once — and cannot add a device or accept a list the identity key did not sign.
// Devices are added by linking (a later step); these tests add one to the database directly,
// as linking will.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "alliance/v1/devices_service.grpc.pb.h"
#include "base/bytes.h"
#include "gtest/gtest.h"
#include "server/admin/restore.h"
#include "server/infra/db.h"
#include "server/relay_records.pb.h"
#include "server/store/devices.h"
#include "server/infra/storage.h"
#include "tests/server/relay_harness.h"
#include "wire/signed_strings.h"

namespace alliance::server::testing {
namespace {

class DevicesTest : public ::testing::Test {
 protected:
  DevicesTest() { Connect(); }

  void Connect() {
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(h_.relay().port()),
                                   grpc::InsecureChannelCredentials());
    devices_ = v1::Devices::NewStub(channel_);
  }

  v1::ListDevicesResponse List(const TestAccount& who, const std::string& account_id,
                               grpc::Status* status = nullptr) {
    v1::ListDevicesRequest request;
    request.set_account_id(account_id);
    v1::ListDevicesResponse response;
    grpc::Status s = devices_->ListDevices(h_.Ctx(who).get(), request, &response);
    if (status != nullptr) *status = s;
    return response;
  }

  // A list of `devices` (id, key, added_at as the relay has them) signed by `signer`.
  v1::SignedDeviceList SignedList(const TestAccount& account, const TestAccount& signer,
                                  uint64_t version,
                                  const std::vector<std::pair<uint32_t, std::string>>& devices) {
    const v1::ListDevicesResponse current = List(account, account.account_id);
    v1::SignedDeviceList list;
    list.set_version(version);
    std::vector<wire::DeviceListEntry> entries;
    for (const auto& [id, key] : devices) {
      uint64_t added_at = 0;
      for (const v1::DeviceStatus& d : current.devices()) {
        if (d.device_id() == id) added_at = d.added_at();
      }
      v1::DeviceEntry* e = list.add_devices();
      e->set_device_id(id);
      e->set_device_key(key);
      e->set_added_at(added_at);
    }
    for (const v1::DeviceEntry& e : list.devices()) {
      entries.push_back({e.device_id(), e.device_key(), e.added_at()});
    }
    list.set_signature(Sign(signer, wire::DeviceListMessage(h_.relay_id(), account.account_id,
                                                             version, entries)));
    return list;
  }

  grpc::Status Publish(const TestAccount& caller, const v1::SignedDeviceList& list,
                       v1::PublishDeviceListResponse* response = nullptr) {
    v1::PublishDeviceListRequest request;
    *request.mutable_list() = list;
    v1::PublishDeviceListResponse ignored;
    return devices_->PublishDeviceList(h_.Ctx(caller).get(), request,
                                       response != nullptr ? response : &ignored);
  }

  // Gives `account`'s first device the key `key` through its first list, then logs it in with
  // that key (the identity-key token stops working once the device has a key).
  void KeyTheFirstDevice(TestAccount* account, const TestAccount& key) {
    grpc::Status s = Publish(*account, SignedList(*account, *account, 1, {{1, key.public_key}}));
    ASSERT_TRUE(s.ok()) << s.error_message();
    account->device_public_key = key.public_key;
    account->device_secret_key = key.secret_key;
    ASSERT_TRUE(h_.Login(account).ok());
  }

  // Adds device `id` (with `key`, possibly empty) to the account in the database, as linking
  // will; the relay is restarted around the edit.
  TestAccount AddDevice(const TestAccount& account, uint32_t id, const std::string& key) {
    h_.Stop();
    {
      auto db = OpenStorage(h_.options(), StorageMode::kServe);
      EXPECT_TRUE(db.ok()) << db.status();
      auto raw = (*db)->Get(Cf::kAccounts, account.account_id);
      AccountRecord record;
      EXPECT_TRUE(raw.ok() && raw->has_value() && record.ParseFromString(**raw));
      DeviceRecord* d = record.add_devices();
      d->set_device_id(id);
      d->set_device_key(key);
      d->set_added_at(1'700'000'500);
      record.set_next_device_id(id + 1);
      KvBatch batch;
      batch.Put(Cf::kAccounts, account.account_id, record.SerializeAsString());
      EXPECT_TRUE((*db)->Write(&batch, true).ok());
      EXPECT_TRUE((*db)->Close().ok());
    }
    h_.Start();
    Connect();
    TestAccount device = account;
    device.device_id = id;
    device.token.clear();
    return device;
  }

  RelayHarness h_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Devices::Stub> devices_;
};

TEST_F(DevicesTest, ANewAccountHasDeviceOneWithoutAKeyAndNoList) {
  TestAccount admin = h_.NewAdmin();
  grpc::Status s;
  v1::ListDevicesResponse r = List(admin, admin.account_id, &s);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(r.has_list());
  ASSERT_EQ(r.devices_size(), 1);
  EXPECT_EQ(r.devices(0).device_id(), 1u);
  EXPECT_EQ(r.devices(0).added_at(), 1'700'000'000u);
  EXPECT_TRUE(r.devices(0).device_key().empty());
}

TEST_F(DevicesTest, BadRequestsGetTheirStatusAndOneLine) {
  TestAccount admin = h_.NewAdmin();
  grpc::Status s;
  List(admin, "short", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "malformed account id");
  List(admin, std::string(16, 'z'), &s);  // nobody the caller is linked to
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  TestAccount nobody = admin;
  nobody.token.clear();
  List(nobody, admin.account_id, &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Publish(nobody, v1::SignedDeviceList()).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Publish(admin, v1::SignedDeviceList()).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Oversized: more devices than the format allows, before any signature work.
  v1::SignedDeviceList many;
  many.set_version(1);
  for (uint32_t i = 1; i <= 1000; ++i) {
    v1::DeviceEntry* d = many.add_devices();
    d->set_device_id(i);
    d->set_device_key(std::string(32, static_cast<char>(i)));
  }
  many.set_signature(std::string(64, 's'));
  s = Publish(admin, many);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "malformed device list");
}

TEST_F(DevicesTest, OnceKeyedADeviceLogsInWithItsOwnKeyOnlyAndContactsSeeTheList) {
  TestAccount admin = h_.NewAdmin();
  TestAccount therapist = h_.Invite(admin, v1::ROLE_THERAPIST);
  TestAccount client = h_.Invite(therapist, v1::ROLE_CLIENT);
  const TestAccount key = NewIdentity();
  KeyTheFirstDevice(&client, key);

  // The identity key alone no longer logs this device in.
  TestAccount by_identity = client;
  by_identity.device_secret_key.clear();
  EXPECT_EQ(h_.Login(&by_identity).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(h_.Login(&client).ok());

  // The therapist (linked) sees the signed list, in ListDevices and in its contacts.
  v1::ListDevicesResponse seen = List(therapist, client.account_id);
  ASSERT_TRUE(seen.has_list());
  EXPECT_EQ(seen.list().version(), 1u);
  EXPECT_EQ(seen.list().devices(0).device_key(), key.public_key);
  EXPECT_EQ(seen.devices(0).device_key(), key.public_key);
  v1::ListContactsResponse contacts;
  ASSERT_TRUE(h_.accounts().ListContacts(h_.Ctx(therapist).get(), v1::ListContactsRequest(),
                                         &contacts).ok());
  bool found = false;
  for (const v1::Contact& c : contacts.contacts()) {
    if (c.account_id() != client.account_id) continue;
    found = true;
    EXPECT_EQ(c.device_list().SerializeAsString(), seen.list().SerializeAsString());
  }
  EXPECT_TRUE(found);

  // The admin is not linked to the client.
  grpc::Status s;
  List(admin, client.account_id, &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(DevicesTest, TokensFromBeforeTheDeviceGotItsKeyStopWorking) {
  TestAccount admin = h_.NewAdmin();
  TestAccount earlier = admin;  // an identity-key login, e.g. a removed device racing the list
  ASSERT_TRUE(h_.Login(&earlier).ok());
  KeyTheFirstDevice(&admin, NewIdentity());
  v1::ListContactsResponse contacts;
  EXPECT_EQ(h_.accounts()
                .ListContacts(h_.Ctx(earlier).get(), v1::ListContactsRequest(), &contacts)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(h_.accounts()
                  .ListContacts(h_.Ctx(admin).get(), v1::ListContactsRequest(), &contacts)
                  .ok());
}

TEST_F(DevicesTest, KeyingADeviceDropsItsIdentitySignedPreKeys) {
  TestAccount admin = h_.NewAdmin();
  TestAccount therapist = h_.Invite(admin, v1::ROLE_THERAPIST);
  v1::PublishPreKeysRequest request;
  *request.mutable_signed_prekey() = MakeSignedPreKey(therapist, 5);
  v1::PublishPreKeysResponse published;
  ASSERT_TRUE(h_.keys().PublishPreKeys(h_.Ctx(therapist).get(), request, &published).ok());
  KeyTheFirstDevice(&therapist, NewIdentity());
  // A removed device holds the identity key and could have signed those: they are gone.
  v1::FetchPreKeyBundleRequest fetch;
  *fetch.mutable_address() = therapist.address();
  v1::FetchPreKeyBundleResponse bundle;
  grpc::Status s = h_.keys().FetchPreKeyBundle(h_.Ctx(admin).get(), fetch, &bundle);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_EQ(s.error_message(), "no prekeys published");
}

TEST_F(DevicesTest, AKeyedDevicesSignedPreKeyMustBeSignedByItsDeviceKey) {
  TestAccount admin = h_.NewAdmin();
  const TestAccount key = NewIdentity();
  KeyTheFirstDevice(&admin, key);
  v1::PublishPreKeysRequest request;
  *request.mutable_signed_prekey() = MakeSignedPreKey(admin, 5);  // identity key, v1 string
  v1::PublishPreKeysResponse response;
  EXPECT_EQ(h_.keys().PublishPreKeys(h_.Ctx(admin).get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::SignedPreKey spk = request.signed_prekey();
  spk.set_signature(Sign(key, wire::DeviceSignedPreKeyMessage(admin.account_id, 1, spk.id(),
                                                              spk.created_at(),
                                                              spk.public_key())));
  *request.mutable_signed_prekey() = spk;
  grpc::Status s = h_.keys().PublishPreKeys(h_.Ctx(admin).get(), request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  // Signed for another device of the same account: refused.
  spk.set_signature(Sign(key, wire::DeviceSignedPreKeyMessage(admin.account_id, 2, spk.id(),
                                                              spk.created_at(),
                                                              spk.public_key())));
  *request.mutable_signed_prekey() = spk;
  EXPECT_EQ(h_.keys().PublishPreKeys(h_.Ctx(admin).get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(DevicesTest, TheRelayTakesOnlyListsTheIdentityKeySignedThatAddNoDevice) {
  TestAccount admin = h_.NewAdmin();
  const TestAccount key = NewIdentity();
  const TestAccount intruder = NewIdentity();
  // Signed by another key (a relay, or anyone without the identity key).
  EXPECT_EQ(Publish(admin, SignedList(admin, intruder, 1, {{1, key.public_key}})).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A device the account does not have.
  EXPECT_EQ(Publish(admin, SignedList(admin, admin, 1,
                                      {{1, key.public_key}, {2, intruder.public_key}}))
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // Another date than the relay's.
  v1::SignedDeviceList redated = SignedList(admin, admin, 1, {{1, key.public_key}});
  redated.mutable_devices(0)->set_added_at(5);
  std::vector<wire::DeviceListEntry> entries = {{1, key.public_key, 5}};
  redated.set_signature(
      Sign(admin, wire::DeviceListMessage(h_.relay_id(), admin.account_id, 1, entries)));
  EXPECT_EQ(Publish(admin, redated).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Malformed: no device.
  v1::SignedDeviceList empty;
  empty.set_version(1);
  empty.set_signature(std::string(64, 's'));
  EXPECT_EQ(Publish(admin, empty).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // The identity key as a device key: every device, a removed one too, holds it.
  EXPECT_EQ(Publish(admin, SignedList(admin, admin, 1, {{1, admin.public_key}})).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A first list at a version that would leave the owner no version to remove a device with.
  EXPECT_EQ(Publish(admin, SignedList(admin, admin, UINT64_MAX, {{1, key.public_key}}))
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  KeyTheFirstDevice(&admin, key);
  // Exactly the next version; a device's key never changes.
  EXPECT_EQ(Publish(admin, SignedList(admin, admin, 1, {{1, key.public_key}})).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Publish(admin, SignedList(admin, admin, 3, {{1, key.public_key}})).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Publish(admin, SignedList(admin, admin, 2, {{1, intruder.public_key}})).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Publish(admin, SignedList(admin, admin, 2, {{1, key.public_key}})).ok());
}

TEST_F(DevicesTest, AKeylessDeviceGetsItsKeyOnlyFromItsOwnList) {
  TestAccount admin = h_.NewAdmin();
  TestAccount laptop = AddDevice(admin, 2, "");
  ASSERT_TRUE(h_.Login(&admin).ok());
  const TestAccount key1 = NewIdentity();
  const TestAccount key2 = NewIdentity();
  EXPECT_EQ(Publish(admin, SignedList(admin, admin, 1,
                                      {{1, key1.public_key}, {2, key2.public_key}}))
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(DevicesTest, ARemovedDeviceIsCutOffAtOnceAndTheAuditLogSaysSo) {
  TestAccount admin = h_.NewAdmin();
  TestAccount therapist = h_.Invite(admin, v1::ROLE_THERAPIST);
  const TestAccount key1 = NewIdentity();
  const TestAccount key2 = NewIdentity();
  TestAccount laptop = AddDevice(therapist, 2, key2.public_key);
  laptop.device_secret_key = key2.secret_key;
  ASSERT_TRUE(h_.Login(&laptop).ok());
  ASSERT_TRUE(h_.Login(&therapist).ok());
  ASSERT_TRUE(h_.Login(&admin).ok());
  // Something waits in the laptop's mailbox.
  TestAccount to_laptop = therapist;
  to_laptop.device_id = 2;
  ASSERT_TRUE(
      h_.SendToDevices(admin, therapist.account_id, {therapist.address(), to_laptop.address()},
                       "for the laptop")
          .ok());
  ASSERT_EQ(h_.ReadBacklog(laptop).size(), 1u);

  v1::PublishDeviceListResponse response;
  grpc::Status s = Publish(therapist, SignedList(therapist, therapist, 1, {{1, key1.public_key}}),
                           &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(response.removed_device_ids_size(), 1);
  EXPECT_EQ(response.removed_device_ids(0), 2u);
  therapist.device_secret_key = key1.secret_key;
  ASSERT_TRUE(h_.Login(&therapist).ok());

  // Its token stops working, it cannot log in again, nothing reaches it.
  v1::ListContactsResponse contacts;
  EXPECT_EQ(h_.accounts()
                .ListContacts(h_.Ctx(laptop).get(), v1::ListContactsRequest(), &contacts)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(h_.Login(&laptop).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(h_.Send(admin, to_laptop, "too late").error_code(), grpc::StatusCode::NOT_FOUND);
  v1::ListDevicesResponse now = List(therapist, therapist.account_id);
  ASSERT_EQ(now.devices_size(), 1);
  EXPECT_EQ(now.devices(0).device_id(), 1u);

  // The audit log names the removal as a security event.
  v1::ReadAuditRequest audit;
  audit.set_security_only(true);
  v1::ReadAuditResponse entries;
  ASSERT_TRUE(h_.clinic().ReadAudit(h_.Ctx(admin).get(), audit, &entries).ok());
  bool removed = false, published = false;
  for (const v1::AuditEntry& e : entries.entries()) {
    if (e.event() == v1::AUDIT_EVENT_DEVICE_REMOVED && e.device_id() == 2 &&
        e.subject_account_id() == therapist.account_id) {
      removed = true;
    }
    if (e.event() == v1::AUDIT_EVENT_DEVICE_LIST_PUBLISHED && e.device_id() == 1) {
      published = true;
    }
  }
  EXPECT_TRUE(removed);
  EXPECT_TRUE(published);
}

TEST_F(DevicesTest, ARestoreEndsEverySessionSoNoRemovedDeviceComesBackWithItsToken) {
  ALLIANCE_SKIP_ON_POSTGRES("backup and restore of PostgreSQL use the database's own tools");
  TestAccount admin = h_.NewAdmin();
  const std::string backup = h_.data_dir() + "-backup";
  const std::string restored = h_.data_dir() + "-restored";
  ASSERT_TRUE(h_.relay().Backup(backup).ok());
  h_.Stop();
  auto summary = RestoreBackup(backup, restored);
  ASSERT_TRUE(summary.ok()) << summary.status();
  {
    auto db = RocksRelayDb::Open(restored);
    ASSERT_TRUE(db.ok()) << db.status();
    std::unique_ptr<KvIterator> it = (*db)->NewIterator(Cf::kSessions);
    it->SeekToFirst();
    EXPECT_FALSE(it->Valid()) << "a session token survived the restore";
    it.reset();
    ASSERT_TRUE((*db)->Close().ok());
  }
  std::filesystem::remove_all(backup);
  std::filesystem::remove_all(restored);
  h_.Start();
}

TEST_F(DevicesTest, ADeviceCannotRemoveItself) {
  TestAccount admin = h_.NewAdmin();
  const TestAccount key2 = NewIdentity();
  TestAccount laptop = AddDevice(admin, 2, key2.public_key);
  laptop.device_secret_key = key2.secret_key;
  ASSERT_TRUE(h_.Login(&laptop).ok());
  const TestAccount key1 = NewIdentity();
  // The laptop publishes a list with device 1 only (keyless device 1 gets no key from it
  // either): refused, nothing removed.
  EXPECT_EQ(Publish(laptop, SignedList(admin, admin, 1, {{1, key1.public_key}})).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(List(laptop, admin.account_id).devices_size(), 2);
}

}  // namespace
}  // namespace alliance::server::testing

namespace alliance::server::testing {
namespace {

TEST_F(DevicesTest, ASendMustCoverExactlyTheRecipientsActiveDevices) {
  TestAccount admin = h_.NewAdmin();
  TestAccount therapist = h_.Invite(admin, v1::ROLE_THERAPIST);
  const TestAccount key2 = NewIdentity();
  TestAccount laptop = AddDevice(therapist, 2, key2.public_key);
  laptop.device_secret_key = key2.secret_key;
  ASSERT_TRUE(h_.Login(&laptop).ok());
  ASSERT_TRUE(h_.Login(&therapist).ok());
  ASSERT_TRUE(h_.Login(&admin).ok());
  TestAccount device7 = therapist;
  device7.device_id = 7;

  // Device 2 left out and a device 7 that does not exist: nothing stored, both named.
  v1::SendResponse r;
  ASSERT_TRUE(
      h_.SendToDevices(admin, therapist.account_id, {therapist.address(), device7.address()}, "x", &r)
          .ok());
  ASSERT_EQ(r.mismatches_size(), 1);
  EXPECT_EQ(r.mismatches(0).account_id(), therapist.account_id);
  EXPECT_EQ(std::vector<uint32_t>(r.mismatches(0).missing().begin(), r.mismatches(0).missing().end()),
            std::vector<uint32_t>{2});
  EXPECT_EQ(std::vector<uint32_t>(r.mismatches(0).stale().begin(), r.mismatches(0).stale().end()),
            std::vector<uint32_t>{7});
  EXPECT_TRUE(h_.ReadBacklog(therapist).empty());
  // A single-device send to an account with two devices is the same.
  ASSERT_TRUE(h_.Send(admin, therapist, "y", &r).ok());
  EXPECT_EQ(r.mismatches_size(), 1);
  EXPECT_TRUE(h_.ReadBacklog(therapist).empty());

  // The retry with both devices is stored in both mailboxes, once, under one message id.
  const std::string id(16, 'm');
  ASSERT_TRUE(h_.SendToDevices(admin, therapist.account_id,
                               {therapist.address(), laptop.address()}, "both", &r, id)
                  .ok());
  EXPECT_EQ(r.mismatches_size(), 0);
  ASSERT_EQ(r.sequences_size(), 2);
  v1::SendResponse again;
  ASSERT_TRUE(h_.SendToDevices(admin, therapist.account_id,
                               {therapist.address(), laptop.address()}, "both", &again, id)
                  .ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(std::vector<uint64_t>(again.sequences().begin(), again.sequences().end()),
            std::vector<uint64_t>(r.sequences().begin(), r.sequences().end()));
  EXPECT_EQ(h_.ReadBacklog(therapist).size(), 1u);
  EXPECT_EQ(h_.ReadBacklog(laptop).size(), 1u);

  // A device named twice, or a third account's device, is malformed.
  EXPECT_EQ(h_.SendToDevices(admin, therapist.account_id,
                             {therapist.address(), therapist.address(), laptop.address()}, "z")
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  TestAccount client = h_.Invite(therapist, v1::ROLE_CLIENT);
  EXPECT_EQ(h_.SendToDevices(admin, therapist.account_id,
                             {therapist.address(), laptop.address(), client.address()}, "z")
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(DevicesTest, AnAdminListsAndRemovesAnAccountsDeviceButNeverItsLast) {
  TestAccount admin = h_.NewAdmin();
  TestAccount therapist = h_.Invite(admin, v1::ROLE_THERAPIST);
  const TestAccount key2 = NewIdentity();
  TestAccount laptop = AddDevice(therapist, 2, key2.public_key);
  laptop.device_secret_key = key2.secret_key;
  ASSERT_TRUE(h_.Login(&laptop).ok());
  ASSERT_TRUE(h_.Login(&therapist).ok());
  ASSERT_TRUE(h_.Login(&admin).ok());

  v1::ListAccountDevicesRequest list;
  list.set_account_id(therapist.account_id);
  v1::ListAccountDevicesResponse devices;
  ASSERT_TRUE(h_.clinic().ListAccountDevices(h_.Ctx(admin).get(), list, &devices).ok());
  ASSERT_EQ(devices.devices_size(), 2);
  // Only admins; the therapist may not even list its own this way.
  EXPECT_EQ(h_.clinic().ListAccountDevices(h_.Ctx(therapist).get(), list, &devices).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  v1::RemoveAccountDeviceRequest remove;
  remove.set_account_id(therapist.account_id);
  remove.set_device_id(2);
  v1::RemoveAccountDeviceResponse removed;
  EXPECT_EQ(h_.clinic().RemoveAccountDevice(h_.Ctx(therapist).get(), remove, &removed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(h_.clinic().RemoveAccountDevice(h_.Ctx(admin).get(), remove, &removed).ok());
  // Cut off at once; the remaining device works; its last device stays.
  v1::ListContactsResponse contacts;
  EXPECT_EQ(h_.accounts()
                .ListContacts(h_.Ctx(laptop).get(), v1::ListContactsRequest(), &contacts)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(h_.accounts()
                  .ListContacts(h_.Ctx(therapist).get(), v1::ListContactsRequest(), &contacts)
                  .ok());
  EXPECT_EQ(h_.clinic().RemoveAccountDevice(h_.Ctx(admin).get(), remove, &removed).error_code(),
            grpc::StatusCode::NOT_FOUND);
  remove.set_device_id(1);
  EXPECT_EQ(h_.clinic().RemoveAccountDevice(h_.Ctx(admin).get(), remove, &removed).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(h_.clinic().ListAccountDevices(h_.Ctx(admin).get(), list, &devices).ok());
  EXPECT_EQ(devices.devices_size(), 1);
}

TEST_F(DevicesTest, ALinkSlotWorksOnceAndExpiresAfterTenMinutes) {
  TestAccount admin = h_.NewAdmin();
  TestAccount therapist = h_.Invite(admin, v1::ROLE_THERAPIST);
  ASSERT_TRUE(h_.Login(&therapist).ok());
  auto start = [&](const std::string& link_id) {
    v1::StartLinkRequest req;
    req.set_link_id(link_id);
    v1::StartLinkResponse resp;
    grpc::ClientContext ctx;
    return devices_->StartLink(&ctx, req, &resp);
  };
  auto approve = [&](const std::string& link_id) {
    v1::ApproveLinkRequest req;
    req.set_link_id(link_id);
    req.set_sealed("sealed bytes the relay cannot read");
    v1::ApproveLinkResponse resp;
    return devices_->ApproveLink(h_.Ctx(therapist).get(), req, &resp);
  };
  auto await = [&](const std::string& link_id, v1::AwaitLinkResponse* resp) {
    v1::AwaitLinkRequest req;
    req.set_link_id(link_id);
    grpc::ClientContext ctx;
    return devices_->AwaitLink(&ctx, req, resp);
  };
  const std::string first(32, 'a');
  ASSERT_TRUE(start(first).ok());
  EXPECT_EQ(start(first).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(start("short").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::AwaitLinkResponse waiting;
  ASSERT_TRUE(await(first, &waiting).ok());
  EXPECT_FALSE(waiting.approved());
  ASSERT_TRUE(approve(first).ok());
  EXPECT_EQ(approve(first).error_code(), grpc::StatusCode::FAILED_PRECONDITION);  // once
  ASSERT_TRUE(await(first, &waiting).ok());
  EXPECT_TRUE(waiting.approved());
  EXPECT_EQ(waiting.account_id(), therapist.account_id);
  EXPECT_EQ(waiting.device_id(), 2u);

  // A slot nobody approved within 10 minutes is gone.
  const std::string second(32, 'b');
  ASSERT_TRUE(start(second).ok());
  h_.clock().Advance(absl::Minutes(10) + absl::Seconds(1));
  EXPECT_EQ(approve(second).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(await(second, &waiting).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(await(first, &waiting).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(approve(std::string(32, 'c')).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(DevicesTest, ALinkApprovedByADeviceRemovedSinceNeverCompletes) {
  TestAccount admin = h_.NewAdmin();
  TestAccount therapist = h_.Invite(admin, v1::ROLE_THERAPIST);
  const TestAccount key1 = NewIdentity();
  const TestAccount key2 = NewIdentity();
  TestAccount laptop = AddDevice(therapist, 2, key2.public_key);
  laptop.device_secret_key = key2.secret_key;
  ASSERT_TRUE(h_.Login(&laptop).ok());
  ASSERT_TRUE(h_.Login(&therapist).ok());
  // A stolen laptop approves a code of the thief's, then the owner removes the laptop.
  const std::string link_id(32, 't');
  {
    v1::StartLinkRequest req;
    req.set_link_id(link_id);
    v1::StartLinkResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(devices_->StartLink(&ctx, req, &resp).ok());
  }
  {
    v1::ApproveLinkRequest req;
    req.set_link_id(link_id);
    req.set_sealed("the account, sealed to the thief's code");
    v1::ApproveLinkResponse resp;
    ASSERT_TRUE(devices_->ApproveLink(h_.Ctx(laptop).get(), req, &resp).ok());
  }
  ASSERT_TRUE(Publish(therapist, SignedList(therapist, therapist, 1, {{1, key1.public_key}})).ok());
  // The thief's new device is not even handed the sealed account.
  {
    v1::AwaitLinkRequest req;
    req.set_link_id(link_id);
    v1::AwaitLinkResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = devices_->AwaitLink(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_TRUE(resp.sealed().empty());
  }
  v1::CompleteLinkRequest complete;
  complete.set_link_id(link_id);
  v1::DeviceEntry* e = complete.mutable_list()->add_devices();
  e->set_device_id(1);
  e->set_device_key(key1.public_key);
  e->set_added_at(1);
  complete.mutable_list()->set_version(2);
  complete.mutable_list()->set_signature(std::string(64, '\0'));
  v1::CompleteLinkResponse done;
  grpc::ClientContext ctx;
  grpc::Status s = devices_->CompleteLink(&ctx, complete, &done);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("removed"), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace alliance::server::testing

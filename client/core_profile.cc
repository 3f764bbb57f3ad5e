// ClientCore, the profile: creating and opening it, registration, prekey upkeep, administration and
// event delivery.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "care/agreement.h"
#include "care/concerns.h"
#include "care/crisis.h"
#include "care/due_list.h"
#include "care/goals.h"
#include "care/notice.h"
#include "care/reply_due.h"
#include "client/envelope_opener.h"
#include "client/internal/client_core.h"
#include "client/internal/core_helpers.h"
#include "client/receive_stream.h"
#include "client/store_names.h"
#include "crypto/devices.h"
#include "crypto/record_io.h"
#include "crypto/safety_number.h"
#include "crypto/session.h"
#include "nlohmann/json.hpp"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::client {

namespace {

constexpr uint32_t kOneTimeKeyTarget = 100;
constexpr uint32_t kOneTimeKeyLow = 20;
constexpr int64_t kSignedPreKeyRotation = 7 * 24 * 3600;
constexpr int64_t kSignedPreKeyKeep = 30 * 24 * 3600;

absl::Status PutKeyPair(LocalStore::Txn& txn, const std::string& name,
                        const crypto::IdentityKeyPair& pair) {
  v1::IdentityRecord rec;
  pair.ToRecord(&rec);
  ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes bytes, crypto::SerializeAndWipe(&rec));
  return txn.PutBytes(name, bytes.span());
}

// The key pair stored under `name`, or nullopt when there is none.
absl::StatusOr<std::optional<crypto::IdentityKeyPair>> GetKeyPair(LocalStore::Txn& txn,
                                                                   const std::string& name) {
  ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> bytes, txn.GetBytes(name));
  if (!bytes.has_value()) return std::optional<crypto::IdentityKeyPair>();
  v1::IdentityRecord rec;
  if (!crypto::ParseRecord(bytes->span(), &rec).ok()) {
    return absl::DataLossError("local store record is damaged");
  }
  absl::StatusOr<crypto::IdentityKeyPair> pair = crypto::IdentityKeyPair::FromRecord(rec);
  crypto::WipeMessage(&rec);
  if (!pair.ok()) return absl::DataLossError("profile key is damaged");
  return std::optional<crypto::IdentityKeyPair>(*std::move(pair));
}

}  // namespace

ClientCore::ClientCore(ClientOptions options, std::unique_ptr<LocalStore> store)
    : options_(std::move(options)), store_(std::move(store)) {
  if (!options_.clock) options_.clock = [] { return absl::Now(); };
}

ClientCore::~ClientCore() = default;

absl::Time ClientCore::Now() const { return options_.clock(); }

absl::StatusOr<std::unique_ptr<ClientCore>> ClientCore::Init(const ClientOptions& options,
                                                             crypto::ByteSpan passphrase) {
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<LocalStore> store,
                            LocalStore::Create(options.profile_dir, passphrase, options.store));
  auto client = std::unique_ptr<ClientCore>(new ClientCore(options, std::move(store)));
  ALLIANCE_ASSIGN_OR_RETURN(crypto::IdentityKeyPair id,
                            crypto::IdentityKeyPair::Generate(client->rng_));
  ALLIANCE_ASSIGN_OR_RETURN(crypto::IdentityKeyPair device,
                            crypto::IdentityKeyPair::Generate(client->rng_));
  ALLIANCE_RETURN_IF_ERROR(client->store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_RETURN_IF_ERROR(PutKeyPair(txn, names::Identity(), id));
    return PutKeyPair(txn, names::DeviceKey(), device);
  }));
  client->identity_.emplace(std::move(id));
  client->device_key_.emplace(std::move(device));
  return client;
}

absl::StatusOr<std::unique_ptr<ClientCore>> ClientCore::Open(const ClientOptions& options,
                                                             crypto::ByteSpan passphrase) {
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<LocalStore> store,
                            LocalStore::Open(options.profile_dir, passphrase, options.store));
  auto client = std::unique_ptr<ClientCore>(new ClientCore(options, std::move(store)));
  ALLIANCE_RETURN_IF_ERROR(client->LoadIdentity());
  return client;
}

absl::Status ClientCore::LoadIdentity() {
  std::optional<v1::AccountRecord> account;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::IdentityKeyPair> id,
                              GetKeyPair(txn, names::Identity()));
    if (!id.has_value()) return absl::DataLossError("profile has no identity key");
    identity_.emplace(*std::move(id));
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::IdentityKeyPair> device,
                              GetKeyPair(txn, names::DeviceKey()));
    if (!device.has_value()) {
      // A profile made before devices had keys: this device gets one now (published with the
      // account's first device list, see EnsureOwnDeviceList).
      ALLIANCE_ASSIGN_OR_RETURN(crypto::IdentityKeyPair made,
                                crypto::IdentityKeyPair::Generate(rng_));
      ALLIANCE_RETURN_IF_ERROR(PutKeyPair(txn, names::DeviceKey(), made));
      device.emplace(std::move(made));
    }
    device_key_.emplace(*std::move(device));
    ALLIANCE_ASSIGN_OR_RETURN(account, txn.Get<v1::AccountRecord>(names::Account()));
    return absl::OkStatus();
  }));
  if (account.has_value()) {
    if (options_.relay.ca_file.empty()) options_.relay.ca_file = account->relay_ca_file();
    ALLIANCE_ASSIGN_OR_RETURN(relay_, Connect(account->relay_address()));
    relay_->SetLogin(&*identity_, account->account_id(), account->device_id(), account->relay_id());
    relay_->SetDeviceKey(&*device_key_, account->own_device_list().version() > 0);
  }
  return absl::OkStatus();
}

absl::Status ClientCore::EnsureOwnDeviceList() {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  v1::ListDevicesRequest req;
  req.set_account_id(account.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ListDevicesResponse resp, relay_->ListDevices(req));
  const crypto::ByteSpan relay_id = crypto::AsBytes(account.relay_id());
  const crypto::ByteSpan account_id = crypto::AsBytes(account.account_id());
  const uint64_t recorded = account.own_device_list().version();
  std::vector<uint32_t> active;
  for (const v1::DeviceStatus& d : resp.devices()) active.push_back(d.device_id());
  auto is_active = [&](uint32_t id) {
    return std::find(active.begin(), active.end(), id) != active.end();
  };
  const crypto::PublicKey& dk = device_key_->public_key();
  const std::string my_key(reinterpret_cast<const char*>(dk.data()), dk.size());

  // The list to publish, if one is needed: built only from a list our identity key signed
  // (never from the relay's unsigned device records), keeping the devices the relay still has.
  std::optional<v1::SignedDeviceList> next;
  uint64_t relay_version = 0;
  if (resp.has_list()) {
    // Never a list older than the one this device recorded: the relay may not roll back.
    absl::StatusOr<crypto::VerifiedDeviceList> served = crypto::VerifyDeviceList(
        resp.list(), identity_->public_key(), relay_id, account_id);
    if (!served.ok()) {
      return absl::DataLossError("the relay serves a device list this account did not sign");
    }
    relay_version = served->version;
    const v1::SignedDeviceList& base = served->version >= recorded ? resp.list()
                                                                   : account.own_device_list();
    const v1::DeviceEntry* me = nullptr;
    for (const v1::DeviceEntry& e : base.devices()) {
      if (e.device_id() == account.device_id()) me = &e;
    }
    if (me == nullptr) return absl::PermissionDeniedError("this device was removed from the account");
    if (me->device_key() != my_key) {
      return absl::DataLossError("the relay holds another key for this device");
    }
    v1::SignedDeviceList kept = base;
    auto* entries = kept.mutable_devices();
    entries->erase(std::remove_if(entries->begin(), entries->end(),
                                  [&](const v1::DeviceEntry& e) {
                                    return !is_active(e.device_id());
                                  }),
                   entries->end());
    // A device the relay no longer has (an admin removed it) leaves the signed list too; a
    // list older than ours (the relay restored from a backup) is signed again from ours.
    if (kept.devices_size() != base.devices_size() || served->version < recorded) {
      next = std::move(kept);
    } else {
      ALLIANCE_RETURN_IF_ERROR(RecordOwnDeviceList(resp.list()));
      relay_->SetDeviceKey(&*device_key_, true);
      return absl::OkStatus();
    }
  } else {
    if (recorded > 0) {
      // The relay lost every list (restored from a backup taken before the first): ours again.
      next = account.own_device_list();
      auto* entries = next->mutable_devices();
      entries->erase(std::remove_if(entries->begin(), entries->end(),
                                    [&](const v1::DeviceEntry& e) {
                                      return !is_active(e.device_id());
                                    }),
                     entries->end());
    } else {
      // The first list: this device alone, with its key, at the date the relay recorded.
      next.emplace();
      for (const v1::DeviceStatus& d : resp.devices()) {
        if (d.device_id() != account.device_id()) continue;
        v1::DeviceEntry* e = next->add_devices();
        e->set_device_id(d.device_id());
        e->set_device_key(my_key);
        e->set_added_at(d.added_at());
      }
      if (next->devices_size() == 0) {
        return absl::PermissionDeniedError("this device was removed from the account");
      }
    }
  }
  next->set_version(relay_version + 1);
  ALLIANCE_RETURN_IF_ERROR(crypto::SignDeviceList(*identity_, relay_id, account_id, &*next));
  v1::PublishDeviceListRequest publish;
  *publish.mutable_list() = *next;
  ALLIANCE_RETURN_IF_ERROR(relay_->PublishDeviceList(publish).status());
  ALLIANCE_RETURN_IF_ERROR(RecordOwnDeviceList(*next));
  // Tokens from identity-key logins stop working once the device has its key.
  relay_->SetDeviceKey(&*device_key_, true);
  return absl::OkStatus();
}

absl::Status ClientCore::RecordOwnDeviceList(const v1::SignedDeviceList& list) {
  return store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AccountRecord> a,
                              txn.Get<v1::AccountRecord>(names::Account()));
    if (!a.has_value()) return absl::FailedPreconditionError("profile is not registered");
    DropSessionsOfRemovedDevices(txn, ToHex(a->account_id()), a->own_device_list(), list);
    // Never back to an older list: after a restore the relay counts again from below ours, and
    // the list we recorded stays until the relay's passes it.
    if (list.version() <= a->own_device_list().version()) return absl::OkStatus();
    *a->mutable_own_device_list() = list;
    a->mutable_own_device_list()->DiscardUnknownFields();
    return txn.Put(names::Account(), *a);
  });
}

absl::StatusOr<std::unique_ptr<RelayConnection>> ClientCore::Connect(const std::string& address) {
  RelayOptions ro = options_.relay;
  if (ro.address.empty()) ro.address = address;
  if (ro.address.empty()) return absl::InvalidArgumentError("no relay address given (--relay)");
  return RelayConnection::Create(ro);
}

absl::StatusOr<v1::AccountRecord> ClientCore::RequireAccount() {
  std::optional<v1::AccountRecord> account;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(account, txn.Get<v1::AccountRecord>(names::Account()));
    return absl::OkStatus();
  }));
  if (!account.has_value() || relay_ == nullptr) {
    return absl::FailedPreconditionError("profile is not registered (run `alliance register`)");
  }
  return *account;
}

absl::StatusOr<AccountView> ClientCore::Account() {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord a, RequireAccount());
  return AccountView{ToHex(a.account_id()), a.role(), relay_->address(), a.display_name(),
                     a.read_receipts()};
}

absl::Status ClientCore::Register(const std::string& invite_code, const std::string& display_name) {
  if (invite_code.size() != 16) return absl::InvalidArgumentError("invite code must be 16 bytes");
  if (display_name.size() > 200) return absl::InvalidArgumentError("display name is too long");
  if (relay_ != nullptr) return absl::FailedPreconditionError("profile is already registered");
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<RelayConnection> relay, Connect(""));
  ALLIANCE_ASSIGN_OR_RETURN(v1::ChallengeResponse ch, relay->Challenge());
  const crypto::PublicKey& ik = identity_->public_key();
  const std::string proof_msg =
      wire::RegisterMessage(ch.relay_id(), invite_code,
                            std::string_view(reinterpret_cast<const char*>(ik.data()), ik.size()));
  crypto::Signature proof = identity_->Sign(crypto::AsBytes(proof_msg));
  v1::RegisterRequest req;
  req.set_invite_code(invite_code);
  req.set_identity_key(reinterpret_cast<const char*>(ik.data()), ik.size());
  req.set_proof(reinterpret_cast<const char*>(proof.data()), proof.size());
  ALLIANCE_ASSIGN_OR_RETURN(v1::RegisterResponse resp, relay->Register(req));

  v1::AccountRecord account;
  account.set_version(1);
  account.set_account_id(resp.account_id());
  account.set_device_id(resp.device_id());
  account.set_role(resp.role());
  account.set_relay_id(resp.relay_id());
  account.set_relay_address(relay->address());
  account.set_relay_ca_file(options_.relay.ca_file);
  account.set_display_name(display_name);
  account.set_next_one_time_prekey_id(1);
  ALLIANCE_RETURN_IF_ERROR(
      store_->Run([&](LocalStore::Txn& txn) { return txn.Put(names::Account(), account); }));
  relay->SetLogin(&*identity_, resp.account_id(), resp.device_id(), resp.relay_id());
  relay->SetDeviceKey(&*device_key_, false);
  relay_ = std::move(relay);
  return MaintainPreKeys();
}

absl::Status ClientCore::RegisterWith(const std::string& invite_code,
                                      const std::string& display_name,
                                      const RelayOptions& relay) {
  if (relay_ != nullptr) return absl::FailedPreconditionError("profile is already registered");
  options_.relay = relay;
  return Register(invite_code, display_name);
}

absl::StatusOr<std::vector<uint32_t>> ClientCore::PublishOneTimeKeys(uint32_t count) {
  // Store the secrets first: a published key we could not use would lose a message.
  v1::PublishPreKeysRequest req;
  std::vector<uint32_t> ids;
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AccountRecord> account,
                              txn.Get<v1::AccountRecord>(names::Account()));
    if (!account.has_value()) return absl::FailedPreconditionError("profile is not registered");
    uint32_t next = std::max<uint32_t>(1, account->next_one_time_prekey_id());
    for (uint32_t i = 0; i < count; ++i, ++next) {
      crypto::OneTimePreKeyPair opk = crypto::OneTimePreKeyPair::Create(next, rng_);
      *req.add_one_time_prekeys() = opk.ToPublic();
      v1::PreKeyPairRecord rec;
      opk.ToRecord(&rec);
      ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes bytes, crypto::SerializeAndWipe(&rec));
      ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(names::OneTimePreKey(next), bytes.span()));
      ids.push_back(next);
    }
    account->set_next_one_time_prekey_id(next);
    return txn.Put(names::Account(), *account);
  }));
  ALLIANCE_RETURN_IF_ERROR(relay_->PublishPreKeys(req).status());
  return ids;
}

absl::Status ClientCore::MaintainPreKeys() {
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord own, RequireAccount());
  // Prekeys are signed by the device key, so the device list that vouches for it comes first.
  if (own.own_device_list().version() == 0) ALLIANCE_RETURN_IF_ERROR(EnsureOwnDeviceList());
  ALLIANCE_ASSIGN_OR_RETURN(v1::GetPreKeyStatusResponse status, relay_->GetPreKeyStatus());
  const int64_t now = absl::ToUnixSeconds(Now());
  const bool rotate =
      !status.has_signed_prekey() ||
      now - static_cast<int64_t>(status.signed_prekey_created_at()) >= kSignedPreKeyRotation;
  if (rotate) {
    std::optional<crypto::SignedPreKeyPair> made;
    ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
      // The id is allocated inside the transaction, so two processes sharing the profile never
      // make two keys with one id.
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AccountRecord> current_account,
                                txn.Get<v1::AccountRecord>(names::Account()));
      if (!current_account.has_value()) return absl::FailedPreconditionError("not registered");
      const uint32_t id = current_account->current_signed_prekey_id() + 1;
      made = crypto::SignedPreKeyPair::CreateForDevice(
          *device_key_, crypto::AsBytes(current_account->account_id()),
          current_account->device_id(), id, static_cast<uint64_t>(now), rng_);
      const crypto::SignedPreKeyPair& spk = *made;
      v1::PreKeyPairRecord rec;
      spk.ToRecord(&rec);
      ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes bytes, crypto::SerializeAndWipe(&rec));
      ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(names::SignedPreKey(id), bytes.span()));
      // Keep earlier signed prekeys for 30 days after they were replaced, for late messages.
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> ids,
                                txn.Get<v1::IdList>(names::SignedPreKeyIds()));
      v1::IdList kept;
      const v1::IdList ids_list = ids.value_or(v1::IdList());
      for (const std::string& raw : ids_list.ids()) {
        uint32_t old_id = 0;
        std::memcpy(&old_id, raw.data(), std::min<size_t>(4, raw.size()));
        ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> old,
                                  txn.GetBytes(names::SignedPreKey(old_id)));
        v1::PreKeyPairRecord old_rec;
        if (old.has_value() && crypto::ParseRecord(old->span(), &old_rec).ok() &&
            now - static_cast<int64_t>(old_rec.created_at()) <
                kSignedPreKeyKeep + kSignedPreKeyRotation) {
          *kept.add_ids() = raw;
        } else {
          txn.Delete(names::SignedPreKey(old_id));
        }
        crypto::WipeMessage(&old_rec);
      }
      kept.add_ids()->assign(reinterpret_cast<const char*>(&id), sizeof id);
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::SignedPreKeyIds(), kept));
      current_account->set_current_signed_prekey_id(id);
      return txn.Put(names::Account(), *current_account);
    }));
    v1::PublishPreKeysRequest req;
    *req.mutable_signed_prekey() = made->ToPublic();
    ALLIANCE_RETURN_IF_ERROR(relay_->PublishPreKeys(req).status());
  }
  if (status.one_time_prekey_count() < kOneTimeKeyLow) {
    ALLIANCE_RETURN_IF_ERROR(
        PublishOneTimeKeys(kOneTimeKeyTarget - status.one_time_prekey_count()).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::GetPreKeyStatusResponse> ClientCore::PreKeyStatus() {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  return relay_->GetPreKeyStatus();
}

absl::StatusOr<InviteView> ClientCore::CreateInvite(v1::Role role) {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  v1::CreateInviteRequest req;
  req.set_role(role);
  ALLIANCE_ASSIGN_OR_RETURN(v1::CreateInviteResponse resp, relay_->CreateInvite(req));
  return InviteView{ToHex(resp.invite_code()), ToHex(resp.invite_id()), resp.role(),
                    absl::FromUnixSeconds(static_cast<int64_t>(resp.expires_at()))};
}

absl::StatusOr<std::vector<v1::Member>> ClientCore::Members() {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  std::vector<v1::Member> out;
  v1::ListMembersRequest req;
  req.set_page_size(500);
  for (int page = 0; page < 1000; ++page) {
    ALLIANCE_ASSIGN_OR_RETURN(v1::ListMembersResponse resp, relay_->ListMembers(req));
    for (const v1::Member& m : resp.members()) out.push_back(m);
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  return out;
}

absl::Status ClientCore::Deactivate(const std::string& account_id_hex) {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  if (account_id_hex.size() != 32 ||
      !std::all_of(account_id_hex.begin(), account_id_hex.end(),
                   [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); })) {
    return absl::InvalidArgumentError("account id must be 32 hex digits");
  }
  const std::string bytes = absl::HexStringToBytes(account_id_hex);
  v1::DeactivateAccountRequest req;
  req.set_account_id(bytes);
  return relay_->DeactivateAccount(req).status();
}

absl::StatusOr<std::vector<v1::AuditEntry>> ClientCore::Audit(uint64_t after, uint32_t limit,
                                                              bool security_only) {
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  v1::ReadAuditRequest req;
  req.set_after_sequence(after);
  req.set_limit(limit);
  req.set_security_only(security_only);
  ALLIANCE_ASSIGN_OR_RETURN(v1::ReadAuditResponse resp, relay_->ReadAudit(req));
  return std::vector<v1::AuditEntry>(resp.entries().begin(), resp.entries().end());
}

uint64_t ClientCore::Subscribe(EventHandler handler) {
  base::MutexLock lock(&events_mu_);
  const uint64_t id = next_subscription_++;
  handlers_.emplace_back(id, std::move(handler));
  return id;
}

void ClientCore::Unsubscribe(uint64_t id) {
  base::MutexLock lock(&events_mu_);
  std::erase_if(handlers_, [id](const auto& h) { return h.first == id; });
}

void ClientCore::Emit(const ClientEvent& event) {
  std::vector<EventHandler> handlers;
  {
    base::MutexLock lock(&events_mu_);
    for (const auto& h : handlers_) handlers.push_back(h.second);
  }
  for (const EventHandler& h : handlers) h(event);
}

}  // namespace alliance::client

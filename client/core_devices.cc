// ClientCore, devices (DESIGN §4, "Several devices"): linking a new device with a one-time code,
// approving it from a linked one, listing and removing the account's devices.
#include <sodium.h>

#include <algorithm>
#include <string_view>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "client/internal/care_helpers.h"
#include "client/internal/client_core.h"
#include "client/internal/core_helpers.h"
#include "client/store_names.h"
#include "crypto/devices.h"
#include "crypto/record_io.h"

namespace alliance::client {
namespace {

// 32 symbols without look-alikes (no l, o, 0, 1): 5 bits each.
constexpr std::string_view kCodeAlphabet = "abcdefghijkmnpqrstuvwxyz23456789";
constexpr size_t kCodeSymbols = 52;  // ceil(256 / 5)
constexpr absl::Duration kLinkPoll = absl::Seconds(1);
constexpr uint32_t kLinkOneTimeKeys = 100;

}  // namespace

std::string FormatLinkCode(const crypto::PublicKey& code) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  size_t symbols = 0;
  auto emit = [&](uint32_t v) {
    if (symbols > 0 && symbols % 4 == 0) out.push_back('-');
    out.push_back(kCodeAlphabet[v & 31]);
    ++symbols;
  };
  for (uint8_t byte : code) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      emit(buffer >> (bits - 5));
      bits -= 5;
    }
  }
  if (bits > 0) emit(buffer << (5 - bits));
  return out;
}

absl::StatusOr<crypto::PublicKey> ParseLinkCode(std::string_view text) {
  const absl::Status bad = absl::InvalidArgumentError(
      "that is not a link code (52 letters and digits, as `alliance devices link` shows it)");
  crypto::PublicKey code{};
  uint32_t buffer = 0;
  int bits = 0;
  size_t symbols = 0;
  size_t byte = 0;
  for (char c : text) {
    if (c == '-' || c == ' ') continue;
    const size_t v = kCodeAlphabet.find(absl::ascii_tolower(static_cast<unsigned char>(c)));
    if (v == std::string_view::npos || symbols == kCodeSymbols) return bad;
    ++symbols;
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      if (byte < code.size()) code[byte++] = static_cast<uint8_t>(buffer >> (bits - 8));
      bits -= 8;
    }
  }
  // 52 symbols carry 260 bits: the 4 left over must be zero, so one code has one spelling.
  if (symbols != kCodeSymbols || byte != code.size() || (buffer & ((1u << bits) - 1)) != 0) {
    return bad;
  }
  return code;
}

absl::StatusOr<LinkCodeView> ClientCore::StartLink(const RelayOptions& relay) {
  if (relay_ != nullptr) {
    return absl::FailedPreconditionError(
        "this profile already belongs to an account; link from a new profile (--profile DIR)");
  }
  options_.relay = relay;
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<RelayConnection> connection, Connect(""));
  crypto::DhKeyPair code = crypto::DhKeyPair::Generate(rng_);
  const crypto::LinkId id = crypto::LinkIdOf(code.public_key);
  v1::StartLinkRequest req;
  req.set_link_id(reinterpret_cast<const char*>(id.data()), id.size());
  ALLIANCE_ASSIGN_OR_RETURN(v1::StartLinkResponse resp, connection->StartLink(req));
  LinkCodeView view;
  view.code = FormatLinkCode(code.public_key);
  view.expires_at = absl::FromUnixSeconds(static_cast<int64_t>(resp.expires_at()));
  link_code_.emplace(std::move(code));
  link_relay_ = std::move(connection);
  return view;
}

absl::Status ClientCore::FinishLink(absl::Duration max_wait) {
  if (!link_code_.has_value() || link_relay_ == nullptr) {
    return absl::FailedPreconditionError("no link code started on this device");
  }
  const absl::Time deadline = absl::Now() + max_wait;
  const crypto::LinkId id = crypto::LinkIdOf(link_code_->public_key);
  v1::AwaitLinkRequest await;
  await.set_link_id(reinterpret_cast<const char*>(id.data()), id.size());
  v1::AwaitLinkResponse approved;
  while (true) {
    ALLIANCE_ASSIGN_OR_RETURN(approved, link_relay_->AwaitLink(await));
    if (approved.approved()) break;
    if (absl::Now() + kLinkPoll > deadline) {
      return absl::DeadlineExceededError(
          "the code was not approved in time; run `alliance devices link` again");
    }
    absl::SleepFor(kLinkPoll);
  }
  // Only the holder of the code can open this; the relay could not have sealed it.
  ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes plain,
                            crypto::OpenProvision(*link_code_, crypto::AsBytes(approved.sealed())));
  link_code_.reset();  // Works once.
  v1::ProvisionRecord provision;
  const bool parsed = crypto::ParseRecord(plain.span(), &provision).ok();
  if (!parsed || provision.version() != 1 || provision.account_id() != approved.account_id()) {
    crypto::WipeMessage(&provision);
    return absl::DataLossError("the linked device sent an account this version cannot read");
  }
  absl::StatusOr<crypto::IdentityKeyPair> identity =
      crypto::IdentityKeyPair::FromRecord(provision.identity());
  crypto::WipeMessage(provision.mutable_identity());
  if (!identity.ok()) return absl::DataLossError("the linked device sent a damaged identity key");

  // The relay must be the account's (its id is in the sealed record), and the current list
  // must be one the identity key signed; the new list adds exactly this device.
  ALLIANCE_ASSIGN_OR_RETURN(v1::ChallengeResponse ch, link_relay_->Challenge());
  if (ch.relay_id() != provision.relay_id()) {
    return absl::PermissionDeniedError("this relay is not the one the account is on");
  }
  const crypto::ByteSpan relay_id = crypto::AsBytes(provision.relay_id());
  const crypto::ByteSpan account_id = crypto::AsBytes(provision.account_id());
  uint64_t version = 0;
  v1::SignedDeviceList list;
  if (provision.device_list_version() > 0 && !approved.has_list()) {
    return absl::DataLossError("the relay withholds the account's device list");
  }
  if (approved.has_list()) {
    // No older list than the approving device holds: a relay serving an old one could have a
    // removed device signed back in.
    absl::StatusOr<crypto::VerifiedDeviceList> current =
        crypto::VerifyDeviceList(approved.list(), identity->public_key(), relay_id, account_id,
                                 provision.device_list_version());
    if (!current.ok()) return absl::DataLossError("the relay serves a device list the account did not sign");
    version = current->version;
    list = approved.list();
  }
  const crypto::PublicKey& dk = device_key_->public_key();
  v1::DeviceEntry* me = list.add_devices();
  me->set_device_id(approved.device_id());
  me->set_device_key(reinterpret_cast<const char*>(dk.data()), dk.size());
  me->set_added_at(approved.added_at());
  std::sort(list.mutable_devices()->begin(), list.mutable_devices()->end(),
            [](const v1::DeviceEntry& a, const v1::DeviceEntry& b) {
              return a.device_id() < b.device_id();
            });
  list.set_version(version + 1);
  ALLIANCE_RETURN_IF_ERROR(crypto::SignDeviceList(*identity, relay_id, account_id, &list));

  // Prekeys of this device, their secrets stored before anything is published.
  const int64_t now = absl::ToUnixSeconds(Now());
  v1::CompleteLinkRequest complete;
  complete.set_link_id(await.link_id());
  *complete.mutable_list() = list;
  crypto::SignedPreKeyPair spk = crypto::SignedPreKeyPair::CreateForDevice(
      *device_key_, account_id, approved.device_id(), 1, static_cast<uint64_t>(now), rng_);
  *complete.mutable_signed_prekey() = spk.ToPublic();
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    v1::IdentityRecord rec;
    identity->ToRecord(&rec);
    ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes bytes, crypto::SerializeAndWipe(&rec));
    ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(names::Identity(), bytes.span()));
    v1::PreKeyPairRecord spk_rec;
    spk.ToRecord(&spk_rec);
    ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes spk_bytes, crypto::SerializeAndWipe(&spk_rec));
    ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(names::SignedPreKey(1), spk_bytes.span()));
    v1::IdList spk_ids;
    const uint32_t one = 1;
    spk_ids.add_ids()->assign(reinterpret_cast<const char*>(&one), sizeof one);
    ALLIANCE_RETURN_IF_ERROR(txn.Put(names::SignedPreKeyIds(), spk_ids));
    for (uint32_t i = 1; i <= kLinkOneTimeKeys; ++i) {
      crypto::OneTimePreKeyPair opk = crypto::OneTimePreKeyPair::Create(i, rng_);
      *complete.add_one_time_prekeys() = opk.ToPublic();
      v1::PreKeyPairRecord opk_rec;
      opk.ToRecord(&opk_rec);
      ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes opk_bytes, crypto::SerializeAndWipe(&opk_rec));
      ALLIANCE_RETURN_IF_ERROR(txn.PutBytes(names::OneTimePreKey(i), opk_bytes.span()));
    }
    // Contacts as the approving device knows them: pinned keys, verification, device lists and
    // agreements; their history starts here.
    v1::IdList index;
    for (v1::ProvisionRecord::ContactState& cs : *provision.mutable_contacts()) {
      v1::ContactRecord& c = *cs.mutable_contact();
      if (c.account_id().size() != 16) continue;
      const std::string hex = ToHex(c.account_id());
      c.set_history_count(0);
      c.set_history_start(0);
      c.set_unread_count(0);
      c.set_missing_messages(0);
      c.clear_missing_before_ms();
      ALLIANCE_RETURN_IF_ERROR(txn.Put(names::Contact(hex), c));
      if (cs.agreements().versions_size() > 0) {
        ALLIANCE_RETURN_IF_ERROR(txn.Put(AgreementName(hex), cs.agreements()));
      }
      if (cs.has_care()) ALLIANCE_RETURN_IF_ERROR(txn.Put(CareName(hex), cs.care()));
      *index.add_ids() = c.account_id();
    }
    return txn.Put(names::ContactIndex(), index);
  }));
  identity_.emplace(*std::move(identity));

  ALLIANCE_RETURN_IF_ERROR(link_relay_->CompleteLink(complete).status());

  v1::AccountRecord account;
  account.set_version(1);
  account.set_account_id(provision.account_id());
  account.set_device_id(approved.device_id());
  account.set_role(provision.role());
  account.set_relay_id(provision.relay_id());
  account.set_relay_address(link_relay_->address());
  account.set_relay_ca_file(options_.relay.ca_file);
  account.set_display_name(provision.display_name());
  account.set_read_receipts(provision.read_receipts());
  account.set_next_one_time_prekey_id(kLinkOneTimeKeys + 1);
  account.set_current_signed_prekey_id(1);
  *account.mutable_own_device_list() = list;
  *account.mutable_device_names() = provision.device_names();
  if (!provision.device_name().empty()) {
    (*account.mutable_device_names())[approved.device_id()] =
        TruncateUtf8(provision.device_name(), kMaxDisplayName);
  }
  ALLIANCE_RETURN_IF_ERROR(
      store_->Run([&](LocalStore::Txn& txn) { return txn.Put(names::Account(), account); }));
  link_relay_->SetLogin(&*identity_, account.account_id(), account.device_id(),
                        account.relay_id());
  link_relay_->SetDeviceKey(&*device_key_, true);
  relay_ = std::move(link_relay_);
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> ClientCore::ApproveLink(const std::string& code_text,
                                                 const std::string& device_name) {
  ALLIANCE_ASSIGN_OR_RETURN(crypto::PublicKey code, ParseLinkCode(code_text));
  if (device_name.size() > kMaxDisplayName) {
    return absl::InvalidArgumentError("device name is too long");
  }
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  // Our list first, so the new device signs the next version of the current one.
  ALLIANCE_RETURN_IF_ERROR(EnsureOwnDeviceList());
  ALLIANCE_RETURN_IF_ERROR(RefreshContacts());
  v1::ProvisionRecord provision;
  provision.set_version(1);
  provision.set_account_id(account.account_id());
  provision.set_role(account.role());
  provision.set_relay_id(account.relay_id());
  provision.set_display_name(account.display_name());
  provision.set_read_receipts(account.read_receipts());
  *provision.mutable_device_names() = account.device_names();
  provision.set_device_name(device_name);
  ALLIANCE_ASSIGN_OR_RETURN(account, RequireAccount());  // After EnsureOwnDeviceList.
  provision.set_device_list_version(account.own_device_list().version());
  std::optional<crypto::SecretBytes> plain;
  const absl::Status built = store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> id, txn.GetBytes(names::Identity()));
    if (!id.has_value() || !crypto::ParseRecord(id->span(), provision.mutable_identity()).ok()) {
      return absl::DataLossError("profile identity key is damaged");
    }
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::IdList> index,
                              txn.Get<v1::IdList>(names::ContactIndex()));
    const v1::IdList ids = index.value_or(v1::IdList());
    for (const std::string& cid : ids.ids()) {
      const std::string hex = ToHex(cid);
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::ContactRecord> c,
                                txn.Get<v1::ContactRecord>(names::Contact(hex)));
      if (!c.has_value()) continue;
      v1::ProvisionRecord::ContactState* cs = provision.add_contacts();
      *cs->mutable_contact() = *c;
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AgreementLog> agreements,
                                txn.Get<v1::AgreementLog>(AgreementName(hex)));
      if (agreements.has_value()) *cs->mutable_agreements() = *agreements;
      ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::CareLog> care,
                                txn.Get<v1::CareLog>(CareName(hex)));
      if (care.has_value()) *cs->mutable_care() = *care;
    }
    if (provision.ByteSizeLong() > crypto::kMaxProvisionPlaintext) {
      // Care logs are the bulk; the agreements and contacts matter most.
      for (auto& cs : *provision.mutable_contacts()) cs.clear_care();
    }
    if (provision.ByteSizeLong() > crypto::kMaxProvisionPlaintext) {
      return absl::ResourceExhaustedError("this account has too many contacts to link a device");
    }
    ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes bytes, crypto::SerializeAndWipe(&provision));
    plain.emplace(std::move(bytes));
    return absl::OkStatus();
  });
  crypto::WipeMessage(&provision);
  if (!built.ok()) return built;
  ALLIANCE_ASSIGN_OR_RETURN(std::string sealed, crypto::SealProvision(code, plain->span(), rng_));
  const crypto::LinkId id = crypto::LinkIdOf(code);
  v1::ApproveLinkRequest req;
  req.set_link_id(reinterpret_cast<const char*>(id.data()), id.size());
  req.set_sealed(sealed);
  ALLIANCE_ASSIGN_OR_RETURN(v1::ApproveLinkResponse resp, relay_->ApproveLink(req));
  ALLIANCE_RETURN_IF_ERROR(store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AccountRecord> a,
                              txn.Get<v1::AccountRecord>(names::Account()));
    if (!a.has_value()) return absl::FailedPreconditionError("profile is not registered");
    if (!device_name.empty()) (*a->mutable_device_names())[resp.device_id()] = device_name;
    return txn.Put(names::Account(), *a);
  }));
  return resp.device_id();
}

absl::StatusOr<std::vector<DeviceView>> ClientCore::Devices() {
  ALLIANCE_RETURN_IF_ERROR(EnsureOwnDeviceList());
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  v1::ListDevicesRequest req;
  req.set_account_id(account.account_id());
  ALLIANCE_ASSIGN_OR_RETURN(v1::ListDevicesResponse status, relay_->ListDevices(req));
  ALLIANCE_ASSIGN_OR_RETURN(
      crypto::VerifiedDeviceList list,
      crypto::VerifyDeviceList(account.own_device_list(), identity_->public_key(),
                               crypto::AsBytes(account.relay_id()),
                               crypto::AsBytes(account.account_id())));
  std::vector<DeviceView> out;
  for (const crypto::VerifiedDevice& d : list.devices) {
    DeviceView v;
    v.id = d.device_id;
    v.added_at = absl::FromUnixSeconds(static_cast<int64_t>(d.added_at));
    v.this_device = d.device_id == account.device_id();
    auto name = account.device_names().find(d.device_id);
    if (name != account.device_names().end()) v.name = name->second;
    for (const v1::DeviceStatus& s : status.devices()) {
      if (s.device_id() == d.device_id && s.last_seen_at() != 0) {
        v.last_seen = absl::FromUnixSeconds(static_cast<int64_t>(s.last_seen_at()));
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

absl::Status ClientCore::RemoveDevice(uint32_t device_id) {
  ALLIANCE_RETURN_IF_ERROR(EnsureOwnDeviceList());
  ALLIANCE_ASSIGN_OR_RETURN(v1::AccountRecord account, RequireAccount());
  if (device_id == account.device_id()) {
    return absl::FailedPreconditionError(
        "this is the device you are using; remove it from another of your devices");
  }
  v1::SignedDeviceList list = account.own_device_list();
  auto* devices = list.mutable_devices();
  const int before = devices->size();
  devices->erase(std::remove_if(devices->begin(), devices->end(),
                                [&](const v1::DeviceEntry& e) { return e.device_id() == device_id; }),
                 devices->end());
  if (devices->size() == before) return absl::NotFoundError("no such device on this account");
  list.set_version(list.version() + 1);
  ALLIANCE_RETURN_IF_ERROR(crypto::SignDeviceList(*identity_, crypto::AsBytes(account.relay_id()),
                                                  crypto::AsBytes(account.account_id()), &list));
  v1::PublishDeviceListRequest req;
  *req.mutable_list() = list;
  ALLIANCE_RETURN_IF_ERROR(relay_->PublishDeviceList(req).status());
  return store_->Run([&](LocalStore::Txn& txn) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::optional<v1::AccountRecord> a,
                              txn.Get<v1::AccountRecord>(names::Account()));
    if (!a.has_value()) return absl::FailedPreconditionError("profile is not registered");
    *a->mutable_own_device_list() = list;
    a->mutable_device_names()->erase(device_id);
    // Its sessions go: nothing is encrypted to it again.
    txn.Delete(names::Session(ToHex(a->account_id()), device_id));
    return txn.Put(names::Account(), *a);
  });
}

namespace {

absl::StatusOr<std::string> AccountIdFromHex(const std::string& hex) {
  if (hex.size() != 32 || !std::all_of(hex.begin(), hex.end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c));
      })) {
    return absl::InvalidArgumentError("account id must be 32 hex digits");
  }
  return absl::HexStringToBytes(hex);
}

}  // namespace

absl::StatusOr<std::vector<v1::DeviceStatus>> ClientCore::AccountDevices(
    const std::string& account_id_hex) {
  ALLIANCE_ASSIGN_OR_RETURN(std::string id, AccountIdFromHex(account_id_hex));
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  v1::ListAccountDevicesRequest req;
  req.set_account_id(id);
  ALLIANCE_ASSIGN_OR_RETURN(v1::ListAccountDevicesResponse resp, relay_->ListAccountDevices(req));
  return std::vector<v1::DeviceStatus>(resp.devices().begin(), resp.devices().end());
}

absl::Status ClientCore::RemoveAccountDevice(const std::string& account_id_hex,
                                             uint32_t device_id) {
  ALLIANCE_ASSIGN_OR_RETURN(std::string id, AccountIdFromHex(account_id_hex));
  ALLIANCE_RETURN_IF_ERROR(RequireAccount().status());
  v1::RemoveAccountDeviceRequest req;
  req.set_account_id(id);
  req.set_device_id(device_id);
  return relay_->RemoveAccountDevice(req).status();
}

}  // namespace alliance::client

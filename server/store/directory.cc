#include "server/store/directory.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "base/bytes.h"
#include "base/status_macros.h"
#include "server/infra/crypto_util.h"
#include "server/store/devices.h"
#include "wire/signed_strings.h"

namespace alliance::server {
namespace {

std::string IdentityIndexKey(std::string_view identity_key) {
  return base::Concat({"k", identity_key});
}

// Invites CF: invite id (32 bytes) -> InviteRecord, and the creator index
// 'c' || creator account (16) || invite id (32) -> "" (49 bytes).
constexpr size_t kInviteIndexKeySize = 1 + kAccountIdSize + kHashSize;
std::string CreatorIndexPrefix(std::string_view creator) { return base::Concat({"c", creator}); }
std::string CreatorIndexKey(std::string_view creator, std::string_view invite_id) {
  return base::Concat({"c", creator, invite_id});
}

bool MayInvite(v1::Role creator, v1::Role invitee) {
  switch (creator) {
    case v1::ROLE_ADMIN:
      return invitee == v1::ROLE_ADMIN || invitee == v1::ROLE_THERAPIST;
    case v1::ROLE_THERAPIST:
      return invitee == v1::ROLE_CLIENT;
    default:
      return false;
  }
}

// Links created when an invite by `creator` for `invitee` is redeemed.
bool LinksOnRedeem(v1::Role creator, v1::Role invitee) {
  return (creator == v1::ROLE_THERAPIST && invitee == v1::ROLE_CLIENT) ||
         (creator == v1::ROLE_ADMIN && invitee == v1::ROLE_THERAPIST);
}

}  // namespace

Directory::Directory(RelayDb* db, AuditLog* audit, const Clock* clock, const Limits& limits)
    : db_(db),
      audit_(audit),
      clock_(clock),
      limits_(limits),
      invite_rate_(clock, limits.invites_per_hour / 3600.0, limits.invite_burst,
                   limits.max_rate_limit_keys) {}

absl::StatusOr<v1::CreateInviteResponse> Directory::CreateInvite(const Inviter* creator,
                                                                 v1::Role role) {
  if (role != v1::ROLE_ADMIN && role != v1::ROLE_THERAPIST && role != v1::ROLE_CLIENT) {
    return absl::InvalidArgumentError("role unspecified");
  }
  if (creator != nullptr && !MayInvite(creator->role, role)) {
    return absl::PermissionDeniedError("role may not invite that role");
  }
  if (creator != nullptr && !invite_rate_.TryAcquire(creator->account_id)) {
    return absl::ResourceExhaustedError("too many invites created; retry later");
  }
  std::string code = RandomBytes(kInviteCodeSize);
  std::string invite_id = Blake2b256(code);
  uint64_t now = clock_->NowUnixSeconds();
  base::MutexLock lock(&mu_);
  if (creator != nullptr) {
    // Outstanding invites of this creator, read through its index: O(its own invites).
    uint64_t outstanding = 0;
    std::string prefix = CreatorIndexPrefix(creator->account_id);
    std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kInvites);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != kInviteIndexKeySize) continue;
      ALLIANCE_ASSIGN_OR_RETURN(
          auto raw, db_->Get(Cf::kInvites, it->key().ToStringView().substr(prefix.size())));
      InviteRecord other;
      if (raw && other.ParseFromString(*raw) && !other.used() && !other.revoked() &&
          now < other.expires_at()) {
        ++outstanding;
      }
    }
    ALLIANCE_RETURN_IF_ERROR(it->status());
    if (outstanding >= limits_.max_outstanding_invites) {
      return absl::ResourceExhaustedError(
          "too many outstanding invites; revoke some or let them expire");
    }
  }
  InviteRecord invite;
  invite.set_role(role);
  if (creator != nullptr) invite.set_created_by(creator->account_id);
  invite.set_created_at(now);
  invite.set_expires_at(now + static_cast<uint64_t>(absl::ToInt64Seconds(limits_.invite_ttl)));
  KvBatch batch;
  batch.Put(Cf::kInvites, invite_id, invite.SerializeAsString());
  if (creator != nullptr) {
    batch.Put(Cf::kInvites, CreatorIndexKey(creator->account_id, invite_id), "");
  }
  AuditLog::Event e;
  e.event = v1::AUDIT_EVENT_INVITE_CREATED;
  if (creator != nullptr) e.actor = creator->account_id;
  e.invite_id = invite_id;
  e.role = role;
  ALLIANCE_RETURN_IF_ERROR(audit_->Commit(&batch, e));
  v1::CreateInviteResponse response;
  response.set_invite_code(std::move(code));
  response.set_invite_id(std::move(invite_id));
  response.set_expires_at(invite.expires_at());
  response.set_role(role);
  return response;
}

absl::Status Directory::RevokeInvite(const Inviter& caller, std::string_view invite_id) {
  if (invite_id.size() != kHashSize) return absl::InvalidArgumentError("malformed invite id");
  base::MutexLock lock(&mu_);
  ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kInvites, invite_id));
  InviteRecord invite;
  if (!raw || !invite.ParseFromString(*raw)) return absl::NotFoundError("no such invite");
  if (caller.role != v1::ROLE_ADMIN && invite.created_by() != caller.account_id) {
    return absl::PermissionDeniedError("not your invite");
  }
  if (invite.used() || invite.revoked()) {
    return absl::FailedPreconditionError("invite no longer valid");
  }
  invite.set_revoked(true);
  KvBatch batch;
  // Not revoked over a redemption that landed through another relay process meanwhile.
  batch.Expect(Cf::kInvites, invite_id, raw);
  batch.Put(Cf::kInvites, invite_id, invite.SerializeAsString());
  AuditLog::Event e;
  e.event = v1::AUDIT_EVENT_INVITE_REVOKED;
  e.actor = caller.account_id;
  e.invite_id = std::string(invite_id);
  e.role = invite.role();
  return audit_->Commit(&batch, e);
}

absl::StatusOr<v1::RegisterResponse> Directory::Register(const v1::RegisterRequest& request) {
  // Redeeming expects the invite (and the creator, and the free identity key) as read, so that
  // of two redemptions of one invite through two relay processes exactly one succeeds; the
  // other is tried again and finds the invite used.
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<v1::RegisterResponse> registered = RegisterOnce(request);
    if (registered.ok() || !IsWriteConflict(registered.status()) || attempt == 7) {
      return registered;
    }
  }
}

absl::StatusOr<v1::RegisterResponse> Directory::RegisterOnce(const v1::RegisterRequest& request) {
  if (request.invite_code().size() != kInviteCodeSize ||
      request.identity_key().size() != kEd25519PublicKeySize ||
      request.proof().size() != kEd25519SignatureSize) {
    return absl::InvalidArgumentError("malformed registration");
  }
  std::string proven =
      wire::RegisterMessage(db_->relay_id(), request.invite_code(), request.identity_key());
  if (!VerifyEd25519(request.identity_key(), proven, request.proof())) {
    return absl::UnauthenticatedError("proof of possession does not verify");
  }
  std::string invite_id = Blake2b256(request.invite_code());
  uint64_t now = clock_->NowUnixSeconds();

  base::MutexLock lock(&mu_);
  ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kInvites, invite_id));
  InviteRecord invite;
  if (!raw || !invite.ParseFromString(*raw)) return absl::NotFoundError("no such invite");
  if (invite.used() || invite.revoked() || now >= invite.expires_at()) {
    return absl::FailedPreconditionError("invite no longer valid");
  }
  // An invite is only as good as its creator, as the creator is now: a removed admin's
  // invites must not bring anyone in (DESIGN §2, 11).
  std::optional<AccountRecord> creator;
  std::optional<std::string> creator_read;
  if (!invite.created_by().empty()) {
    ALLIANCE_ASSIGN_OR_RETURN(auto creator_raw, db_->Get(Cf::kAccounts, invite.created_by()));
    AccountRecord c;
    if (!creator_raw || !c.ParseFromString(*creator_raw) || c.state() != v1::ACCOUNT_STATE_ACTIVE ||
        !MayInvite(c.role(), invite.role())) {
      return absl::FailedPreconditionError("invite no longer valid");
    }
    creator = std::move(c);
    creator_read = std::move(creator_raw);
  }
  ALLIANCE_ASSIGN_OR_RETURN(auto existing,
                            db_->Get(Cf::kIdentity, IdentityIndexKey(request.identity_key())));
  if (existing) return absl::AlreadyExistsError("identity key already registered");

  AccountRecord account;
  account.set_account_id(RandomBytes(kAccountIdSize));
  account.set_role(invite.role());
  account.set_state(v1::ACCOUNT_STATE_ACTIVE);
  account.set_identity_key(request.identity_key());
  AddFirstDevice(&account, now);
  account.set_created_at(now);
  invite.set_used(true);

  KvBatch batch;
  batch.Expect(Cf::kInvites, invite_id, raw);
  batch.Expect(Cf::kIdentity, IdentityIndexKey(request.identity_key()), std::nullopt);
  if (creator.has_value()) batch.Expect(Cf::kAccounts, invite.created_by(), creator_read);
  batch.Put(Cf::kAccounts, account.account_id(), account.SerializeAsString());
  batch.Put(Cf::kIdentity, IdentityIndexKey(request.identity_key()), account.account_id());
  batch.Put(Cf::kInvites, invite_id, invite.SerializeAsString());
  if (creator.has_value() && LinksOnRedeem(creator->role(), invite.role())) {
    LinkRecord link;
    link.set_created_at(now);
    std::string value = link.SerializeAsString();
    batch.Put(Cf::kLinks, base::Concat({creator->account_id(), account.account_id()}),
              value);
    batch.Put(Cf::kLinks, base::Concat({account.account_id(), creator->account_id()}),
              value);
  }
  AuditLog::Event redeemed;
  redeemed.event = v1::AUDIT_EVENT_INVITE_REDEEMED;
  redeemed.actor = account.account_id();
  redeemed.invite_id = invite_id;
  redeemed.role = invite.role();
  AuditLog::Event registered;
  registered.event = v1::AUDIT_EVENT_REGISTERED;
  registered.actor = account.account_id();
  registered.subject = invite.created_by();
  registered.role = invite.role();
  ALLIANCE_RETURN_IF_ERROR(audit_->Commit(&batch, {redeemed, registered}));

  v1::RegisterResponse response;
  response.set_account_id(account.account_id());
  response.set_device_id(1);
  response.set_role(account.role());
  response.set_relay_id(db_->relay_id());
  return response;
}

absl::StatusOr<AccountRecord> Directory::GetAccount(std::string_view account_id,
                                                    std::string* raw_out) {
  ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kAccounts, account_id));
  AccountRecord account;
  if (!raw || !account.ParseFromString(*raw)) return absl::NotFoundError("no such account");
  if (raw_out != nullptr) *raw_out = std::move(*raw);
  return account;
}

absl::StatusOr<bool> Directory::Linked(std::string_view a, std::string_view b) {
  ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kLinks, base::Concat({a, b})));
  return raw.has_value();
}

absl::StatusOr<v1::ListContactsResponse> Directory::ListContacts(std::string_view account_id) {
  v1::ListContactsResponse response;
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kLinks);
  std::string_view prefix(account_id.data(), account_id.size());
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string_view other(it->key().data() + account_id.size(),
                           it->key().size() - account_id.size());
    absl::StatusOr<AccountRecord> account = GetAccount(other);
    if (!account.ok() || account->state() != v1::ACCOUNT_STATE_ACTIVE) continue;
    v1::Contact* contact = response.add_contacts();
    contact->set_account_id(account->account_id());
    contact->set_role(account->role());
    contact->set_identity_key(account->identity_key());
    for (uint32_t d : ActiveDeviceIds(*account)) contact->add_device_ids(d);
    if (account->has_device_list()) *contact->mutable_device_list() = account->device_list();
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  return response;
}

absl::StatusOr<v1::ListMembersResponse> Directory::ListMembers(
    const v1::ListMembersRequest& request) {
  if (!request.page_token().empty() && request.page_token().size() != kAccountIdSize) {
    return absl::InvalidArgumentError("bad page token");
  }
  uint32_t page_size = request.page_size() == 0 ? 100 : request.page_size();
  if (page_size > 500) return absl::InvalidArgumentError("page size over 500");
  v1::ListMembersResponse response;
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kAccounts);
  it->Seek(request.page_token());
  if (it->Valid() && it->key() == request.page_token()) it->Next();
  for (; it->Valid(); it->Next()) {
    if (static_cast<uint32_t>(response.members_size()) == page_size) {
      response.set_next_page_token(response.members().rbegin()->account_id());
      break;
    }
    AccountRecord account;
    if (!account.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::InternalError("account record unreadable");
    }
    v1::Member* m = response.add_members();
    m->set_account_id(account.account_id());
    m->set_role(account.role());
    m->set_state(account.state());
    m->set_created_at(account.created_at());
    m->set_identity_key(account.identity_key());
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  return response;
}

void Directory::AddPutAccount(const AccountRecord& account, const std::string& read,
                              KvBatch* batch) {
  batch->Expect(Cf::kAccounts, account.account_id(), read);
  batch->Put(Cf::kAccounts, account.account_id(), account.SerializeAsString());
}

absl::Status Directory::AddEraseAccount(const AccountRecord& account, const std::string& read,
                                        bool deactivate, KvBatch* batch) {
  const std::string& id = account.account_id();
  batch->Expect(Cf::kAccounts, id, read);
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kLinks);
  for (it->Seek(id); it->Valid() && it->key().starts_with(id); it->Next()) {
    std::string_view other(it->key().data() + id.size(), it->key().size() - id.size());
    batch->Delete(Cf::kLinks, it->key());
    batch->Delete(Cf::kLinks, base::Concat({other, id}));
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  // Outstanding invites die with their creator.
  std::string prefix = CreatorIndexPrefix(id);
  std::unique_ptr<KvIterator> inv = db_->NewIterator(Cf::kInvites);
  for (inv->Seek(prefix); inv->Valid() && inv->key().starts_with(prefix); inv->Next()) {
    if (inv->key().size() != kInviteIndexKeySize) continue;
    std::string invite_id(inv->key().ToStringView().substr(prefix.size()));
    ALLIANCE_ASSIGN_OR_RETURN(auto raw, db_->Get(Cf::kInvites, invite_id));
    InviteRecord invite;
    if (!raw || !invite.ParseFromString(*raw) || invite.used() || invite.revoked()) continue;
    // Expected unused at the write: an invite redeemed meanwhile through another relay
    // process made a link this scan did not see, so the erasure is built again.
    batch->Expect(Cf::kInvites, invite_id, raw);
    invite.set_revoked(true);
    batch->Put(Cf::kInvites, invite_id, invite.SerializeAsString());
  }
  ALLIANCE_RETURN_IF_ERROR(inv->status());
  if (!account.identity_key().empty()) {
    batch->Delete(Cf::kIdentity, IdentityIndexKey(account.identity_key()));
  }
  if (deactivate) {
    AccountRecord tombstone = account;
    tombstone.set_state(v1::ACCOUNT_STATE_DEACTIVATED);
    tombstone.clear_identity_key();
    batch->Put(Cf::kAccounts, id, tombstone.SerializeAsString());
  } else {
    batch->Delete(Cf::kAccounts, id);
  }
  return absl::OkStatus();
}

absl::Status Directory::SweepExpired() {
  uint64_t now = clock_->NowUnixSeconds();
  KvBatch batch;
  std::unique_ptr<KvIterator> it = db_->NewIterator(Cf::kInvites);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != kHashSize) continue;  // a creator index key, deleted with its invite
    InviteRecord invite;
    if (!invite.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) ||
        now >= invite.expires_at()) {
      batch.Delete(Cf::kInvites, it->key());
      if (!invite.created_by().empty()) {
        batch.Delete(Cf::kInvites,
                     CreatorIndexKey(invite.created_by(), it->key().ToStringView()));
      }
    }
  }
  ALLIANCE_RETURN_IF_ERROR(it->status());
  if (batch.Count() == 0) return absl::OkStatus();
  return db_->Write(&batch, /*sync=*/false);
}

}  // namespace alliance::server

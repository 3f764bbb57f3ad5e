// Directory: accounts, invites and care links (DESIGN §5 Accounts/Clinic, issue 3).
//
//   Invites   128-bit single-use codes, stored as BLAKE2b-256(code) (= the public invite id),
//             expiring after invite_ttl, bound to a role. Admins invite admins and therapists;
//             therapists invite clients. Redeeming a therapist's client invite links client and
//             therapist; an admin's therapist invite links therapist and admin.
//   Register  redeems an invite, binds the identity key after checking a proof of possession:
//             Ed25519(IK, "alliance/v1/register" || relay id || invite code || IK).
//   Links     the only paths messages (and prekey fetches) may take.
//
// An invite is only as good as its creator: redeeming one requires the creator to be active
// and still allowed to invite that role, and erasing an account revokes its outstanding
// invites (DESIGN §2, 11). Creating invites is rate limited per account and the number of
// outstanding invites per account is bounded (Limits::invite_*, max_outstanding_invites).
//
// The relay stores no display names. Thread-safe; state transitions of invites and accounts are
// serialized by one mutex (they are rare). Pointers passed in must outlive the object.
#ifndef ALLIANCE_SERVER_STORE_DIRECTORY_H_
#define ALLIANCE_SERVER_STORE_DIRECTORY_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "alliance/v1/accounts_service.pb.h"
#include "alliance/v1/clinic_service.pb.h"
#include "server/infra/kv.h"
#include "server/infra/clock.h"
#include "server/infra/config.h"
#include "server/infra/db.h"
#include "server/infra/rate_limiter.h"
#include "server/relay_records.pb.h"
#include "server/store/audit_log.h"

namespace alliance::server {

class Directory {
 public:
  Directory(RelayDb* db, AuditLog* audit, const Clock* clock, const Limits& limits);

  // Who creates or revokes an invite.
  struct Inviter {
    std::string account_id;  // 16 bytes
    v1::Role role = v1::ROLE_UNSPECIFIED;
  };

  // Creates an invite. `creator` null means the relay itself (the bootstrap admin invite of
  // `alliance-relay init`). Errors: INVALID_ARGUMENT (role unspecified), PERMISSION_DENIED
  // (creator may not invite that role), RESOURCE_EXHAUSTED (creation rate, or too many
  // outstanding invites of this creator).
  [[nodiscard]] absl::StatusOr<v1::CreateInviteResponse> CreateInvite(const Inviter* creator,
                                                                      v1::Role role);

  // Revokes an unredeemed invite. Errors: INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED
  // (not an admin and not the creator), FAILED_PRECONDITION (already used or revoked).
  [[nodiscard]] absl::Status RevokeInvite(const Inviter& caller, std::string_view invite_id);

  // Redeems an invite. Errors as documented on Accounts.Register.
  [[nodiscard]] absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request);

  // The account record; `raw`, when given, gets the bytes it was read from (for
  // AddPutAccount/AddEraseAccount). Errors: NOT_FOUND.
  [[nodiscard]] absl::StatusOr<AccountRecord> GetAccount(std::string_view account_id,
                                                        std::string* raw = nullptr);

  // True when a and b are linked.
  [[nodiscard]] absl::StatusOr<bool> Linked(std::string_view a, std::string_view b);

  // Accounts linked to `account_id`, with identity keys and roles.
  [[nodiscard]] absl::StatusOr<v1::ListContactsResponse> ListContacts(std::string_view account_id);

  // One page of all accounts (admin view). Errors: INVALID_ARGUMENT (bad page token).
  [[nodiscard]] absl::StatusOr<v1::ListMembersResponse> ListMembers(
      const v1::ListMembersRequest& request);

  // Adds to `batch` the deletion of every link of `account_id` (both directions), the
  // revocation of its outstanding invites, and either the deletion of the account record and
  // identity index (`deactivate` false) or its replacement by a DEACTIVATED record without
  // identity key (`deactivate` true). `read`: the bytes GetAccount read `account` from; the
  // batch expects the record unchanged since (another relay process on the same database may
  // have changed it: ABORTED, kWriteConflict, nothing written). REQUIRES: mutex() held.
  [[nodiscard]] absl::Status AddEraseAccount(const AccountRecord& account, const std::string& read,
                                             bool deactivate, KvBatch* batch);

  // Adds to `batch` the replacement of the account record (devices, device list), expecting
  // the record still to be `read` (as AddEraseAccount): a device removed through one relay
  // process cannot come back through an edit made from an older read on another.
  // REQUIRES: mutex() held, and `account` read under it.
  void AddPutAccount(const AccountRecord& account, const std::string& read, KvBatch* batch);

  // Deletes invite records past their expiry.
  [[nodiscard]] absl::Status SweepExpired();

  // Serializes account state changes (registration, erasure). Exposed for AccountEraser.
  base::Mutex& mutex() { return mu_; }
  // This relay's id (16 bytes), which device lists and logins are signed for.
  const std::string& relay_id() const { return db_->relay_id(); }
  // The database, for records kept beside the directory's (link slots).
  RelayDb* db() const { return db_; }

 private:
  absl::StatusOr<v1::RegisterResponse> RegisterOnce(const v1::RegisterRequest& request);
  RelayDb* const db_;
  AuditLog* const audit_;
  const Clock* const clock_;
  const Limits limits_;
  RateLimiter invite_rate_;
  base::Mutex mu_;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_STORE_DIRECTORY_H_

// What the client library hands to a front end: plain views of contacts, messages, the care
// frame and the account, plus small helpers to name and parse them. No gRPC or RocksDB types.
#ifndef ALLIANCE_CLIENT_VIEWS_H_
#define ALLIANCE_CLIENT_VIEWS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "alliance/v1/care.pb.h"
#include "alliance/v1/client_records.pb.h"
#include "alliance/v1/clinic_service.pb.h"
#include "alliance/v1/content.pb.h"

namespace alliance::client {

struct ContactView {
  std::string id;  // Account id, hex.
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string display_name;  // As the contact shared it end to end; may be empty.
  bool verified = false;
  bool identity_changed = false;  // Sending is blocked until AcceptKey.
  uint64_t messages = 0;
  uint64_t unread = 0;
  // Messages the contact sent that have not arrived although later ones did (the ratchet's
  // counters show the gap), all sent before `missing_before`. Show it: "a message from your
  // therapist sent before 10:02 has not arrived". A relay withholding a message cannot hide it;
  // when the message arrives after all the count goes down.
  uint32_t missing_messages = 0;
  std::optional<absl::Time> missing_before;
};

// A file that came with a message (Client::SaveAttachment fetches and decrypts it).
struct AttachmentView {
  size_t index = 0;        // Position in the message.
  std::string file_name;   // Safe to use as a file name: no directories, no control characters.
  std::string media_type;  // As the sender declared it ("application/pdf"); shown, never trusted.
  uint64_t size = 0;       // File bytes.
  // A small preview for images (JPEG, PNG, GIF or WebP bytes; `thumbnail_type` names which),
  // empty otherwise.
  std::string thumbnail;
  std::string thumbnail_type;
};

struct MessageView {
  std::string contact_id;  // Hex.
  std::string contact_name;
  std::string id;  // Content id, hex.
  uint64_t index = 0;
  v1::Direction direction = v1::DIRECTION_UNSPECIFIED;
  absl::Time sent_at;
  absl::Time stored_at;
  v1::DeliveryState state = v1::DELIVERY_STATE_UNSPECIFIED;
  std::string body;
  v1::Intent intent = v1::INTENT_NEEDS_REPLY;
  bool urgent = false;
  bool read = false;
  bool identity_unverified = false;
  bool undecryptable = false;
  // Our own messages: what we were told under the care agreement when sending, and when a
  // reply is due (SendResult's notice and reply_due, kept with the message).
  std::vector<std::string> notice;
  std::optional<absl::Time> reply_due;
  // Not a message but a line of the conversation ("Sam added a device on Tue 2 Dec"): the
  // contact's signed device list gained a device. `body` holds the line.
  bool device_added = false;
  // Files sent with the message, in order.
  std::vector<AttachmentView> attachments;
};

// A file to send with a message (SendOptions::attachments).
struct AttachmentSource {
  // The file to read. It is encrypted on this device before anything leaves it.
  std::string path;
  // The name the recipient sees; default: the path's base name.
  std::string file_name;
  // Default: guessed from the name's extension ("application/octet-stream" when unknown).
  std::string media_type;
  // A small preview for images (JPEG or PNG, at most 24 KiB); default: the image itself when
  // it is a JPEG or PNG of at most 24 KiB, else none.
  std::string thumbnail;
};

struct SendOptions {
  v1::Intent intent = v1::INTENT_NEEDS_REPLY;
  bool urgent = false;
  // The sender saw the emergency notice after the on-device crisis check matched and chose to
  // send anyway. Default: false (a match returns crisis_prompt without sending).
  bool crisis_acknowledged = false;
  // Files to send with the text (at most 8; the text may then be empty).
  std::vector<AttachmentSource> attachments;
};

struct SendResult {
  // Who the message goes to, as resolved from the name the sender typed (show it: a name is
  // chosen by the contact, the role and id are not).
  ContactView recipient;
  std::string message_id;  // Hex; empty when nothing was sent (crisis_prompt).
  // False when the relay could not be reached: the message is queued locally and will be sent
  // by the next Sync, Listen or Send.
  bool sent = false;
  absl::Status relay_error;  // Why it is still queued.
  // The on-device crisis check matched and crisis_acknowledged was false: nothing was sent;
  // show `notice` (the emergency notice) and ask whether to send anyway.
  bool crisis_prompt = false;
  // What the sender should see under the agreement in force, e.g. "outside agreed hours —
  // expect a reply by Tue 10:00" and the emergency notice. Empty without an agreement.
  // Never empty when care_error is set.
  std::vector<std::string> notice;
  // The care agreement in force could not be evaluated (e.g. a damaged local record): the
  // message was still sent, and `notice` holds a plain warning and the emergency notice
  // instead of the agreement's notice. OK otherwise.
  absl::Status care_error;
  std::optional<absl::Time> reply_due;
};

// What sending a message now would mean under the agreement in force (Client::Preview): shown
// before the sender writes, e.g. "outside agreed hours — expect a reply by Thu 10:00".
struct ComposePreview {
  std::vector<std::string> notice;  // Empty inside the agreed hours, or without an agreement.
  std::optional<absl::Time> reply_due;
  std::string emergency_notice;  // The agreement's, or the default one without an agreement.
  bool has_agreement = false;
};

// The care agreement with one contact.
struct AgreementView {
  std::optional<v1::CareAgreement> in_force;  // Both signatures valid, highest version.
  std::optional<v1::CareAgreement> pending;   // A newer proposal awaiting the client.
  size_t versions = 0;
  // Every version both parties signed, oldest first (the one in force is the last).
  std::vector<v1::CareAgreement> history;
  std::vector<v1::OutOfOffice> out_of_office;  // The therapist's announced periods.
};

// One thread awaiting the therapist's reply (inbox --due), or a digest item.
struct DueView {
  std::string contact_id;
  std::string contact_name;
  std::string message_id;
  std::string body;
  absl::Time arrived_at;
  std::optional<absl::Time> due_at;
  bool overdue = false;
  bool urgent = false;
  size_t waiting = 0;
};

struct ConcernView {
  std::string id;  // Hex.
  std::string title;
  std::string state;  // open, acknowledged, deferred, addressed, closed.
  std::string note;
};

struct GoalView {
  std::string id;  // Hex.
  std::string title;
  std::string description;
  bool completed = false;
  std::optional<uint32_t> percent;  // Latest progress percentage, if any.
  std::vector<std::string> progress_notes;
};

enum class ConcernStep { kAcknowledge, kDefer, kAddress, kClose };
enum class GoalStep { kEdit, kProgress, kComplete };

struct SafetyNumberView {
  std::string digits;     // 60 digits.
  std::string formatted;  // Twelve groups of five.
  std::string qr_payload;
  bool verified = false;
};

struct InviteView {
  std::string code;  // 32 hex digits, what the invitee types.
  std::string id;    // Hex, for RevokeInvite.
  v1::Role role = v1::ROLE_UNSPECIFIED;
  absl::Time expires_at;
};

struct AccountView {
  std::string id;  // Hex.
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string relay_address;
  std::string display_name;
  bool read_receipts = false;
};

// A code a new device shows to be linked (Client::StartLink).
struct LinkCodeView {
  std::string code;  // 52 letters and digits in groups of 4: the new device's public key
  absl::Time expires_at;
};

// One device of this account (Client::Devices).
struct DeviceView {
  uint32_t id = 0;
  std::string name;  // As given when it was linked from this device; may be empty.
  absl::Time added_at;
  // The day it last connected to the clinic's server, if the server says.
  std::optional<absl::Time> last_seen;
  bool this_device = false;
};

// What CheckAuditChain found.
struct AuditChainCheck {
  bool intact = true;
  uint64_t broken_at = 0;  // Sequence of the first entry that does not verify.
  size_t checked = 0;      // Entries whose hash was recomputed.
};

// Verifies audit entries read from the relay: recomputes each entry's hash (BLAKE2b-256 of its
// encoding with `hash` unset, DESIGN §5) and checks that each entry's prev_hash is the hash of
// the entry before it when both were read (a gap, as in a security-only listing, starts a new
// run). A relay that altered, dropped or reordered an entry inside what was read is caught.
AuditChainCheck CheckAuditChain(const std::vector<v1::AuditEntry>& entries);

// Hex of bytes, and the bytes of an invite code typed by a person (hex; spaces and dashes
// ignored). INVALID_ARGUMENT unless it is exactly 16 bytes.
std::string ToHex(const std::string& bytes);
// At most `max` bytes of `s`, never splitting a UTF-8 sequence (proto3 refuses to parse invalid
// UTF-8, so a split character would make a stored record unreadable).
std::string TruncateUtf8(const std::string& s, size_t max);
// Checks what the user typed to confirm the 60-digit safety number `digits` (verify,
// accept-key). Accepted: the whole number (spaces, tabs, newlines, '-', '.' and ',' ignored) or
// exactly its QR payload (crypto::SafetyNumberQrPayload). A prefix is never enough: the number
// is the two parties' halves in sorted order, so its first half may be the user's own and not
// depend on the contact's key at all. Compared in constant time over the whole length.
// INVALID_ARGUMENT when `typed` is not a whole number or payload (a prefix, other characters);
// FAILED_PRECONDITION when it is a whole number but not this one.
[[nodiscard]] absl::Status ConfirmSafetyNumber(const std::string& digits, const std::string& typed);
// "admin", "therapist", "client" ("unknown" otherwise); also how contacts are named by role.
const char* RoleName(v1::Role role);
// "queued", "sent", "delivered", "read", "received", "failed".
const char* DeliveryStateName(v1::DeliveryState state);
[[nodiscard]] absl::StatusOr<std::string> ParseInviteCode(const std::string& text);

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_VIEWS_H_

// The free helpers of views.h: names of roles and states, hex, invite codes, and the check of a
// typed safety number.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
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
#include "client/receive_stream.h"
#include "client/store_names.h"
#include "crypto/record_io.h"
#include "crypto/safety_number.h"
#include "crypto/session.h"
#include "nlohmann/json.hpp"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::client {

const char* RoleName(v1::Role r) {
  switch (r) {
    case v1::ROLE_ADMIN:
      return "admin";
    case v1::ROLE_THERAPIST:
      return "therapist";
    case v1::ROLE_CLIENT:
      return "client";
    default:
      return "unknown";
  }
}

const char* DeliveryStateName(v1::DeliveryState s) {
  switch (s) {
    case v1::DELIVERY_STATE_QUEUED:
      return "queued";
    case v1::DELIVERY_STATE_SENT:
      return "sent";
    case v1::DELIVERY_STATE_DELIVERED:
      return "delivered";
    case v1::DELIVERY_STATE_READ:
      return "read";
    case v1::DELIVERY_STATE_RECEIVED:
      return "received";
    case v1::DELIVERY_STATE_FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

std::string ToHex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

std::string TruncateUtf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

absl::Status ConfirmSafetyNumber(const std::string& digits, const std::string& typed) {
  constexpr char kWhole[] =
      "type the whole 60-digit safety number (or paste the QR payload); a part is never "
      "enough: the first half may be your own";
  if (digits.size() != 60) return absl::InternalError("safety number is not 60 digits");
  const absl::string_view trimmed = absl::StripAsciiWhitespace(typed);
  if (absl::StartsWith(trimmed, "alliance-sn:")) {
    const std::string payload = crypto::SafetyNumberQrPayload(digits);
    // The length is public (it is fixed); the content is compared in constant time.
    if (trimmed.size() != payload.size()) return absl::InvalidArgumentError(kWhole);
    if (sodium_memcmp(trimmed.data(), payload.data(), payload.size()) != 0) {
      return absl::FailedPreconditionError(
          "that is not the safety number of this contact's current key; compare again");
    }
    return absl::OkStatus();
  }
  std::string t;
  for (char c : trimmed) {
    if (c >= '0' && c <= '9') {
      t.push_back(c);
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '-' && c != '.' &&
               c != ',') {
      return absl::InvalidArgumentError(kWhole);
    }
  }
  if (t.size() != digits.size()) return absl::InvalidArgumentError(kWhole);
  if (sodium_memcmp(t.data(), digits.data(), digits.size()) != 0) {
    return absl::FailedPreconditionError(
        "that is not the safety number of this contact's current key; compare again");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseInviteCode(const std::string& text) {
  std::string hex;
  for (char c : text) {
    if (c == '-' || c == ' ') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("invite code must be 32 hex digits");
    }
    hex.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 32) return absl::InvalidArgumentError("invite code must be 32 hex digits");
  return absl::HexStringToBytes(hex);
}

AuditChainCheck CheckAuditChain(const std::vector<v1::AuditEntry>& entries) {
  AuditChainCheck check;
  const v1::AuditEntry* previous = nullptr;
  for (const v1::AuditEntry& e : entries) {
    v1::AuditEntry unhashed = e;
    unhashed.clear_hash();
    std::string encoded;
    unsigned char hash[crypto_generichash_BYTES];
    const bool encoded_ok = unhashed.SerializeToString(&encoded);
    crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(encoded.data()),
                       encoded.size(), nullptr, 0);
    const bool own_ok = encoded_ok && e.hash().size() == sizeof hash &&
                        std::memcmp(e.hash().data(), hash, sizeof hash) == 0;
    const bool linked = previous == nullptr || previous->sequence() + 1 != e.sequence() ||
                        previous->hash() == e.prev_hash();
    const bool ordered = previous == nullptr || previous->sequence() < e.sequence();
    ++check.checked;
    if (!own_ok || !linked || !ordered) {
      check.intact = false;
      check.broken_at = e.sequence();
      return check;
    }
    previous = &e;
  }
  return check;
}

}  // namespace alliance::client

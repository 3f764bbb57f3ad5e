// Propagation macros for absl::Status / absl::StatusOr, the one pair used across Alliance, with
// a way for a caller to say what it was doing when an error passed through it:
//
//   ALLIANCE_RETURN_IF_ERROR(store->Run(...));
//   ALLIANCE_RETURN_IF_ERROR(LoadContacts()) << "while refreshing contacts";
//   ALLIANCE_ASSIGN_OR_RETURN(auto value, ComputeValue());
//
// Context keeps the code and prefixes the message ("while refreshing contacts: relay: ...").
// It is for fixed, non-secret text: never put key material, plaintext or a display name in it.
// Header-only (target alliance_status), abseil only, so every layer can use it.
#ifndef ALLIANCE_BASE_STATUS_MACROS_H_
#define ALLIANCE_BASE_STATUS_MACROS_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace alliance::base {

// An error on its way out of a function, to which context can be added with <<. Converts to
// absl::Status and to any absl::StatusOr<T>.
class StatusBuilder {
 public:
  explicit StatusBuilder(absl::Status status) : status_(std::move(status)) {}

  template <typename T>
  StatusBuilder& operator<<(const T& context) {
    absl::StrAppend(&context_, context);
    return *this;
  }

  operator absl::Status() const {  // NOLINT(google-explicit-constructor)
    if (context_.empty()) return status_;
    return absl::Status(status_.code(), absl::StrCat(context_, ": ", status_.message()));
  }
  template <typename T>
  operator absl::StatusOr<T>() const {  // NOLINT(google-explicit-constructor)
    return absl::StatusOr<T>(absl::Status(*this));
  }

 private:
  absl::Status status_;
  std::string context_;
};

}  // namespace alliance::base

#define ALLIANCE_STATUS_CONCAT_INNER_(a, b) a##b
#define ALLIANCE_STATUS_CONCAT_(a, b) ALLIANCE_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function if not OK;
// `<< ...` after the macro adds context. (A `for` rather than an if/else, so that the macro
// under an unbraced `if (c) ... else ...` means what it says.)
#define ALLIANCE_RETURN_IF_ERROR(expr)                                    \
  for (::absl::Status alliance_status_ = (expr); !alliance_status_.ok();) \
  return ::alliance::base::StatusBuilder(std::move(alliance_status_))

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status if not OK, otherwise moves
// the value into `lhs` (which may be a declaration such as `auto x`).
#define ALLIANCE_ASSIGN_OR_RETURN(lhs, rexpr) \
  ALLIANCE_ASSIGN_OR_RETURN_IMPL_(ALLIANCE_STATUS_CONCAT_(alliance_statusor_, __LINE__), lhs, rexpr)

#define ALLIANCE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                    \
  if (!tmp.ok()) return std::move(tmp).status();         \
  lhs = std::move(tmp).value()

#endif  // ALLIANCE_BASE_STATUS_MACROS_H_

// Propagation macros for absl::Status / absl::StatusOr, the one pair used across Alliance.
//
//   ALLIANCE_RETURN_IF_ERROR(DoThing());
//   ALLIANCE_ASSIGN_OR_RETURN(auto value, ComputeValue());
//
// Header-only (target alliance_status) so that every layer can use it without linking crypto.
#ifndef ALLIANCE_CRYPTO_STATUS_MACROS_H_
#define ALLIANCE_CRYPTO_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ALLIANCE_STATUS_CONCAT_INNER_(a, b) a##b
#define ALLIANCE_STATUS_CONCAT_(a, b) ALLIANCE_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function if not OK.
#define ALLIANCE_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::absl::Status alliance_status_ = (expr);            \
    if (!alliance_status_.ok()) return alliance_status_; \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status if not OK, otherwise moves
// the value into `lhs` (which may be a declaration such as `auto x`).
#define ALLIANCE_ASSIGN_OR_RETURN(lhs, rexpr) \
  ALLIANCE_ASSIGN_OR_RETURN_IMPL_(ALLIANCE_STATUS_CONCAT_(alliance_statusor_, __LINE__), lhs, rexpr)

#define ALLIANCE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                    \
  if (!tmp.ok()) return std::move(tmp).status();         \
  lhs = std::move(tmp).value()

#endif  // ALLIANCE_CRYPTO_STATUS_MACROS_H_

// Moved to base/status_macros.h (the base layer, abseil only). Kept only until the last
// includes under client/ move over; include base/status_macros.h.
#ifndef ALLIANCE_CRYPTO_STATUS_MACROS_H_
#define ALLIANCE_CRYPTO_STATUS_MACROS_H_
#include "base/status_macros.h"
#endif  // ALLIANCE_CRYPTO_STATUS_MACROS_H_

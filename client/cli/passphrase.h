// Where the CLI gets the profile passphrase: a file (--passphrase-file or the
// ALLIANCE_PASSPHRASE_FILE environment variable) or a terminal prompt without echo. Never argv.
#ifndef ALLIANCE_CLIENT_CLI_PASSPHRASE_H_
#define ALLIANCE_CLIENT_CLI_PASSPHRASE_H_

#include <string>

#include "absl/status/statusor.h"
#include "crypto/secret.h"

namespace alliance::cli {

// Reads the passphrase. `file` may be empty (then the environment, then the terminal).
// With `confirm`, a terminal prompt asks twice. INVALID_ARGUMENT when none is available or the
// two entries differ; NOT_FOUND when the file cannot be read.
[[nodiscard]] absl::StatusOr<crypto::SecretBytes> ReadPassphrase(const std::string& file,
                                                                 bool confirm);

}  // namespace alliance::cli

#endif  // ALLIANCE_CLIENT_CLI_PASSPHRASE_H_

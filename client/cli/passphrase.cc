#include "client/cli/passphrase.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "base/status_macros.h"

namespace alliance::cli {
namespace {

constexpr size_t kMaxPassphrase = 1024;

// Reads at most kMaxPassphrase bytes from `fd` into secure memory, stopping at a newline when
// `line`; trailing CR/LF removed.
absl::StatusOr<crypto::SecretBytes> ReadSecret(int fd, bool line) {
  ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes buf, crypto::SecretBytes::Allocate(kMaxPassphrase));
  size_t n = 0;
  while (n < kMaxPassphrase) {
    ssize_t r = ::read(fd, buf.data() + n, line ? 1 : kMaxPassphrase - n);
    if (r <= 0) break;
    if (line && buf.data()[n] == '\n') break;
    n += static_cast<size_t>(r);
  }
  while (n > 0 && (buf.data()[n - 1] == '\n' || buf.data()[n - 1] == '\r')) --n;
  if (n == 0) return absl::InvalidArgumentError("passphrase is empty");
  return crypto::SecretBytes::Copy(buf.span().first(n));
}

absl::StatusOr<crypto::SecretBytes> Prompt(int tty, const char* text) {
  (void)!::write(tty, text, std::strlen(text));
  termios old_mode;
  const bool is_term = ::tcgetattr(tty, &old_mode) == 0;
  if (is_term) {
    termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  absl::StatusOr<crypto::SecretBytes> out = ReadSecret(tty, /*line=*/true);
  if (is_term) ::tcsetattr(tty, TCSAFLUSH, &old_mode);
  (void)!::write(tty, "\n", 1);
  return out;
}

}  // namespace

absl::StatusOr<crypto::SecretBytes> ReadPassphrase(const std::string& file, bool confirm) {
  std::string path = file;
  if (path.empty()) {
    const char* env = std::getenv("ALLIANCE_PASSPHRASE_FILE");
    if (env != nullptr) path = env;
  }
  if (!path.empty()) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::NotFoundError("cannot read passphrase file " + path);
    absl::StatusOr<crypto::SecretBytes> out = ReadSecret(fd, /*line=*/false);
    ::close(fd);
    return out;
  }
  int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0) {
    return absl::InvalidArgumentError(
        "no passphrase: use --passphrase-file, ALLIANCE_PASSPHRASE_FILE or a terminal");
  }
  absl::StatusOr<crypto::SecretBytes> first = Prompt(tty, "Passphrase: ");
  if (first.ok() && confirm) {
    absl::StatusOr<crypto::SecretBytes> second = Prompt(tty, "Repeat passphrase: ");
    if (!second.ok() || !first->Equals(second->span())) {
      ::close(tty);
      return absl::InvalidArgumentError("passphrases do not match");
    }
  }
  ::close(tty);
  return first;
}

}  // namespace alliance::cli

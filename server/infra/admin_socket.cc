#include "server/infra/admin_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace alliance::server {
namespace {

constexpr size_t kMaxLine = 4096;

absl::StatusOr<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin socket path too long (", path.size(), " bytes): ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

void SetTimeout(int fd, absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// Reads up to and without '\n'. False on error, timeout, EOF first, or an over-long line.
bool ReadLine(int fd, std::string* line) {
  char c;
  while (line->size() < kMaxLine) {
    ssize_t n = ::read(fd, &c, 1);
    if (n != 1) return false;
    if (c == '\n') return true;
    line->push_back(c);
  }
  return false;
}

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string OneLine(absl::string_view text) {
  std::string out(text.substr(0, kMaxLine - 64));
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminSocket>> AdminSocket::Start(const std::string& path,
                                                                Handler handler) {
  absl::StatusOr<sockaddr_un> addr = Address(path);
  if (!addr.ok()) return addr.status();
  auto admin = std::unique_ptr<AdminSocket>(new AdminSocket(path, std::move(handler)));
  ::unlink(path.c_str());
  admin->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (admin->listen_fd_ < 0 ||
      ::bind(admin->listen_fd_, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0 ||
      ::chmod(path.c_str(), 0600) != 0 || ::listen(admin->listen_fd_, 4) != 0 ||
      ::pipe2(admin->stop_pipe_, O_CLOEXEC) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot open admin socket ", path, ": ", std::strerror(errno)));
  }
  admin->thread_ = std::thread([a = admin.get()] { a->Loop(); });
  return admin;
}

AdminSocket::~AdminSocket() {
  if (thread_.joinable()) {
    (void)!::write(stop_pipe_[1], "x", 1);
    thread_.join();
  }
  for (int fd : {listen_fd_, stop_pipe_[0], stop_pipe_[1]}) {
    if (fd >= 0) ::close(fd);
  }
  if (listen_fd_ >= 0) ::unlink(path_.c_str());
}

void AdminSocket::Loop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Serve(fd);
    ::close(fd);
  }
}

void AdminSocket::Serve(int fd) {
  SetTimeout(fd, absl::Seconds(5));
  ucred peer{};
  socklen_t size = sizeof(peer);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 ||
      (peer.uid != ::geteuid() && peer.uid != 0)) {
    WriteAll(fd, absl::StrCat("error ", static_cast<int>(absl::StatusCode::kPermissionDenied),
                              " only the relay's own user may use its admin socket\n"));
    return;
  }
  std::string line;
  if (!ReadLine(fd, &line)) return;
  absl::string_view request(line);
  const size_t space = request.find(' ');
  absl::string_view command = request.substr(0, space);
  absl::string_view argument = space == absl::string_view::npos ? "" : request.substr(space + 1);
  absl::StatusOr<std::string> reply = handler_(command, argument);
  if (reply.ok()) {
    WriteAll(fd, absl::StrCat("ok ", OneLine(*reply), "\n"));
  } else {
    WriteAll(fd, absl::StrCat("error ", static_cast<int>(reply.status().code()), " ",
                              OneLine(reply.status().message()), "\n"));
  }
}

absl::StatusOr<std::string> AdminRequest(const std::string& path, absl::string_view command,
                                         absl::string_view argument, absl::Duration timeout) {
  absl::StatusOr<sockaddr_un> addr = Address(path);
  if (!addr.ok()) return addr.status();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("cannot create a socket");
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot use ", path, ": run as the relay's user (or root)"));
    }
    return absl::UnavailableError(absl::StrCat("no running relay answers on ", path));
  }
  SetTimeout(fd, timeout);
  std::string line;
  const bool ok = WriteAll(fd, absl::StrCat(command, " ", argument, "\n")) && ReadLine(fd, &line);
  ::close(fd);
  if (!ok) return absl::DeadlineExceededError(absl::StrCat("no answer from ", path));
  if (line.rfind("ok ", 0) == 0) return line.substr(3);
  // "error <code> <text>"
  absl::string_view rest = absl::string_view(line).substr(line.rfind("error ", 0) == 0 ? 6 : 0);
  const size_t space = rest.find(' ');
  int code = static_cast<int>(absl::StatusCode::kUnknown);
  if (!absl::SimpleAtoi(rest.substr(0, space), &code) || code <= 0 || code > 16) code = 2;
  return absl::Status(static_cast<absl::StatusCode>(code),
                      space == absl::string_view::npos ? "" : std::string(rest.substr(space + 1)));
}

}  // namespace alliance::server

// Disk full (issue 11): the real relay and the real CLI on a small filesystem that a filler
// file fills up. The relay must answer Send with RESOURCE_EXHAUSTED and a clear message, keep
// everything it acknowledged before, stay up, and take writes again by itself once space is
// freed; `alliance send` must fail in one clear line and the profile must work afterwards.
//
// The small filesystem is a tmpfs mounted in a private mount namespace made first thing in
// main() (before any thread exists), so it needs no cleanup and nobody else sees it; children
// inherit the namespace. TMPDIR points into it, so E2eFixture puts the relay database and the
// profiles there. Without the privilege to do that the tests skip and say why.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_fixture.h"
#include "tests/e2e/wire_client.h"

namespace alliance::e2e {
namespace {

// Size of the small filesystem: room for a relay database and three profiles with some slack.
constexpr const char* kDiskSize = "size=64m";

// Set by main(): the mount point, or why there is none.
std::string g_small_disk;
std::string g_skip_reason;

bool WriteFile(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// Enters a private mount namespace (as root, or else inside a new user namespace where this
// user is root) and mounts a size-limited tmpfs. Must run while the process has one thread.
void PrepareSmallDisk() {
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  if (::unshare(CLONE_NEWNS) != 0) {
    const int first = errno;
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      g_skip_reason = std::string("cannot make a mount namespace (") + std::strerror(first) +
                      ", and as a user namespace: " + std::strerror(errno) +
                      "); needs root or unprivileged user namespaces";
      return;
    }
    (void)WriteFile("/proc/self/setgroups", "deny");
    if (!WriteFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !WriteFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      g_skip_reason = "cannot map this user into the new user namespace";
      return;
    }
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    g_skip_reason = std::string("cannot make mounts private: ") + std::strerror(errno);
    return;
  }
  // Short: the relay's admin socket lives below it, and socket paths are limited to 107 bytes.
  std::string tmpl = "/tmp/adf-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    g_skip_reason = std::string("mkdtemp: ") + std::strerror(errno);
    return;
  }
  if (::mount("alliance-small-disk", tmpl.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, kDiskSize) !=
      0) {
    g_skip_reason = std::string("cannot mount a tmpfs: ") + std::strerror(errno);
    ::rmdir(tmpl.c_str());
    return;
  }
  g_small_disk = tmpl;
  ::setenv("TMPDIR", tmpl.c_str(), 1);
}

// A file that takes every free byte of the filesystem holding `path`; removing it frees them.
class Filler {
 public:
  explicit Filler(std::string path) : path_(std::move(path)) {
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return;
    std::string chunk(1 << 20, 'x');
    // Large writes first, then small ones for the last partial megabyte.
    for (size_t size : {size_t{1} << 20, size_t{4096}, size_t{1}}) {
      while (::write(fd, chunk.data(), size) == static_cast<ssize_t>(size)) {
      }
    }
    ::close(fd);
  }
  void Remove() { ::unlink(path_.c_str()); }

 private:
  std::string path_;
};

class DiskFullTest : public E2eFixture {
 protected:
  void SetUp() override {
    if (g_small_disk.empty()) GTEST_SKIP() << "no small filesystem: " << g_skip_reason;
    E2eFixture::SetUp();
  }
  bool RelayAlive() { return ::kill(relay_->pid(), 0) == 0; }
};

TEST_F(DiskFullTest, RelaySendIsResourceExhaustedKeepsAckedAndRecovers) {
  WireRelay relay(Address());
  WireAccount admin = WireAccount::Generate();
  WireAccount therapist = WireAccount::Generate();
  WireAccount client = WireAccount::Generate();
  std::string code;
  ASSERT_TRUE(relay.Register(*base::FromHex(bootstrap_), &admin).ok());
  ASSERT_TRUE(relay.Login(&admin).ok());
  ASSERT_TRUE(relay.CreateInvite(admin, v1::ROLE_THERAPIST, &code).ok());
  ASSERT_TRUE(relay.Register(code, &therapist).ok());
  ASSERT_TRUE(relay.Login(&therapist).ok());
  ASSERT_TRUE(relay.CreateInvite(therapist, v1::ROLE_CLIENT, &code).ok());
  ASSERT_TRUE(relay.Register(code, &client).ok());
  ASSERT_TRUE(relay.Login(&client).ok());

  std::set<std::string> acknowledged;
  const std::string payload(1000, 'p');
  auto send = [&](const std::string& id) {
    v1::SendResponse response;
    grpc::Status s = relay.Send(therapist, client.address(), id, payload, &response);
    if (s.ok()) acknowledged.insert(id);
    return s;
  };
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(send(RandomMessageId()).ok());

  Filler filler((dir_ / "filler").string());
  // The relay may still have room in files it already holds; it must refuse, not fail
  // otherwise, once that is used up. Bounded: 64 MiB of 1 KB envelopes is far beyond it.
  grpc::Status full;
  std::string refused_id;
  for (int i = 0; i < 20000 && full.ok(); ++i) {
    refused_id = RandomMessageId();
    full = send(refused_id);
  }
  ASSERT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << full.error_message() << "\nrelay output: " << ReadFile((dir_ / "relay.out").string());
  EXPECT_NE(full.error_message().find("storage is full"), std::string::npos)
      << full.error_message();
  // Still refused the same way, and still up.
  grpc::Status again = send(RandomMessageId());
  EXPECT_EQ(again.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << again.error_message();
  EXPECT_TRUE(RelayAlive());

  // Space comes back: the relay takes writes again by itself (no restart). The retry uses the
  // refused message's id, as a client would.
  filler.Remove();
  grpc::Status recovered = send(refused_id);
  // Safety net only: recovery is normally immediate.
  for (int i = 0; i < 300 && !recovered.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    recovered = send(refused_id);
  }
  ASSERT_TRUE(recovered.ok()) << recovered.error_message();
  EXPECT_TRUE(RelayAlive());

  // Everything acknowledged, before and after, is there, once.
  std::multiset<std::string> delivered;
  {
    auto ctx = WireRelay::Context(client, std::chrono::seconds(30));
    auto reader = relay.relay().Receive(ctx.get(), v1::ReceiveRequest());
    v1::ReceiveResponse response;
    while (reader->Read(&response) && !response.backlog_complete()) {
      delivered.insert(response.envelope().message_id());
    }
    ctx->TryCancel();
    (void)reader->Finish();
  }
  for (const std::string& id : acknowledged) EXPECT_EQ(delivered.count(id), 1u);
  EXPECT_EQ(delivered.size(), acknowledged.size());
  std::printf("disk full: %zu sends acknowledged, all delivered\n", acknowledged.size());

  EXPECT_EQ(StopRelay(), 0);
  Result check = RunCommand({kRelay, "check", "--data", (dir_ / "relay").string()});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(DiskFullTest, CliSendOnFullDiskIsOneLineAndProfileRecovers) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "before the disk filled"});
  Filler filler((dir_ / "filler").string());
  Result full = Run("client", {"send", "therapist", "on a full disk"});
  EXPECT_EQ(full.signal, 0) << "crashed";
  EXPECT_EQ(full.exit_code, 1) << full.out;
  EXPECT_EQ(Lines(full.err), 1) << full.err;
  EXPECT_NE(full.err.find("no space left"), std::string::npos) << full.err;
  EXPECT_TRUE(RelayAlive());

  filler.Remove();
  MustRun("client", {"send", "therapist", "after space was freed"});
  json t = json::parse(MustRun("therapist", {"--json", "history", "client"}).out);
  std::vector<std::string> bodies;
  for (const json& m : t) bodies.push_back(m["body"]);
  // The refused message was never stored, or was stored and is sent now; never twice.
  std::vector<std::string> without = {"before the disk filled", "after space was freed"};
  std::vector<std::string> with = {"before the disk filled", "on a full disk",
                                   "after space was freed"};
  EXPECT_TRUE(bodies == without || bodies == with) << t.dump();
  MustRun("therapist", {"send", "client", "reply"});
  json c = json::parse(MustRun("client", {"--json", "history", "therapist"}).out);
  EXPECT_EQ(c.back()["body"], "reply");
}

}  // namespace
}  // namespace alliance::e2e

int main(int argc, char** argv) {
  // First, while this process has a single thread (user namespaces require it).
  alliance::e2e::PrepareSmallDisk();
  if (sodium_init() < 0) {
    std::fprintf(stderr, "disk_full_e2e_test: libsodium failed to initialise\n");
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  int result = RUN_ALL_TESTS();
  if (!alliance::e2e::g_small_disk.empty()) {
    // The mount vanishes with the namespace; the empty directory under /tmp does not.
    (void)::umount2(alliance::e2e::g_small_disk.c_str(), MNT_DETACH);
    (void)::rmdir(alliance::e2e::g_small_disk.c_str());
  }
  return result;
}

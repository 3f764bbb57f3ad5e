// `alliance app`: runs the client library in this process and serves the web UI (app/) on
// 127.0.0.1, printing (and opening) a one-time link. Stops on SIGINT or SIGTERM.
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "app/app_server.h"
#include "base/status_macros.h"
#include "client/cli/cli_common.h"
#include "client/cli/passphrase.h"

extern char** environ;

namespace alliance::cli {
namespace {

struct AppFlags {
  int port = 0;
  bool no_browser = false;
  int idle_seconds = 0;  // Tests only (hidden): the idle lock in seconds.
};

// Opens `url` in the desktop's browser, quietly; nothing happens where there is none. The
// one-time token must not appear in a command line (any user of the machine can read another's
// argv in /proc), so the browser is given a 0600 file in the profile that redirects to the URL,
// the way Jupyter does it.
void OpenBrowser(const std::string& profile, const std::string& url) {
  std::error_code ec;
  // A first run: the profile is made later, in the page; its directory is private from the start.
  if (std::filesystem::create_directories(profile, ec)) ::chmod(profile.c_str(), 0700);
  const std::string path = std::filesystem::absolute(profile + "/app-open.html", ec).string();
  if (ec) return;
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string page = "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" "
                           "content=\"0;url=" + url + "\"><title>Alliance</title>\n";
  const bool written = ::write(fd, page.data(), page.size()) == static_cast<ssize_t>(page.size());
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) return;
  const std::string file_url = "file://" + path;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const char* argv[] = {"xdg-open", file_url.c_str(), nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, "xdg-open", &actions, nullptr, const_cast<char**>(argv), environ) == 0) {
    std::thread([pid] { waitpid(pid, nullptr, 0); }).detach();
  }
  posix_spawn_file_actions_destroy(&actions);
}

absl::Status RunApp(const Globals& g, const AppFlags& f) {
  // Signals are taken by sigwait below, never by a handler on a random thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  if (f.port < 0 || f.port > 65535) return absl::InvalidArgumentError("--port must be 0..65535");
  app::AppServerOptions options;
  options.port = f.port;
  options.session.profile_dir = g.profile;
  options.session.relay.address = g.relay;
  options.session.relay.ca_file = g.ca_file;
  options.session.relay.insecure = g.insecure;
  if (f.idle_seconds > 0) {
    options.session.idle = absl::Seconds(f.idle_seconds);
    options.session.idle_given = true;
  }
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<app::AppServer> server,
                            app::AppServer::Start(std::move(options)));
  // With a passphrase file (the quick start's demo profiles), start unlocked; otherwise the
  // page asks for it.
  const char* env_file = std::getenv("ALLIANCE_PASSPHRASE_FILE");
  if (!g.passphrase_file.empty() || (env_file != nullptr && *env_file != '\0')) {
    ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes pass, ReadPassphrase(g.passphrase_file, false));
    ALLIANCE_RETURN_IF_ERROR(server->session().Unlock(pass.span()));
  }
  const std::string url = server->LaunchUrl();
  std::printf("Alliance is running for %s on 127.0.0.1:%d.\n", g.profile.c_str(), server->port());
  std::printf("Open this link in your browser (it works once; press Enter here for a new one):\n");
  std::printf("  %s\n", url.c_str());
  std::fflush(stdout);
  if (!f.no_browser) OpenBrowser(g.profile, url);

  app::AppServer* raw = server.get();
  std::thread([raw] {
    std::string line;
    while (std::getline(std::cin, line)) {
      std::printf("  %s\n", raw->LaunchUrl().c_str());
      std::fflush(stdout);
    }
  }).detach();

  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::printf("Alliance is stopping; the profile is locked.\n");
  std::fflush(stdout);
  server->Stop();
  server.reset();
  ::unlink((g.profile + "/app-open.html").c_str());  // Its token is spent; no need to keep it.
  return absl::OkStatus();
}

}  // namespace

void AddAppCommand(Commands& cli) {
  static AppFlags f;
  CLI::App* app = cli.app.add_subcommand(
      "app", "Open the Alliance app in your browser (served on 127.0.0.1 only)");
  app->add_option("--port", f.port, "Port on 127.0.0.1 (default: a free one)");
  app->add_flag("--no-browser", f.no_browser, "Print the link without opening a browser");
  app->add_option("--idle-seconds", f.idle_seconds, "Lock after this many idle seconds (tests)")
      ->group("");
  app->callback(cli.Run([&cli] { return RunApp(cli.g, f); }));
}

}  // namespace alliance::cli

// The state behind `alliance app`: one profile, locked or unlocked, and what the page is told.
//
// Unlocked, it holds the opened Client (the only place keys live), listens to the relay on a
// thread of its own (reconnecting with backoff while the relay is away, so queued messages go
// out when it is back) and turns the client's events into id-only notices for the page's event
// stream. Locking (on demand, or after `idle` without a request from the page) stops listening
// and drops the Client: nothing decrypted stays in this process's memory.
//
//   AppSession session({.profile_dir = dir});
//   ALLIANCE_RETURN_IF_ERROR(session.Unlock(passphrase));
//   ALLIANCE_ASSIGN_OR_RETURN(std::shared_ptr<client::Client> c, session.Client());
//
// Thread safety: every method may be called from any thread.
#ifndef ALLIANCE_APP_APP_SESSION_H_
#define ALLIANCE_APP_APP_SESSION_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "crypto/secret.h"

namespace alliance::app {

struct AppSessionOptions {
  std::string profile_dir;
  // Relay overrides (the CLI's --relay / --ca-file); empty: the registered one.
  client::RelayOptions relay;
  // Lock after this long without a request from the page. Default: 15 minutes (HIPAA automatic
  // logoff); the page may change it (1..240 minutes), kept in the profile directory.
  absl::Duration idle = absl::Minutes(15);
  // `idle` was given on the command line: it wins over the setting saved by the page.
  bool idle_given = false;
  // Argon2id cost of a profile created here.
  crypto::PassphraseCost cost;
};

// One line of the page's event stream: `event: <name>` and `data: <json>`. Ids only, no text.
struct PageEvent {
  std::string name;
  std::string json;
};

// A queue of page events for one open event stream.
class EventQueue {
 public:
  void Push(PageEvent e);
  // Waits up to `timeout` for events; returns what arrived (empty on timeout or Close).
  std::vector<PageEvent> Wait(absl::Duration timeout);
  void Close();
  bool closed();

 private:
  base::Mutex mu_;
  std::deque<PageEvent> events_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class AppSession {
 public:
  explicit AppSession(AppSessionOptions options);
  ~AppSession();
  AppSession(const AppSession&) = delete;
  AppSession& operator=(const AppSession&) = delete;

  bool ProfileExists() const;
  const std::string& profile_dir() const { return options_.profile_dir; }
  bool unlocked();
  bool online();
  absl::Duration idle();
  // 1..240 minutes, stored in the profile directory (not secret). INVALID_ARGUMENT otherwise.
  absl::Status SetIdle(absl::Duration idle);

  // Creates the profile and unlocks it. ALREADY_EXISTS, INVALID_ARGUMENT (passphrase).
  absl::Status Create(crypto::ByteSpan passphrase);
  // Opens the profile. PERMISSION_DENIED for a wrong passphrase, NOT_FOUND without a profile.
  absl::Status Unlock(crypto::ByteSpan passphrase);
  // Stops listening, drops the client and tells every event stream `locked`.
  void Lock();
  // The unlocked client; FAILED_PRECONDITION ("locked") when locked.
  absl::StatusOr<std::shared_ptr<client::Client>> Client();
  // Starts listening once the profile is registered (after Unlock or Register).
  void StartListening();

  // A request from the page: postpones the idle lock.
  void Touch();
  // Locks when idle; called about once a second by the app's ticker.
  void Tick();

  // Event streams of the page.
  std::shared_ptr<EventQueue> OpenStream();
  void CloseStream(const std::shared_ptr<EventQueue>& q);
  void Publish(const PageEvent& e);
  // Ends every open event stream (the app is stopping).
  void CloseStreams();

 private:
  // Listens with `c` until generation_ moves past `generation` (Lock).
  void ListenLoop(std::shared_ptr<client::Client> c, uint64_t generation);
  void SetOnline(bool online) ABSL_LOCKS_EXCLUDED(mu_);
  void Adopt(std::unique_ptr<client::Client> c) ABSL_LOCKS_EXCLUDED(mu_);
  client::ClientOptions ClientOptionsFor() const;

  const AppSessionOptions options_;
  base::Mutex mu_;
  std::shared_ptr<client::Client> client_ ABSL_GUARDED_BY(mu_);  // Null while locked.
  uint64_t subscription_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread listener_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // Moves on at every Lock.
  bool online_ ABSL_GUARDED_BY(mu_) = true;
  absl::Duration idle_ ABSL_GUARDED_BY(mu_);
  absl::Time last_touch_ ABSL_GUARDED_BY(mu_);
  base::Mutex streams_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::vector<std::shared_ptr<EventQueue>> streams_ ABSL_GUARDED_BY(streams_mu_);
};

}  // namespace alliance::app

#endif  // ALLIANCE_APP_APP_SESSION_H_

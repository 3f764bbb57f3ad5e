#include "app/app_session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <utility>
#include <variant>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"

namespace alliance::app {
namespace {

constexpr char kSettingsFile[] = "app-idle-minutes";
constexpr absl::Duration kMinIdle = absl::Minutes(1);
constexpr absl::Duration kMaxIdle = absl::Minutes(240);
constexpr size_t kMaxStreams = 8;

std::string Quote(const std::string& s) { return absl::StrCat("\"", s, "\""); }

// Events name what changed, never its content: the page fetches what it shows.
PageEvent ToPageEvent(const client::ClientEvent& event) {
  struct Visitor {
    PageEvent operator()(const client::MessageEvent& e) const {
      return {"message", absl::StrCat("{\"contact_id\":", Quote(e.message.contact_id),
                                      ",\"incoming\":",
                                      e.message.direction == v1::DIRECTION_INCOMING ? "true"
                                                                                     : "false",
                                      "}")};
    }
    PageEvent operator()(const client::DeliveryStateEvent& e) const {
      return {"delivery",
              absl::StrCat("{\"contact_id\":", Quote(e.contact_id), ",\"message_id\":",
                           Quote(e.message_id), ",\"state\":",
                           Quote(client::DeliveryStateName(e.state)), "}")};
    }
    PageEvent operator()(const client::IdentityChangedEvent& e) const {
      return {"identity", absl::StrCat("{\"contact_id\":", Quote(e.contact_id), "}")};
    }
    PageEvent operator()(const client::ContactChangedEvent& e) const {
      return {"contact", absl::StrCat("{\"contact_id\":", Quote(e.contact_id), "}")};
    }
    PageEvent operator()(const client::AgreementChangedEvent& e) const {
      return {"agreement", absl::StrCat("{\"contact_id\":", Quote(e.contact_id), "}")};
    }
    PageEvent operator()(const client::CareChangedEvent& e) const {
      return {"care", absl::StrCat("{\"contact_id\":", Quote(e.contact_id), "}")};
    }
    PageEvent operator()(const client::CareRejectedEvent& e) const {
      return {"care", absl::StrCat("{\"contact_id\":", Quote(e.contact_id), "}")};
    }
    PageEvent operator()(const client::DueListChangedEvent&) const { return {"due", "{}"}; }
  };
  return std::visit(Visitor{}, event);
}

}  // namespace

void EventQueue::Push(PageEvent e) {
  base::MutexLock lock(&mu_);
  if (closed_ || events_.size() >= 1000) return;  // A stalled page reloads what it shows.
  events_.push_back(std::move(e));
}

std::vector<PageEvent> EventQueue::Wait(absl::Duration timeout) {
  base::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || !events_.empty(); };
  mu_.AwaitWithTimeout(base::Condition(&ready), timeout);
  std::vector<PageEvent> out(events_.begin(), events_.end());
  events_.clear();
  return out;
}

void EventQueue::Close() {
  base::MutexLock lock(&mu_);
  closed_ = true;
}

bool EventQueue::closed() {
  base::MutexLock lock(&mu_);
  return closed_;
}

AppSession::AppSession(AppSessionOptions options)
    : options_(std::move(options)), idle_(options_.idle), last_touch_(absl::Now()) {
  std::ifstream in(options_.profile_dir + "/" + kSettingsFile);
  std::string text;
  int minutes = 0;
  if (!options_.idle_given && in && std::getline(in, text) && absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &minutes) &&
      absl::Minutes(minutes) >= kMinIdle && absl::Minutes(minutes) <= kMaxIdle) {
    idle_ = absl::Minutes(minutes);
  }
}

AppSession::~AppSession() { Lock(); }

client::ClientOptions AppSession::ClientOptionsFor() const {
  client::ClientOptions o;
  o.profile_dir = options_.profile_dir;
  o.relay = options_.relay;
  // The CLI keeps working on the same profile while the app runs: take turns on the database.
  o.store.hold_open = false;
  o.store.linger = absl::Milliseconds(250);  // A send's dozen transactions open it once.
  o.store.cost = options_.cost;
  return o;
}

bool AppSession::ProfileExists() const {
  struct stat st;
  return ::stat((options_.profile_dir + "/key.pb").c_str(), &st) == 0;
}

bool AppSession::unlocked() {
  base::MutexLock lock(&mu_);
  return client_ != nullptr;
}

bool AppSession::online() {
  base::MutexLock lock(&mu_);
  return online_;
}

absl::Duration AppSession::idle() {
  base::MutexLock lock(&mu_);
  return idle_;
}

absl::Status AppSession::SetIdle(absl::Duration idle) {
  if (idle < kMinIdle || idle > kMaxIdle) {
    return absl::InvalidArgumentError("Choose between 1 and 240 minutes.");
  }
  const std::string path = options_.profile_dir + "/" + kSettingsFile;
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError("The setting could not be saved.");
  const std::string text = absl::StrCat(absl::ToInt64Minutes(idle), "\n");
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError("The setting could not be saved.");
  }
  base::MutexLock lock(&mu_);
  idle_ = idle;
  return absl::OkStatus();
}

void AppSession::Adopt(std::unique_ptr<client::Client> c) {
  std::shared_ptr<client::Client> shared(std::move(c));
  const uint64_t id =
      shared->Subscribe([this](const client::ClientEvent& e) { Publish(ToPageEvent(e)); });
  {
    base::MutexLock lock(&mu_);
    client_ = shared;
    subscription_ = id;
    last_touch_ = absl::Now();
  }
  StartListening();
}

absl::Status AppSession::Create(crypto::ByteSpan passphrase) {
  if (unlocked()) return absl::FailedPreconditionError("already unlocked");
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<client::Client> c,
                            client::Client::Init(ClientOptionsFor(), passphrase));
  Adopt(std::move(c));
  return absl::OkStatus();
}

absl::Status AppSession::Unlock(crypto::ByteSpan passphrase) {
  if (unlocked()) return absl::OkStatus();
  ALLIANCE_ASSIGN_OR_RETURN(std::unique_ptr<client::Client> c,
                            client::Client::Open(ClientOptionsFor(), passphrase));
  Adopt(std::move(c));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<client::Client>> AppSession::Client() {
  base::MutexLock lock(&mu_);
  if (client_ == nullptr) return absl::FailedPreconditionError("locked");
  return client_;
}

void AppSession::StartListening() {
  std::shared_ptr<client::Client> c;
  {
    base::MutexLock lock(&mu_);
    if (client_ == nullptr || listener_.joinable()) return;
    c = client_;
  }
  if (!c->Account().ok()) return;  // Not registered yet: Register starts it.
  base::MutexLock lock(&mu_);
  if (client_ != c || listener_.joinable()) return;
  listener_ = std::thread([this, c, g = generation_] { ListenLoop(c, g); });
}

void AppSession::ListenLoop(std::shared_ptr<client::Client> c, uint64_t generation) {
  absl::Duration backoff = absl::Seconds(1);
  while (true) {
    {
      base::MutexLock lock(&mu_);
      if (generation_ != generation) return;
    }
    // Sync first: it sends what is queued and tells whether the relay is there.
    absl::StatusOr<std::vector<client::MessageView>> synced = c->Sync();
    absl::Status status = synced.status();
    if (status.ok()) {
      SetOnline(true);
      backoff = absl::Seconds(1);
      status = c->Listen([](const client::MessageView&) {});  // Events carry what arrived.
    }
    if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) SetOnline(false);
    // ABORTED: another process of this profile (`alliance watch`) took the stream; try again
    // later. Anything else: back off too rather than spin.
    base::MutexLock lock(&mu_);
    auto stopped = [this, generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return generation_ != generation;
    };
    if (mu_.AwaitWithTimeout(base::Condition(&stopped), backoff)) return;
    backoff = std::min(backoff * 2, absl::Seconds(8));
  }
}

void AppSession::SetOnline(bool online) {
  {
    base::MutexLock lock(&mu_);
    if (online_ == online) return;
    online_ = online;
  }
  Publish({"online", online ? "{\"online\":true}" : "{\"online\":false}"});
}

void AppSession::Lock() {
  std::shared_ptr<client::Client> c;
  std::thread listener;
  uint64_t subscription = 0;
  {
    base::MutexLock lock(&mu_);
    if (client_ == nullptr && !listener_.joinable()) return;
    ++generation_;
    c = std::move(client_);  // In-flight requests hold their own reference until they finish.
    listener = std::move(listener_);
    subscription = subscription_;
    online_ = true;
  }
  if (c != nullptr) c->StopListening();
  if (listener.joinable()) listener.join();
  if (c != nullptr) c->Unsubscribe(subscription);
  Publish({"locked", "{}"});
}

void AppSession::Touch() {
  base::MutexLock lock(&mu_);
  last_touch_ = absl::Now();
}

void AppSession::Tick() {
  bool expired = false;
  {
    base::MutexLock lock(&mu_);
    expired = client_ != nullptr && absl::Now() - last_touch_ >= idle_;
  }
  if (expired) Lock();
}

std::shared_ptr<EventQueue> AppSession::OpenStream() {
  auto q = std::make_shared<EventQueue>();
  base::MutexLock lock(&streams_mu_);
  // Each open stream holds one of the server's threads: beyond a few tabs, the oldest ends
  // (its page reconnects if it is still open).
  if (streams_.size() >= kMaxStreams) {
    streams_.front()->Close();
    streams_.erase(streams_.begin());
  }
  streams_.push_back(q);
  return q;
}

void AppSession::CloseStream(const std::shared_ptr<EventQueue>& q) {
  q->Close();
  base::MutexLock lock(&streams_mu_);
  std::erase(streams_, q);
}

void AppSession::CloseStreams() {
  base::MutexLock lock(&streams_mu_);
  for (const std::shared_ptr<EventQueue>& q : streams_) q->Close();
}

void AppSession::Publish(const PageEvent& e) {
  base::MutexLock lock(&streams_mu_);
  for (const std::shared_ptr<EventQueue>& q : streams_) q->Push(e);
}

}  // namespace alliance::app

#include "server/services/relay_service.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <set>

#include "base/status_macros.h"
#include "server/infra/crypto_util.h"
#include "server/store/devices.h"
#include "wire/protocol.h"

namespace alliance::server {
namespace {

constexpr uint32_t kEnvelopeVersion = 1;
constexpr int kMaxAckBatch = 1000;
constexpr size_t kReadBatch = 64;
// What one stream may hold read from its mailbox and not yet written: 64 envelopes of 1 KiB,
// but only 16 of 64 KiB. A reader that stops reading pins at most this (plus gRPC's
// flow-control window), whatever its backlog.
constexpr size_t kReadBatchBytes = 1 << 20;

class ReceiveReactor;

// The mailbox's handle on a stream. Outlives the reactor when needed: the reactor detaches
// itself in OnDone, after which callbacks from the mailbox do nothing.
class StreamLink final : public Mailbox::Subscription {
 public:
  explicit StreamLink(ReceiveReactor* reactor) : reactor_(reactor) {}
  void OnAvailable() override;
  void OnClosed(absl::Status why) override;
  void Detach() {
    base::MutexLock lock(&mu_);
    reactor_ = nullptr;
  }

 private:
  base::Mutex mu_;
  ReceiveReactor* reactor_ ABSL_GUARDED_BY(mu_);
};

class ReceiveReactor final : public grpc::ServerWriteReactor<v1::ReceiveResponse> {
 public:
  ReceiveReactor(const ServiceDeps* deps, Caller caller)
      : deps_(deps), caller_(std::move(caller)), timer_("Receive") {
    deps_->metrics->receive_streams.Add(1);
  }

  // Subscribes and starts writing, or finishes with the subscription error.
  void Start() {
    link_ = std::make_shared<StreamLink>(this);
    absl::StatusOr<uint64_t> backlog_end = deps_->mailbox->Subscribe(caller_.address(), link_);
    base::MutexLock lock(&mu_);
    if (!backlog_end.ok()) {
      FinishLocked(backlog_end.status());
      return;
    }
    backlog_end_ = *backlog_end;
    started_ = true;
    PumpLocked();
  }

  // New envelopes may be deliverable.
  void Wake() {
    base::MutexLock lock(&mu_);
    PumpLocked();
  }

  // Ends the stream with `why` (after the write in flight, if any).
  void Close(const absl::Status& why) {
    base::MutexLock lock(&mu_);
    FinishLocked(why);
  }

  void OnWriteDone(bool ok) override {
    base::MutexLock lock(&mu_);
    writing_ = false;
    if (ok && queue_.front().has_envelope()) deps_->metrics->deliveries.Increment();
    queue_.pop_front();
    if (finish_after_write_) {
      Finish(*finish_after_write_);
      return;
    }
    if (!ok) {
      FinishLocked(absl::CancelledError("stream closed"));
      return;
    }
    PumpLocked();
  }

  void OnCancel() override { Close(absl::CancelledError("stream cancelled")); }

  void OnDone() override {
    if (link_ != nullptr) {
      link_->Detach();
      deps_->mailbox->Unsubscribe(caller_.address(), link_.get());
    }
    deps_->metrics->receive_streams.Add(-1);
    timer_.Record(deps_->metrics);
    delete this;
  }

 private:
  void FinishLocked(const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    grpc::Status status = ToGrpcStatus(why, deps_->logger);
    if (writing_) {
      finish_after_write_ = status;
    } else {
      Finish(status);
    }
  }

  // Refills the queue from the mailbox when empty and starts the next write.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!started_ || writing_ || finished_) return;
    if (queue_.empty()) {
      absl::Status s = RefillLocked();
      if (!s.ok()) {
        FinishLocked(s);
        return;
      }
    }
    if (queue_.empty()) return;
    writing_ = true;
    // No buffer hint: a hinted write can sit in gRPC's buffer (~200 ms) until a timer flushes
    // it, which stalls backlog drains.
    StartWrite(&queue_.front());
  }

  absl::Status RefillLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    uint64_t upto = backlog_end_;
    if (marker_sent_) {
      // Live: envelopes handed over in memory when possible, else read from the database.
      std::vector<v1::Envelope> live;
      absl::Status s =
          deps_->mailbox->TakeLive(caller_.address(), cursor_, kReadBatch, &live, &upto,
                                   kReadBatchBytes);
      if (!s.ok()) return s;
      if (!live.empty()) {
        cursor_ = live.back().sequence();
        for (v1::Envelope& e : live) *queue_.emplace_back().mutable_envelope() = std::move(e);
        return absl::OkStatus();
      }
    }
    if (upto > cursor_) {
      uint64_t scanned = cursor_;
      absl::StatusOr<std::vector<v1::Envelope>> envelopes =
          deps_->mailbox->Read(caller_.address(), cursor_, upto, kReadBatch, &scanned,
                               kReadBatchBytes);
      if (!envelopes.ok()) return envelopes.status();
      cursor_ = scanned;
      for (v1::Envelope& e : *envelopes) {
        *queue_.emplace_back().mutable_envelope() = std::move(e);
      }
    }
    if (queue_.empty() && !marker_sent_ && cursor_ >= backlog_end_) {
      queue_.emplace_back().set_backlog_complete(true);
      marker_sent_ = true;
    }
    return absl::OkStatus();
  }

  const ServiceDeps* const deps_;
  const Caller caller_;
  RpcTimer timer_;
  std::shared_ptr<StreamLink> link_;
  base::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool marker_sent_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_after_write_ ABSL_GUARDED_BY(mu_);
  uint64_t cursor_ ABSL_GUARDED_BY(mu_) = 0;       // last sequence read from the mailbox
  uint64_t backlog_end_ ABSL_GUARDED_BY(mu_) = 0;  // deliverable when the stream started
  std::deque<v1::ReceiveResponse> queue_ ABSL_GUARDED_BY(mu_);  // front is being written
};

void StreamLink::OnAvailable() {
  base::MutexLock lock(&mu_);
  if (reactor_ != nullptr) reactor_->Wake();
}

void StreamLink::OnClosed(absl::Status why) {
  base::MutexLock lock(&mu_);
  if (reactor_ != nullptr) reactor_->Close(why);
}

// Finishes a stream that never started (authentication or guard failure).
class FailedStream final : public grpc::ServerWriteReactor<v1::ReceiveResponse> {
 public:
  explicit FailedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

namespace {

constexpr int kMaxDestinations = 2 * static_cast<int>(wire::kMaxDevicesPerAccount);

bool IsEnvelopeType(v1::EnvelopeType type) {
  return type == v1::ENVELOPE_TYPE_PREKEY_MESSAGE || type == v1::ENVELOPE_TYPE_MESSAGE;
}

// How `given` (destination device ids of one account) differs from `required`.
v1::DeviceMismatch Compare(const std::string& account_id, const std::vector<uint32_t>& required,
                           const std::set<uint32_t>& given) {
  v1::DeviceMismatch m;
  m.set_account_id(account_id);
  for (uint32_t id : required) {
    if (!given.contains(id)) m.add_missing(id);
  }
  for (uint32_t id : given) {
    if (std::find(required.begin(), required.end(), id) == required.end()) m.add_stale(id);
  }
  return m;
}

}  // namespace

absl::StatusOr<std::vector<v1::DeviceMismatch>> RelayService::ValidateSend(
    const Caller& caller, const v1::SendRequest& request) {
  if (request.version() != kEnvelopeVersion) {
    return absl::InvalidArgumentError("unsupported envelope version");
  }
  if (request.message_id().size() != kMessageIdSize) {
    return absl::InvalidArgumentError("malformed envelope");
  }
  const bool single = request.messages_size() == 0;
  std::string recipient;
  if (single) {
    if (!IsAddress(request.recipient()) || !IsEnvelopeType(request.type()) ||
        request.payload().empty()) {
      return absl::InvalidArgumentError("malformed envelope");
    }
    if (request.payload().size() > deps_->limits->max_envelope_bytes) {
      return absl::ResourceExhaustedError("envelope too large");
    }
    recipient = request.recipient().account_id();
  } else {
    if (request.messages_size() > kMaxDestinations || !IsAccountId(request.recipient_account_id()) ||
        request.has_recipient() || !request.payload().empty()) {
      return absl::InvalidArgumentError("malformed envelope");
    }
    recipient = request.recipient_account_id();
    for (const v1::DeviceMessage& m : request.messages()) {
      if (!IsAddress(m.destination()) || !IsEnvelopeType(m.type()) || m.payload().empty() ||
          (m.destination().account_id() != recipient &&
           m.destination().account_id() != caller.account_id)) {
        return absl::InvalidArgumentError("malformed envelope");
      }
      if (m.payload().size() > deps_->limits->max_envelope_bytes) {
        return absl::ResourceExhaustedError("envelope too large");
      }
    }
  }
  if (!deps_->send_rate->TryAcquire(caller.account_id)) {
    return absl::ResourceExhaustedError("send rate exceeded; retry later");
  }
  const bool to_self = recipient == caller.account_id;
  if (!to_self || single) {
    absl::StatusOr<bool> linked = deps_->directory->Linked(caller.account_id, recipient);
    if (!linked.ok()) return linked.status();
    if (!*linked) return absl::PermissionDeniedError("recipient not linked");
  }
  ALLIANCE_ASSIGN_OR_RETURN(AccountRecord recipient_account,
                            deps_->directory->GetAccount(recipient));
  if (single && !HasDevice(recipient_account, request.recipient().device_id())) {
    return absl::NotFoundError("no such device");
  }
  // Destinations per account; a device named twice is malformed.
  std::set<uint32_t> to_recipient;
  std::set<uint32_t> to_own;
  if (single) {
    to_recipient.insert(request.recipient().device_id());
  } else {
    for (const v1::DeviceMessage& m : request.messages()) {
      const bool own = m.destination().account_id() == caller.account_id;
      std::set<uint32_t>& ids = own ? to_own : to_recipient;
      if (!ids.insert(m.destination().device_id()).second) {
        return absl::InvalidArgumentError("a destination device is named twice");
      }
    }
  }
  std::vector<v1::DeviceMismatch> mismatches;
  // A message already stored is answered as a duplicate, even if the devices changed since:
  // the retry of a send whose answer was lost must not be told to cover a new device.
  ALLIANCE_ASSIGN_OR_RETURN(bool stored,
                            deps_->mailbox->AlreadyStored(caller.account_id, request.message_id()));
  if (stored) return mismatches;
  std::vector<uint32_t> own_others;
  if (!to_self || !to_own.empty()) {
    ALLIANCE_ASSIGN_OR_RETURN(AccountRecord own, deps_->directory->GetAccount(caller.account_id));
    for (uint32_t id : ActiveDeviceIds(own)) {
      if (id != caller.device_id) own_others.push_back(id);
    }
  }
  if (to_self) {
    if (to_own.empty()) return absl::InvalidArgumentError("malformed envelope");
    v1::DeviceMismatch m = Compare(caller.account_id, own_others, to_own);
    if (m.missing_size() + m.stale_size() > 0) mismatches.push_back(std::move(m));
    return mismatches;
  }
  v1::DeviceMismatch theirs = Compare(recipient, ActiveDeviceIds(recipient_account), to_recipient);
  if (theirs.missing_size() + theirs.stale_size() > 0) mismatches.push_back(std::move(theirs));
  // The caller's other devices: none (receipts) or every one of them.
  if (!to_own.empty()) {
    v1::DeviceMismatch mine = Compare(caller.account_id, own_others, to_own);
    if (mine.missing_size() + mine.stale_size() > 0) mismatches.push_back(std::move(mine));
  }
  return mismatches;
}

grpc::ServerUnaryReactor* RelayService::Send(grpc::CallbackServerContext* ctx,
                                             const v1::SendRequest* request,
                                             v1::SendResponse* response) {
  absl::StatusOr<Caller> caller = AuthenticateCall(*deps_, ctx);
  if (caller.ok()) {
    absl::StatusOr<std::vector<v1::DeviceMismatch>> mismatches = ValidateSend(*caller, *request);
    if (!mismatches.ok()) {
      deps_->metrics->send_rejected.Increment();
      caller = mismatches.status();
    } else if (!mismatches->empty()) {
      // Not an error: the client refreshes the device lists and sends again. Nothing stored.
      deps_->metrics->send_rejected.Increment();
      for (v1::DeviceMismatch& m : *mismatches) *response->add_mismatches() = std::move(m);
      UnaryCall call(deps_, ctx, "Send");
      return call.Finish(absl::OkStatus());
    }
  }
  if (!caller.ok()) {
    UnaryCall call(deps_, ctx, "Send");
    return call.Finish(caller.status());
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  deps_->mailbox->Send(caller->address(), *request,
                       [deps = deps_, reactor, response,
                        timer = RpcTimer("Send")](absl::StatusOr<v1::SendResponse> result) {
                         if (result.ok()) *response = std::move(*result);
                         timer.Record(deps->metrics);
                         reactor->Finish(ToGrpcStatus(result.status(), deps->logger));
                       });
  return reactor;
}

grpc::ServerWriteReactor<v1::ReceiveResponse>* RelayService::Receive(
    grpc::CallbackServerContext* ctx, const v1::ReceiveRequest* request) {
  absl::StatusOr<Caller> caller = AuthenticateCall(*deps_, ctx);
  if (!caller.ok()) return new FailedStream(ToGrpcStatus(caller.status(), deps_->logger));
  if (request->has_mailbox() && !IsOwnAddress(*caller, request->mailbox())) {
    return new FailedStream(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not your mailbox"));
  }
  auto* reactor = new ReceiveReactor(deps_, *std::move(caller));
  reactor->Start();
  return reactor;
}

grpc::ServerUnaryReactor* RelayService::Ack(grpc::CallbackServerContext* ctx,
                                            const v1::AckRequest* request,
                                            v1::AckResponse* response) {
  UnaryCall call(deps_, ctx, "Ack");
  absl::StatusOr<Caller> caller = call.Authenticate();
  if (!caller.ok()) return call.Finish(caller.status());
  if (request->sequences_size() == 0 || request->sequences_size() > kMaxAckBatch) {
    return call.Finish(absl::InvalidArgumentError("between 1 and 1000 sequences"));
  }
  if (request->has_mailbox() && !IsOwnAddress(*caller, request->mailbox())) {
    return call.Finish(absl::PermissionDeniedError("not your mailbox"));
  }
  absl::StatusOr<uint32_t> deleted = deps_->mailbox->Ack(caller->address(), request->sequences());
  if (deleted.ok()) response->set_deleted(*deleted);
  return call.Finish(deleted.status());
}

}  // namespace alliance::server

#include "server/infra/metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace alliance::server {
namespace {

std::vector<double> LatencyBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
}

constexpr const char* kMethods[] = {
    "Register",        "Challenge",     "Login",          "Logout",
    "ListContacts",    "DeleteAccount", "PublishPreKeys", "FetchPreKeyBundle",
    "GetPreKeyStatus", "Send",          "Receive",        "Ack",
    "CreateInvite",    "RevokeInvite",  "ListMembers",    "DeactivateAccount",
    "ReadAudit",       "Upload",        "UploadStatus",   "Download",
    "other"};

void RenderCounter(const char* name, const char* help, uint64_t v, std::string* out) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ", v,
                  "\n");
}

// Integral values (byte counts, ages in whole seconds) exactly; others with full precision.
std::string FormatValue(double v) {
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9.0e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  if (std::isnan(v)) return "NaN";
  return absl::StrFormat("%.17g", v);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (value > 0) {
    sum_micro_.fetch_add(static_cast<uint64_t>(value * 1e6), std::memory_order_relaxed);
  }
}

void Histogram::Render(const std::string& name, const std::string& labels, std::string* out) const {
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    std::string le = i < bounds_.size() ? absl::StrCat(bounds_[i]) : "+Inf";
    absl::StrAppend(out, name, "_bucket{", labels, sep, "le=\"", le, "\"} ", cumulative, "\n");
  }
  std::string braces = labels.empty() ? "" : absl::StrCat("{", labels, "}");
  absl::StrAppend(out, name, "_sum", braces, " ",
                  static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6, "\n");
  absl::StrAppend(out, name, "_count", braces, " ", count_.load(std::memory_order_relaxed), "\n");
}

Metrics::Metrics() : mailbox_depth({0, 1, 10, 100, 1000, 5000, 10000, 50000}) {
  for (const char* m : kMethods) latency_.emplace(m, std::make_unique<Histogram>(LatencyBounds()));
}

Histogram& Metrics::RpcLatency(const std::string& method) {
  auto it = latency_.find(method);
  if (it == latency_.end()) it = latency_.find("other");
  return *it->second;
}

void Metrics::AddGaugeCallback(std::string name, std::string help, std::function<double()> fn) {
  gauge_callbacks_.push_back({std::move(name), std::move(help), std::move(fn)});
}

std::string Metrics::RenderPrometheus() const {
  std::string out;
  RenderCounter("alliance_sends_total", "Envelopes stored.", sends.value(), &out);
  RenderCounter("alliance_send_duplicates_total", "Idempotent repeats of a stored envelope.",
                send_duplicates.value(), &out);
  RenderCounter("alliance_send_rejected_total", "Sends refused.", send_rejected.value(), &out);
  RenderCounter("alliance_attachment_bytes_in_total", "Attachment ciphertext bytes stored.",
                blob_bytes_in.value(), &out);
  RenderCounter("alliance_attachment_bytes_out_total", "Attachment ciphertext bytes streamed.",
                blob_bytes_out.value(), &out);
  RenderCounter("alliance_attachments_deleted_total",
                "Attachments deleted by the retention sweep.",
                blobs_deleted.value(), &out);
  RenderCounter("alliance_deliveries_total", "Envelopes written to receive streams.",
                deliveries.value(), &out);
  RenderCounter("alliance_acks_total", "Envelopes deleted by acknowledgement.", acks.value(), &out);
  RenderCounter("alliance_expirations_total", "Envelopes removed by retention.",
                expirations.value(), &out);
  RenderCounter("alliance_auth_failures_total", "Rejected tokens and failed logins.",
                auth_failures.value(), &out);
  RenderCounter("alliance_login_failures_total", "Failed logins (a subset of auth failures).",
                login_failures.value(), &out);
  RenderCounter("alliance_logins_total", "Successful logins.", logins.value(), &out);
  RenderCounter("alliance_registrations_total", "Redeemed invites.", registrations.value(), &out);
  RenderCounter("alliance_prekey_bundles_total", "Prekey bundles handed out.",
                prekeys_fetched.value(), &out);
  absl::StrAppend(&out,
                  "# HELP alliance_receive_streams Open receive streams.\n"
                  "# TYPE alliance_receive_streams gauge\nalliance_receive_streams ",
                  receive_streams.value(), "\n");
  for (const auto& g : gauge_callbacks_) {
    absl::StrAppend(&out, "# HELP ", g.name, " ", g.help, "\n# TYPE ", g.name, " gauge\n", g.name,
                    " ", FormatValue(g.fn()), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP alliance_mailbox_depth Recipient mailbox depth after each stored "
                  "envelope.\n# TYPE alliance_mailbox_depth histogram\n");
  mailbox_depth.Render("alliance_mailbox_depth", "", &out);
  absl::StrAppend(&out,
                  "# HELP alliance_rpc_latency_seconds Server-side RPC latency (streams: "
                  "duration).\n# TYPE alliance_rpc_latency_seconds histogram\n");
  for (const auto& [method, h] : latency_) {
    h->Render("alliance_rpc_latency_seconds", absl::StrCat("method=\"", method, "\""), &out);
  }
  return out;
}

}  // namespace alliance::server

// Metrics: the relay's counters and latency histograms, rendered in the Prometheus text format
// (served by MetricsHttpServer). Counts only: no account ids, no content.
//
//   metrics->sends.Increment();
//   metrics->RpcLatency("Send").Observe(0.0021);     // seconds
//   std::string text = metrics->RenderPrometheus();
//
// Thread-safe: every instrument is lock-free; the set of instruments is fixed at construction.
#ifndef ALLIANCE_SERVER_INFRA_METRICS_H_
#define ALLIANCE_SERVER_INFRA_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace alliance::server {

class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Cumulative histogram with fixed upper bounds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Appends `name`_bucket/_sum/_count lines, with `labels` (e.g. `method="Send"`, may be empty).
  void Render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 (the +Inf bucket)
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};  // sum * 1e6, to stay lock-free
};

class Metrics {
 public:
  Metrics();

  Counter sends;            // envelopes stored (duplicates excluded)
  Counter send_duplicates;  // idempotent repeats
  Counter send_rejected;    // sends refused (limits, links, validation)
  Counter deliveries;       // envelopes written to a Receive stream
  Counter acks;             // envelopes deleted by Ack
  Counter expirations;      // envelopes removed by retention
  Counter auth_failures;    // missing/invalid tokens and failed logins
  Counter login_failures;   // failed logins only (bad signature, unknown account, stale nonce)
  Counter logins;           // successful logins
  Counter registrations;    // redeemed invites
  Counter prekeys_fetched;  // bundles handed out
  Counter blob_bytes_in;    // attachment ciphertext bytes stored by uploads
  Counter blob_bytes_out;   // attachment ciphertext bytes streamed by downloads
  Counter blobs_deleted;    // attachments deleted by the retention sweep
  Gauge receive_streams;    // open Receive streams
  Histogram mailbox_depth;  // recipient mailbox depth after each stored envelope

  // Latency histogram of one RPC method ("Send", "Login", ...). Unknown names map to "other".
  Histogram& RpcLatency(const std::string& method);

  // Extra gauges evaluated at render time (e.g. RocksDB estimates). Call before serving.
  void AddGaugeCallback(std::string name, std::string help, std::function<double()> fn);

  std::string RenderPrometheus() const;

 private:
  std::map<std::string, std::unique_ptr<Histogram>> latency_;
  struct GaugeCallback {
    std::string name, help;
    std::function<double()> fn;
  };
  std::vector<GaugeCallback> gauge_callbacks_;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_METRICS_H_

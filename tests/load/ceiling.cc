#include "tests/load/ceiling.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "rocksdb/db.h"

namespace alliance::load {
namespace {

class WorkPool {
 public:
  explicit WorkPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void Submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

class EchoService final : public grpc::CallbackGenericService {
 public:
  EchoService(rocksdb::DB* db, WorkPool* pool) : db_(db), pool_(pool) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    return new Reactor(this);
  }

 private:
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(EchoService* service) : service_(service) { StartRead(&request_); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      if (service_->pool_ != nullptr) {
        service_->pool_->Submit([this] { WriteAndReply(); });
      } else {
        WriteAndReply();
      }
    }
    void OnDone() override { delete this; }

   private:
    void WriteAndReply() {
      std::vector<grpc::Slice> slices;
      (void)request_.Dump(&slices);
      std::string value;
      for (auto& s : slices) value.append(reinterpret_cast<const char*>(s.begin()), s.size());
      uint64_t n = service_->counter_.fetch_add(1);
      std::string key(reinterpret_cast<const char*>(&n), sizeof(n));
      rocksdb::WriteOptions sync;
      sync.sync = true;
      rocksdb::Status s = service_->db_->Put(sync, key, value);
      StartWriteAndFinish(
          &request_, grpc::WriteOptions(),
          s.ok() ? grpc::Status::OK : grpc::Status(grpc::StatusCode::INTERNAL, "write"));
    }
    EchoService* service_;
    grpc::ByteBuffer request_;
  };

  rocksdb::DB* db_;
  WorkPool* pool_;
  std::atomic<uint64_t> counter_{0};
};

struct Call {
  grpc::ClientContext ctx;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
};

}  // namespace

CeilingResult MeasureCeiling(const std::string& dir, int in_flight, size_t payload_size,
                             double seconds, bool use_pool) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.enable_write_thread_adaptive_yield = false;  // same tuning as the relay (server/db.cc)
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir, &raw).ok()) {
    std::fprintf(stderr, "ceiling: cannot open %s\n", dir.c_str());
    return {};
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  std::unique_ptr<WorkPool> pool = use_pool ? std::make_unique<WorkPool>(64) : nullptr;
  EchoService service(db.get(), pool.get());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterCallbackGenericService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();

  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  std::string payload(payload_size, 'p');
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> completed{0};
  std::atomic<int> outstanding{0};
  std::function<void()> issue = [&] {
    auto* call = new Call;
    grpc::Slice slice(payload.data(), payload.size());
    call->request = grpc::ByteBuffer(&slice, 1);
    outstanding.fetch_add(1);
    stub.UnaryCall(&call->ctx, "/alliance.bench.Echo/Echo", grpc::StubOptions(), &call->request,
                   &call->response, [&, call](grpc::Status s) {
                     delete call;
                     if (s.ok()) completed.fetch_add(1);
                     bool again = !stop.load() && s.ok();
                     if (again) issue();
                     outstanding.fetch_sub(1);
                   });
  };
  for (int i = 0; i < in_flight; ++i) issue();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // warm up
  uint64_t start_count = completed.load();
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  uint64_t end_count = completed.load();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop = true;
  while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server->Shutdown();
  pool.reset();
  return {static_cast<double>(end_count - start_count) / elapsed};
}

}  // namespace alliance::load

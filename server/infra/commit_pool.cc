#include "server/infra/commit_pool.h"

namespace alliance::server {

CommitPool::CommitPool(RelayDb* db, int threads) : db_(db) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

CommitPool::~CommitPool() { Shutdown(); }

void CommitPool::Submit(KvBatch batch, Done done) {
  {
    base::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(Job{std::move(batch), std::move(done), nullptr});
      ready_.Signal();
      return;
    }
  }
  done(absl::UnavailableError("relay shutting down"));
}

void CommitPool::Post(std::function<void()> task) {
  {
    base::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(Job{KvBatch(), nullptr, std::move(task)});
      ready_.Signal();
      return;
    }
  }
  task();
}

void CommitPool::Run() {
  while (true) {
    Job job;
    {
      base::MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) ready_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    if (job.task) {
      job.task();
      continue;
    }
    absl::Status s = db_->Write(&job.batch, /*sync=*/true);
    job.done(s);
  }
}

void CommitPool::Shutdown() {
  {
    base::MutexLock lock(&mu_);
    stopping_ = true;
    ready_.SignalAll();
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace alliance::server

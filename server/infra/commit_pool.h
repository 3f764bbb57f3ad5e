// CommitPool: threads that perform synced RocksDB writes off the gRPC threads.
//
// Each logical operation stays one WriteBatch; many threads waiting in DB::Write at once let
// RocksDB group-commit them behind a single fsync, which is where the relay's throughput comes
// from. Completions run on the pool thread that wrote the batch.
//
//   pool.Submit(std::move(batch), [reactor](absl::Status s) { ... reactor->Finish(...); });
//
// Thread-safe. Shutdown() drains queued writes (running their completions) and joins.
#ifndef ALLIANCE_SERVER_INFRA_COMMIT_POOL_H_
#define ALLIANCE_SERVER_INFRA_COMMIT_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "base/mutex.h"
#include "server/infra/kv.h"
#include "server/infra/db.h"

namespace alliance::server {

class CommitPool {
 public:
  using Done = std::function<void(absl::Status)>;

  // Starts `threads` writers on `db`, which must outlive the pool.
  CommitPool(RelayDb* db, int threads);
  ~CommitPool();

  // Queues `batch` for a synced write; `done` gets the write status. After Shutdown(), `done`
  // runs at once with UNAVAILABLE.
  void Submit(KvBatch batch, Done done);

  // Runs `task` on a pool thread: work that waits on the database (PostgreSQL round trips) and
  // must not hold a gRPC thread. After Shutdown(), runs it at once on the caller's thread.
  void Post(std::function<void()> task);

  // Writes what is queued, then stops the threads. Idempotent.
  void Shutdown();

 private:
  struct Job {
    KvBatch batch;
    Done done;
    std::function<void()> task;  // Post(); batch and done unused
  };
  void Run();

  RelayDb* const db_;
  base::Mutex mu_;
  base::CondVar ready_;  // signalled once per queued job (wakes one writer)
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_COMMIT_POOL_H_

// attachment_bench: throughput and peak memory of a large attachment (default 50 MiB) through
// two alliance::client::Clients and a real relay on 127.0.0.1, beside the bare gRPC streaming
// ceiling measured in the same run, plus the relay storage choice (RocksDB blob files against
// the alternatives) for the same bytes.
//
//   grpc_upload     client-streaming RPC of the same byte count in 256 KiB messages to a
//                   handler that discards them (the Blobs service with an empty body)
//   grpc_download   server-streaming RPC of the same byte count in 256 KiB messages
//   upload          Client::SendText with the file: encrypt to the cache (synced), upload
//                   (stored in the relay's blob store; completion synced), send the message
//   download        Client::SaveAttachment: fetch to the cache (synced), verify, decrypt to a
//                   file (synced)
//   store_*         the relay's write path alone: 256 KiB pieces, unsynced, then one synced
//                   write; into a column family with blob files (what the relay uses), one
//                   without, and a plain file with fsync (the "files beside the database"
//                   alternative)
//
// The relay runs in a child process forked before any thread exists, so its peak resident
// memory (VmHWM) is its own; the clients' is this process's.
//
//   build/tests/bench/attachment_bench [--mib 50] [--runs 3]
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "alliance/v1/blobs_service.grpc.pb.h"
#include "client/client.h"
#include "rocksdb/db.h"
#include "server/infra/clock.h"
#include "server/infra/config.h"
#include "server/infra/logging.h"
#include "server/relay_server.h"

namespace alliance::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr size_t kPiece = 256 << 10;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// A field of /proc/<pid>/status in KiB ("VmHWM", "VmRSS").
long StatusKib(pid_t pid, const std::string& field) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return -1;
}

// Resets the peak RSS counter of `pid` to its current RSS (Linux: write 5 to clear_refs).
void ResetPeak(pid_t pid) {
  std::ofstream(pid == 0 ? std::string("/proc/self/clear_refs")
                         : absl::StrCat("/proc/", pid, "/clear_refs"))
      << "5";
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The relay in a child process: initializes `dir`, writes "<port> <invite>\n" to `out_fd`,
// serves until SIGTERM.
[[noreturn]] void RunRelayChild(const std::string& dir, int out_fd) {
  server::SystemClock clock;
  auto invite = server::RelayServer::Initialize(dir + "/relay", &clock);
  if (!invite.ok()) _exit(2);
  auto logger = server::Logger::Create(dir + "/relay.log", "warn");
  if (!logger.ok()) _exit(2);
  server::RelayOptions o;
  o.data_dir = dir + "/relay";
  o.listen = "127.0.0.1:0";
  o.metrics_listen = "";
  o.limits.send_rate_per_second = 100000;
  o.limits.send_burst = 100000;
  o.limits.max_attachment_bytes = 4ull << 30;
  o.limits.max_attachment_bytes_per_account = 4ull << 30;
  auto relay = server::RelayServer::Start(o, &clock, logger->get());
  if (!relay.ok()) _exit(2);
  const std::string line = absl::StrCat((*relay)->port(), " ", *invite, "\n");
  if (::write(out_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(2);
  ::close(out_fd);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  relay->reset();
  _exit(0);
}

// The bare streaming ceiling: the Blobs service with handlers that only move bytes.
class BareBlobs final : public v1::Blobs::CallbackService {
 public:
  explicit BareBlobs(uint64_t total) : total_(total) {}
  grpc::ServerReadReactor<v1::UploadRequest>* Upload(grpc::CallbackServerContext*,
                                                     v1::UploadResponse* response) override {
    class Reader final : public grpc::ServerReadReactor<v1::UploadRequest> {
     public:
      explicit Reader(v1::UploadResponse* r) : response_(r) { StartRead(&request_); }
      void OnReadDone(bool ok) override {
        if (!ok) {
          response_->set_stored_bytes(bytes_);
          Finish(grpc::Status::OK);
          return;
        }
        bytes_ += request_.data().size();
        StartRead(&request_);
      }
      void OnDone() override { delete this; }

     private:
      v1::UploadResponse* response_;
      v1::UploadRequest request_;
      uint64_t bytes_ = 0;
    };
    return new Reader(response);
  }
  grpc::ServerWriteReactor<v1::DownloadResponse>* Download(grpc::CallbackServerContext*,
                                                           const v1::DownloadRequest*) override {
    class Writer final : public grpc::ServerWriteReactor<v1::DownloadResponse> {
     public:
      explicit Writer(uint64_t total) : left_(total) {
        response_.mutable_data()->assign(kPiece, 'x');
        Next();
      }
      void OnWriteDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status::CANCELLED);
          return;
        }
        Next();
      }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (left_ == 0) {
          Finish(grpc::Status::OK);
          return;
        }
        const size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, left_));
        response_.mutable_data()->resize(n);
        left_ -= n;
        StartWrite(&response_);
      }
      v1::DownloadResponse response_;
      uint64_t left_;
    };
    return new Writer(total_);
  }

 private:
  uint64_t total_;
};

struct Ceiling {
  double upload_s = 0;
  double download_s = 0;
};

Ceiling MeasureCeiling(uint64_t bytes) {
  BareBlobs service(bytes);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(1 << 20);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub = v1::Blobs::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  Ceiling c;
  {
    std::string data(kPiece, '\0');
    randombytes_buf(data.data(), data.size());
    const auto t0 = Clock::now();
    grpc::ClientContext ctx;
    v1::UploadResponse resp;
    auto writer = stub->Upload(&ctx, &resp);
    v1::UploadRequest req;
    for (uint64_t sent = 0; sent < bytes; sent += kPiece) {
      req.mutable_data()->assign(data, 0, static_cast<size_t>(std::min<uint64_t>(kPiece, bytes - sent)));
      writer->Write(req);
    }
    writer->WritesDone();
    (void)writer->Finish();
    c.upload_s = Seconds(t0, Clock::now());
  }
  {
    const auto t0 = Clock::now();
    grpc::ClientContext ctx;
    v1::DownloadRequest req;
    auto reader = stub->Download(&ctx, req);
    v1::DownloadResponse resp;
    uint64_t got = 0;
    while (reader->Read(&resp)) got += resp.data().size();
    (void)reader->Finish();
    c.download_s = Seconds(t0, Clock::now());
  }
  server->Shutdown();
  return c;
}

// Writes `bytes` in 256 KiB pieces: into RocksDB (blob files or not), unsynced, the last write
// synced; or into a file, then fsync. Returns seconds.
double MeasureStore(const std::string& dir, uint64_t bytes, const std::string& kind) {
  std::string data(kPiece, '\0');
  randombytes_buf(data.data(), data.size());
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (kind == "file") {
    const auto t0 = Clock::now();
    FILE* f = std::fopen((dir + "/blob").c_str(), "wb");
    for (uint64_t at = 0; at < bytes; at += kPiece) std::fwrite(data.data(), 1, kPiece, f);
    std::fflush(f);
    ::fsync(::fileno(f));
    std::fclose(f);
    return Seconds(t0, Clock::now());
  }
  rocksdb::Options o;
  o.create_if_missing = true;
  if (kind == "blobdb") {
    o.enable_blob_files = true;
    o.min_blob_size = 4096;
    o.enable_blob_garbage_collection = true;
    o.write_buffer_size = 16ull << 20;
  }
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(o, dir, &raw).ok()) return -1;
  std::unique_ptr<rocksdb::DB> db(raw);
  const auto t0 = Clock::now();
  for (uint64_t at = 0; at < bytes; at += kPiece) {
    std::string key = "c";
    key.append(reinterpret_cast<const char*>(&at), sizeof at);
    rocksdb::WriteOptions w;
    w.sync = at + kPiece >= bytes;
    if (!db->Put(w, key, data).ok()) return -1;
  }
  const double s = Seconds(t0, Clock::now());
  return s;
}

int Main(int argc, char** argv) {
  uint64_t mib = 50;
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--mib") (void)absl::SimpleAtoi(argv[i + 1], &mib);
    if (flag == "--runs") (void)absl::SimpleAtoi(argv[i + 1], &runs);
  }
  runs = std::max(1, runs);
  const uint64_t bytes = mib << 20;
  const fs::path root = fs::temp_directory_path() / absl::StrCat("attachment-bench-", ::getpid());
  fs::create_directories(root);

  // Fork the relay before this process starts any thread.
  int pipe_fd[2];
  if (::pipe(pipe_fd) != 0) return 1;
  const pid_t relay_pid = ::fork();
  if (relay_pid == 0) {
    ::close(pipe_fd[0]);
    RunRelayChild(root.string(), pipe_fd[1]);
  }
  ::close(pipe_fd[1]);
  std::string line;
  char ch;
  while (::read(pipe_fd[0], &ch, 1) == 1 && ch != '\n') line.push_back(ch);
  ::close(pipe_fd[0]);
  const size_t space = line.find(' ');
  if (space == std::string::npos) {
    std::fprintf(stderr, "relay did not start\n");
    return 1;
  }
  const std::string address = "127.0.0.1:" + line.substr(0, space);
  const std::string bootstrap = line.substr(space + 1);
  if (sodium_init() < 0) return 1;

  auto join = [&](const std::string& name, const std::string& invite) {
    client::ClientOptions o;
    o.profile_dir = (root / name).string();
    o.relay.address = address;
    o.relay.call_timeout = absl::Seconds(30);
    o.store.cost = crypto::PassphraseCost::Interactive();
    const std::string pass = "pw-" + name;
    auto c = client::Client::Init(o, crypto::AsBytes(pass));
    absl::Status registered = c.ok() ? (*c)->Register(invite, name) : c.status();
    if (!registered.ok()) {
      std::fprintf(stderr, "cannot register %s: %s\n", name.c_str(),
                   registered.ToString().c_str());
      // The relay child holds the test's output open: stop it, or CTest waits for its timeout.
      ::kill(relay_pid, SIGTERM);
      ::waitpid(relay_pid, nullptr, 0);
      std::exit(1);
    }
    return *std::move(c);
  };
  auto admin = join("admin", bootstrap);
  auto invite_code = [](client::Client& by, v1::Role role) {
    return *client::ParseInviteCode(by.CreateInvite(role)->code);
  };
  auto therapist = join("therapist", invite_code(*admin, v1::ROLE_THERAPIST));
  auto sam = join("sam", invite_code(*therapist, v1::ROLE_CLIENT));
  (void)sam->SendText("therapist", "hello", {});
  (void)therapist->Sync();

  // The file, written in pieces (never whole in memory).
  const fs::path file = root / "scan.bin";
  {
    std::string piece(kPiece, '\0');
    std::ofstream out(file, std::ios::binary);
    for (uint64_t at = 0; at < bytes; at += kPiece) {
      randombytes_buf(piece.data(), piece.size());
      out.write(piece.data(), static_cast<std::streamsize>(std::min<uint64_t>(kPiece, bytes - at)));
    }
  }

  std::vector<double> ceil_up, ceil_down, up, down, store_blobdb, store_plain, store_file;
  for (int r = 0; r < runs; ++r) {
    Ceiling c = MeasureCeiling(bytes);
    ceil_up.push_back(c.upload_s);
    ceil_down.push_back(c.download_s);
  }
  // Peak memory over the client and relay runs only.
  const long client_base = StatusKib(0, "VmRSS");
  const long relay_base = StatusKib(relay_pid, "VmRSS");
  ResetPeak(0);
  ResetPeak(relay_pid);
  for (int r = 0; r < runs; ++r) {
    client::SendOptions so;
    so.attachments.push_back({.path = file.string()});
    auto t0 = Clock::now();
    auto sent = sam->SendText("therapist", "", so);
    up.push_back(Seconds(t0, Clock::now()));
    if (!sent.ok() || !sent->sent) {
      std::fprintf(stderr, "send failed: %s\n", std::string(sent.status().message()).c_str());
      return 1;
    }
    auto got = therapist->Sync();
    if (!got.ok() || got->empty()) return 1;
    const fs::path dir = root / absl::StrCat("saved-", r);
    fs::create_directories(dir);
    t0 = Clock::now();
    auto saved = therapist->SaveAttachment(got->back().id, 0, dir.string());
    down.push_back(Seconds(t0, Clock::now()));
    if (!saved.ok()) {
      std::fprintf(stderr, "save failed: %s\n", std::string(saved.status().message()).c_str());
      return 1;
    }
    fs::remove_all(dir);
  }
  const long client_peak = StatusKib(0, "VmHWM");
  const long relay_peak = StatusKib(relay_pid, "VmHWM");
  for (int r = 0; r < runs; ++r) {
    store_blobdb.push_back(MeasureStore((root / "store").string(), bytes, "blobdb"));
    store_plain.push_back(MeasureStore((root / "store").string(), bytes, "plain"));
    store_file.push_back(MeasureStore((root / "store").string(), bytes, "file"));
  }
  ::kill(relay_pid, SIGTERM);
  ::waitpid(relay_pid, nullptr, 0);
  fs::remove_all(root);

  const double mb = static_cast<double>(bytes) / 1e6;
  auto row = [&](const char* name, double seconds, double ceiling) {
    std::printf("%-16s %9.1f %9.3f", name, mb / seconds, seconds);
    if (ceiling > 0) std::printf("   x%.2f of the ceiling", ceiling / seconds);
    std::printf("\n");
  };
  std::printf("attachment of %llu MiB, median of %d run(s)\n", static_cast<unsigned long long>(mib),
              runs);
  std::printf("%-16s %9s %9s\n", "case", "MB/s", "seconds");
  row("grpc_upload", Median(ceil_up), 0);
  row("upload", Median(up), Median(ceil_up));
  row("grpc_download", Median(ceil_down), 0);
  row("download", Median(down), Median(ceil_down));
  row("store_blobdb", Median(store_blobdb), 0);
  row("store_plain_cf", Median(store_plain), 0);
  row("store_file", Median(store_file), 0);
  std::printf("peak memory: clients %.1f MiB (%.1f before), relay %.1f MiB (%.1f before)\n",
              client_peak / 1024.0, client_base / 1024.0, relay_peak / 1024.0,
              relay_base / 1024.0);
  return 0;
}

}  // namespace
}  // namespace alliance::bench

int main(int argc, char** argv) { return alliance::bench::Main(argc, argv); }

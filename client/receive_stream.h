// One Receive stream from the relay, owning its gRPC context, so that StopListening can cancel
// it from another thread without ever touching an object on someone's stack.
//
//   ALLIANCE_ASSIGN_OR_RETURN(std::shared_ptr<ReceiveStream> s, ReceiveStream::Open(relay));
//   v1::ReceiveResponse r;
//   while (s->Read(&r)) { ... }
//   absl::Status end = s->Finish();
//
// Thread safety: Read and Finish from one thread; Cancel from any thread, at any time.
#ifndef ALLIANCE_CLIENT_RECEIVE_STREAM_H_
#define ALLIANCE_CLIENT_RECEIVE_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/statusor.h"
#include "alliance/v1/relay_service.grpc.pb.h"
#include "client/relay_connection.h"

namespace alliance::client {

class ReceiveStream {
 public:
  // Opens the stream (logging in first when needed). `relay` must outlive the stream.
  // Errors: as RelayConnection::PrepareStream (UNAVAILABLE, UNAUTHENTICATED...).
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<ReceiveStream>> Open(RelayConnection* relay);

  // The next message from the relay; false when the stream ended (see Finish).
  bool Read(v1::ReceiveResponse* out) { return reader_->Read(out); }
  // Ends the stream soon: a Read in progress returns false. Idempotent.
  void Cancel() { context_.TryCancel(); }
  // Why the stream ended, as one clear line (FromGrpc). Call once, after Read returned false.
  [[nodiscard]] absl::Status Finish();

 private:
  explicit ReceiveStream(RelayConnection* relay) : relay_(relay) {}

  RelayConnection* const relay_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::ReceiveResponse>> reader_;
};

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_RECEIVE_STREAM_H_

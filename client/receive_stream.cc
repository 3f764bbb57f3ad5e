#include "client/receive_stream.h"

#include "base/status_macros.h"

namespace alliance::client {

absl::StatusOr<std::shared_ptr<ReceiveStream>> ReceiveStream::Open(RelayConnection* relay) {
  std::shared_ptr<ReceiveStream> stream(new ReceiveStream(relay));
  ALLIANCE_RETURN_IF_ERROR(relay->PrepareStream(&stream->context_));
  stream->reader_ = relay->relay_stub()->Receive(&stream->context_, v1::ReceiveRequest());
  return stream;
}

absl::Status ReceiveStream::Finish() { return FromGrpc(reader_->Finish(), relay_->address()); }

}  // namespace alliance::client

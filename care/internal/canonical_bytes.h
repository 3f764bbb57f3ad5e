// Deterministic protobuf encoding for care documents and events.
//
// Signed documents are serialized once with a stable field order, and a received document is
// accepted only if re-encoding it this way gives back the signed bytes (agreement.cc). The
// same encoding is the last tie-breaker of the canonical event order (event_order.h).
//
//   std::string bytes = care_internal::DeterministicBytes(agreement);
//
// Internal to alliance_care; not part of its API.
#ifndef ALLIANCE_CARE_INTERNAL_CANONICAL_BYTES_H_
#define ALLIANCE_CARE_INTERNAL_CANONICAL_BYTES_H_

#include <string>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace alliance::care_internal {

// `message` serialized with deterministic output (fields in number order; unknown fields kept).
template <typename Message>
std::string DeterministicBytes(const Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

}  // namespace alliance::care_internal

#endif  // ALLIANCE_CARE_INTERNAL_CANONICAL_BYTES_H_

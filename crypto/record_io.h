// Serializing records that hold secrets without leaving copies behind.
//
// Protobuf keeps bytes fields in std::string; after a record with secret fields has been
// serialized (into sodium_malloc'd memory) its strings are wiped and cleared.
//
//   v1::SessionRecord rec;
//   session.ToRecord(&rec);
//   ALLIANCE_ASSIGN_OR_RETURN(SecretBytes bytes, SerializeAndWipe(&rec));
//
// Thread safety: functions touch only their arguments.
#ifndef ALLIANCE_CRYPTO_RECORD_IO_H_
#define ALLIANCE_CRYPTO_RECORD_IO_H_

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "crypto/secret.h"

namespace alliance::crypto {

// Overwrites every string and bytes field of `message` (recursively) with zeros, then clears it.
void WipeMessage(google::protobuf::Message* message);

// Serializes `message` into secure memory, then wipes it. INTERNAL if serialization fails.
[[nodiscard]] absl::StatusOr<SecretBytes> SerializeAndWipe(google::protobuf::Message* message);

// Parses `bytes` into `message`. INVALID_ARGUMENT ("malformed record") on failure.
[[nodiscard]] absl::Status ParseRecord(ByteSpan bytes, google::protobuf::Message* message);

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_RECORD_IO_H_

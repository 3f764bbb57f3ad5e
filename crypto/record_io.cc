#include "crypto/record_io.h"

#include <google/protobuf/descriptor.h>

#include <string>

#include "base/status_macros.h"

namespace alliance::crypto {
namespace {

using google::protobuf::FieldDescriptor;

void WipeString(const std::string& s) {
  // The string's buffer is owned by the message we are about to clear.
  if (!s.empty()) sodium_memzero(const_cast<char*>(s.data()), s.size());
}

}  // namespace

void WipeMessage(google::protobuf::Message* message) {
  const google::protobuf::Reflection* r = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*message, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*message, f); ++i) {
          std::string scratch;
          WipeString(r->GetRepeatedStringReference(*message, f, i, &scratch));
        }
      } else {
        std::string scratch;
        WipeString(r->GetStringReference(*message, f, &scratch));
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*message, f); ++i) {
          WipeMessage(r->MutableRepeatedMessage(message, f, i));
        }
      } else {
        WipeMessage(r->MutableMessage(message, f));
      }
    }
  }
  message->Clear();
}

absl::StatusOr<SecretBytes> SerializeAndWipe(google::protobuf::Message* message) {
  const size_t size = message->ByteSizeLong();
  ALLIANCE_ASSIGN_OR_RETURN(SecretBytes out, SecretBytes::Allocate(size));
  const bool ok = size == 0 || message->SerializeToArray(out.data(), static_cast<int>(size));
  WipeMessage(message);
  if (!ok) return absl::InternalError("record serialization failed");
  return out;
}

absl::Status ParseRecord(ByteSpan bytes, google::protobuf::Message* message) {
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("malformed record");
  }
  return absl::OkStatus();
}

}  // namespace alliance::crypto

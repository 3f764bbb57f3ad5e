#include "server/admin/health_probe.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <future>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace alliance::server {
namespace {

// grpc.health.v1.HealthCheckResponse.ServingStatus values.
constexpr int kProtoServing = 1;
constexpr int kProtoNotServing = 2;

// Why a call could not reach the relay, in words an operator can act on.
std::string Why(const grpc::Status& s) {
  const std::string m = absl::AsciiStrToLower(s.error_message());
  if (absl::StrContains(m, "connection refused")) return "connection refused";
  if (absl::StrContains(m, "dns") || absl::StrContains(m, "resolve")) return "cannot resolve host";
  if (absl::StrContains(m, "handshake") || absl::StrContains(m, "ssl") ||
      absl::StrContains(m, "certificate")) {
    return "TLS handshake failed (wrong --ca-file, or the relay's certificate has expired)";
  }
  if (absl::StrContains(m, "socket closed")) {
    return "the relay closed the connection (does it require TLS? give --ca-file)";
  }
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return "timed out";
  if (!m.empty() && m.size() < 120) return m;
  return "unavailable";
}

// Decodes HealthCheckResponse: field 1 (status), varint. Anything else is UNKNOWN.
ServingState Decode(const std::string& body) {
  if (body.empty()) return ServingState::kUnknown;  // status 0 (UNKNOWN) is encoded as nothing
  if (body.size() == 2 && body[0] == '\x08') {
    if (body[1] == kProtoServing) return ServingState::kServing;
    if (body[1] == kProtoNotServing) return ServingState::kNotServing;
  }
  return ServingState::kUnknown;
}

}  // namespace

std::string_view ServingStateName(ServingState state) {
  switch (state) {
    case ServingState::kServing:
      return "SERVING";
    case ServingState::kNotServing:
      return "NOT_SERVING";
    case ServingState::kUnknown:
      break;
  }
  return "UNKNOWN";
}

absl::StatusOr<ServingState> ProbeHealth(const ProbeOptions& options) {
  if (options.address.empty()) return absl::InvalidArgumentError("give --address HOST:PORT");
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!options.ca_file.empty()) {
    std::ifstream in(options.ca_file);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read CA file ", options.ca_file));
    std::stringstream pem;
    pem << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    creds = grpc::SslCredentials(ssl);
  }
  auto channel = grpc::CreateChannel(options.address, creds);
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  grpc::Slice empty("", 0);  // HealthCheckRequest{service: ""} encodes as zero bytes.
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status status = done.get_future().get();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach relay ", options.address, ": ", Why(status)));
  }
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("relay ", options.address, ": ", status.error_message()));
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return ServingState::kUnknown;
  std::string body;
  for (const grpc::Slice& s : slices) body.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return Decode(body);
}

}  // namespace alliance::server

// The bare ceiling the relay is compared with: a unary gRPC echo of the request whose handler
// first performs a synced RocksDB put of it — the two costs a durable relay send cannot avoid.
// Served by a generic callback service (no protobuf), either on gRPC's callback threads
// ("inline") or handed to a pool of writer threads ("pool"), whichever is faster.
#ifndef ALLIANCE_TESTS_LOAD_CEILING_H_
#define ALLIANCE_TESTS_LOAD_CEILING_H_

#include <string>

namespace alliance::load {

struct CeilingResult {
  double calls_per_second = 0;
};

// Runs `in_flight` concurrent echo calls of `payload_size` bytes for `seconds` against a fresh
// server and database under `dir`. `use_pool`: synced writes on 64 pool threads.
CeilingResult MeasureCeiling(const std::string& dir, int in_flight, size_t payload_size,
                             double seconds, bool use_pool);

}  // namespace alliance::load

#endif  // ALLIANCE_TESTS_LOAD_CEILING_H_

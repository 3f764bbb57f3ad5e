// Drives libsignal-protocol-c for crypto_bench: two parties in one process, each with its own
// in-memory stores (signal_memory_store.h), one library context on the OpenSSL provider
// (signal_openssl_provider.h).
//
//   SignalPeer signal("steady_1KiB/signal");
//   signal.Establish(message);          // Bob publishes a bundle; Alice sends a pre-key message
//   signal.Send(Party::kBob, message);  // Bob replies: both sides are past the pre-key stage
//   signal.Send(Party::kAlice, message);
//
// libsignal-protocol-c parses the session record from the store before every message and
// serializes it back after; that is part of what is measured. Every call checks its result and
// dies on failure (bench_common.h). Implements the Peer interface of peer_cases.h.
// Thread safety: none; use one object from one thread.
#ifndef ALLIANCE_TESTS_BENCH_SIGNAL_PEER_H_
#define ALLIANCE_TESTS_BENCH_SIGNAL_PEER_H_

#include <cstddef>
#include <memory>

#include "tests/bench/bench_common.h"

namespace alliance::bench {

class SignalPeer final {
 public:
  // Sets up the provider and library context, Alice's and Bob's identity keys and stores, and
  // Bob's signed pre-key. `bench_case` names the case in failure messages; it must outlive this
  // object.
  explicit SignalPeer(const char* bench_case);
  SignalPeer(const SignalPeer&) = delete;
  SignalPeer& operator=(const SignalPeer&) = delete;
  ~SignalPeer();

  // Forgets the current session on both sides, if any, then sets up a new one: Bob generates one
  // one-time pre-key, stores it and publishes a bundle (identity key, signed pre-key with its
  // signature, one-time pre-key); Alice processes the bundle (verifies the signature, X3DH) and
  // encrypts `message`; Bob parses the pre-key message, does his side of X3DH, consumes the
  // one-time pre-key and decrypts. Returns the decrypted length (always message.size()).
  size_t Establish(Bytes message);

  // `from` encrypts `message`, it is serialized and parsed back, the other party decrypts it;
  // checked. Returns the decrypted length.
  // REQUIRES: Establish() has run and Bob has sent since, so no pre-key message is left.
  size_t Send(Party from, Bytes message);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace alliance::bench

#endif  // ALLIANCE_TESTS_BENCH_SIGNAL_PEER_H_

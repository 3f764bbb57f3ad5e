// Drives libolm for crypto_bench: two accounts in one process, one session between them.
//
//   OlmPeer olm("steady_1KiB/olm");
//   olm.Establish(message);          // Bob publishes a one-time key; Alice sends a pre-key message
//   olm.Send(Party::kBob, message);  // Bob replies: both sides are past the pre-key stage
//   olm.Send(Party::kAlice, message);
//
// Sessions stay in memory (never pickled). Randomness comes from libsodium's randombytes_buf,
// drawn by the caller as olm's API requires. Every call checks its result and dies on failure
// (bench_common.h). Implements the Peer interface of peer_cases.h.
// Thread safety: none; use one object from one thread.
#ifndef ALLIANCE_TESTS_BENCH_OLM_PEER_H_
#define ALLIANCE_TESTS_BENCH_OLM_PEER_H_

#include <cstddef>
#include <memory>

#include "tests/bench/bench_common.h"

namespace alliance::bench {

class OlmPeer final {
 public:
  // Initializes libsodium and creates Alice's and Bob's accounts (long-term identity keys).
  // `bench_case` names the case in failure messages; it must outlive this object.
  explicit OlmPeer(const char* bench_case);
  OlmPeer(const OlmPeer&) = delete;
  OlmPeer& operator=(const OlmPeer&) = delete;
  ~OlmPeer();

  // Wipes the current session, if any, then sets up a new one: Bob generates and publishes one
  // one-time key; Alice creates an outbound session to Bob's identity key and that one-time key
  // (olm has no signed pre-key, so there is no signature to verify) and encrypts `message`; Bob
  // creates the inbound session from the pre-key message, removes the one-time key from his
  // account and decrypts. Returns the decrypted length (always message.size()).
  size_t Establish(Bytes message);

  // `from` encrypts `message` (base64 wire form), the other party decrypts it; checked.
  // Returns the decrypted length.
  // REQUIRES: Establish() has run and Bob has sent since, so no pre-key message is left.
  size_t Send(Party from, Bytes message);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace alliance::bench

#endif  // ALLIANCE_TESTS_BENCH_OLM_PEER_H_

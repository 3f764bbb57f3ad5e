// crypto_bench, the established implementations: libolm (olm_peer.h) and libsignal-protocol-c
// with our OpenSSL provider (signal_peer.h), run through the shared loops of peer_cases.h so
// that `crypto_bench --benchmark_format=json | tests/bench/compare.py` compares like with like.
//
// Registers session_setup/{olm,signal}, steady_1KiB/{olm,signal}, alternating_1KiB/{olm,signal}.
// What each timed iteration holds, beyond the case definitions in peer_cases.h:
//
// session_setup (all of it timed; long-term identity keys, and signal's signed pre-key, are
// made once before the loop):
//   olm     wipe the previous two sessions; Bob generates 1 one-time key, lists it (JSON) and
//           marks it published; Alice olm_create_outbound_session (olm has no signed pre-key,
//           hence no bundle signature to verify) and encrypts 1 KiB; Bob copies the pre-key
//           message, olm_create_inbound_session, olm_remove_one_time_keys, decrypts; check.
//   signal  drop the previous two sessions (two map entries); Bob generates 1 one-time pre-key,
//           stores it and builds the bundle; Alice session_builder_process_pre_key_bundle
//           (XEdDSA verify of the signed pre-key, X3DH), encrypts 1 KiB, serializes; Bob parses
//           the pre-key message, decrypts (X3DH, consumes the pre-key); check.
// steady_1KiB / alternating_1KiB: one encrypt, the wire bytes (olm: base64; signal: serialized
//   protobuf, parsed back), one decrypt, one check. libsignal-protocol-c also loads and stores
//   the serialized session record around each encrypt and decrypt, as its API requires; olm
//   sessions stay in memory.
//
// Randomness: olm takes it from the caller (libsodium's randombytes_buf, inside timing);
// libsignal asks the provider (OpenSSL RAND_bytes).
#include "tests/bench/olm_peer.h"
#include "tests/bench/peer_cases.h"
#include "tests/bench/signal_peer.h"

namespace alliance::bench {
namespace {

[[maybe_unused]] const bool kRegistered =
    (RegisterPeerCases<OlmPeer>("olm"), RegisterPeerCases<SignalPeer>("signal"), true);

}  // namespace
}  // namespace alliance::bench

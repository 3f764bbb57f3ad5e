// HKDF-SHA256 (RFC 5869) and the HMAC-SHA256 chain step, on libsodium's HMAC-SHA256.
// libsodium 1.0.18 has no HKDF; this composes its HMAC, it implements no primitive.
//
//   WipedArray<64> out;
//   HkdfSha256(salt, ikm, AsBytes("alliance/v1/ratchet"), out.mutable_span());
//
// Thread safety: pure functions.
#ifndef ALLIANCE_CRYPTO_HKDF_H_
#define ALLIANCE_CRYPTO_HKDF_H_

#include "crypto/secret.h"

namespace alliance::crypto {

// Largest output HKDF-SHA256 can produce (255 blocks of 32 bytes).
inline constexpr size_t kHkdfMaxOutput = 255 * 32;

// Writes HKDF-SHA256(salt, ikm, info) into `out`. An empty salt means 32 zero bytes (RFC 5869).
// REQUIRES: out.size() <= kHkdfMaxOutput.
void HkdfSha256(ByteSpan salt, ByteSpan ikm, ByteSpan info, MutableByteSpan out);

// The Double Ratchet symmetric step: message_key = HMAC(chain_key, 0x01),
// next_chain_key = HMAC(chain_key, 0x02). Keys the HMAC once for both outputs.
// `next_chain_key` may alias `chain_key`.
void ChainStep(const WipedArray<32>& chain_key, WipedArray<32>* message_key,
               WipedArray<32>* next_chain_key);

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_HKDF_H_

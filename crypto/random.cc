#include "crypto/random.h"

namespace alliance::crypto {

void DeterministicRandom::Fill(MutableByteSpan out) {
  // Each call uses a fresh sub-seed BLAKE2b(key = seed, counter) so successive calls differ.
  uint8_t counter_bytes[8];
  for (int i = 0; i < 8; ++i) counter_bytes[i] = static_cast<uint8_t>(counter_ >> (56 - 8 * i));
  ++counter_;
  WipedArray<randombytes_SEEDBYTES> sub_seed;
  crypto_generichash(sub_seed.data(), sub_seed.size(), counter_bytes, sizeof counter_bytes,
                     seed_.data(), seed_.size());
  randombytes_buf_deterministic(out.data(), out.size(), sub_seed.data());
}

}  // namespace alliance::crypto

// Sources of randomness for key generation.
//
// Production code uses SystemRandom (libsodium's CSPRNG). Tests that need reproducible keys
// (known-answer files) inject a DeterministicRandom, which expands a fixed seed with libsodium's
// randombytes_buf_deterministic. Never use DeterministicRandom outside tests and benchmarks.
//
//   SystemRandom rng;
//   DhKeyPair k = DhKeyPair::Generate(rng);
//
// Thread safety: SystemRandom is thread-safe; DeterministicRandom is not.
#ifndef ALLIANCE_CRYPTO_RANDOM_H_
#define ALLIANCE_CRYPTO_RANDOM_H_

#include <cstdint>

#include "crypto/secret.h"

namespace alliance::crypto {

class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with random bytes. Never fails.
  virtual void Fill(MutableByteSpan out) = 0;
};

class SystemRandom final : public Random {
 public:
  void Fill(MutableByteSpan out) override { randombytes_buf(out.data(), out.size()); }
};

class DeterministicRandom final : public Random {
 public:
  // REQUIRES: seed.size() == randombytes_SEEDBYTES (32).
  explicit DeterministicRandom(ByteSpan seed) : seed_(seed) {}
  void Fill(MutableByteSpan out) override;

 private:
  WipedArray<randombytes_SEEDBYTES> seed_;
  uint64_t counter_ = 0;
};

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_RANDOM_H_

// crypto_bench, the floor: the bare libsodium primitives one Alliance message is built from,
// called directly (not through alliance_crypto), so the report shows how far each protocol is
// from the cost of its cryptography alone.
//
//   floor/aead_xchacha20poly1305_1KiB_seal_open  seal + open of 1 KiB (no associated data)
//   floor/hmac_sha256_32B                        one HMAC-SHA256 of 32 bytes (a chain step)
//   floor/hkdf_sha256_56B                        HKDF-SHA256 to 56 bytes (key + nonce): one
//                                                extract and two expand blocks, 3 HMACs
//   floor/x25519_dh                              one X25519 shared secret
//   floor/x25519_keygen                          random scalar + X25519 base-point multiply
//   floor/ed25519_verify                         verify a detached signature on 96 bytes
//
// Keys, nonces and inputs are fixed outside timing (nonce reuse is harmless here: nothing is
// ever sent). Each result is checked once so a broken primitive cannot produce a fast number.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "tests/bench/bench_common.h"

namespace alliance::bench {
namespace {

constexpr size_t kHkdfOutputSize = 56;  // XChaCha20-Poly1305 key (32) + nonce (24).

void InitSodiumOrDie(const char* bench_case) {
  BenchCheck(sodium_init() >= 0, bench_case, "sodium_init failed");
}

template <size_t N>
std::array<uint8_t, N> RandomArray() {
  std::array<uint8_t, N> bytes;
  randombytes_buf(bytes.data(), bytes.size());
  return bytes;
}

void BM_AeadSealOpen(benchmark::State& state) {
  constexpr const char* kCase = "floor/aead_xchacha20poly1305_1KiB_seal_open";
  InitSodiumOrDie(kCase);
  const auto key = RandomArray<crypto_aead_xchacha20poly1305_ietf_KEYBYTES>();
  const auto nonce = RandomArray<crypto_aead_xchacha20poly1305_ietf_NPUBBYTES>();
  const auto plaintext = RandomArray<kMessageSize>();
  std::array<uint8_t, kMessageSize + crypto_aead_xchacha20poly1305_ietf_ABYTES> ciphertext;
  std::array<uint8_t, kMessageSize> opened;
  for (auto _ : state) {
    unsigned long long sealed_len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ciphertext.data(), &sealed_len, plaintext.data(),
                                               plaintext.size(), nullptr, 0, nullptr, nonce.data(),
                                               key.data());
    unsigned long long opened_len = 0;
    const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(opened.data(), &opened_len, nullptr,
                                                              ciphertext.data(), sealed_len,
                                                              nullptr, 0, nonce.data(), key.data());
    BenchCheck(rc == 0, kCase, "open failed");
    benchmark::DoNotOptimize(opened.data());
    benchmark::ClobberMemory();
  }
  BenchCheck(opened == plaintext, kCase, "opened plaintext differs");
  state.SetItemsProcessed(state.iterations());
}

void BM_HmacSha256(benchmark::State& state) {
  constexpr const char* kCase = "floor/hmac_sha256_32B";
  InitSodiumOrDie(kCase);
  const auto key = RandomArray<crypto_auth_hmacsha256_KEYBYTES>();
  const auto input = RandomArray<32>();
  std::array<uint8_t, crypto_auth_hmacsha256_BYTES> mac;
  for (auto _ : state) {
    crypto_auth_hmacsha256(mac.data(), input.data(), input.size(), key.data());
    benchmark::DoNotOptimize(mac.data());
    benchmark::ClobberMemory();
  }
  BenchCheck(crypto_auth_hmacsha256_verify(mac.data(), input.data(), input.size(), key.data()) == 0,
             kCase, "HMAC does not verify");
  state.SetItemsProcessed(state.iterations());
}

// RFC 5869 HKDF-SHA256 with a 56-byte output, written out on libsodium's HMAC so the floor does
// not depend on Alliance's own implementation.
void HkdfSha256_56(const uint8_t* salt, size_t salt_len, const uint8_t* ikm, size_t ikm_len,
                   const uint8_t* info, size_t info_len, uint8_t out[kHkdfOutputSize]) {
  std::array<uint8_t, crypto_auth_hmacsha256_BYTES> prk;
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, salt, salt_len);  // Extract.
  crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
  crypto_auth_hmacsha256_final(&st, prk.data());

  std::array<uint8_t, crypto_auth_hmacsha256_BYTES> t1;
  const uint8_t one = 1;
  crypto_auth_hmacsha256_init(&st, prk.data(), prk.size());  // T(1) = HMAC(PRK, info | 1).
  crypto_auth_hmacsha256_update(&st, info, info_len);
  crypto_auth_hmacsha256_update(&st, &one, 1);
  crypto_auth_hmacsha256_final(&st, t1.data());

  std::array<uint8_t, crypto_auth_hmacsha256_BYTES> t2;
  const uint8_t two = 2;
  crypto_auth_hmacsha256_init(&st, prk.data(), prk.size());  // T(2) = HMAC(PRK, T(1) | info | 2).
  crypto_auth_hmacsha256_update(&st, t1.data(), t1.size());
  crypto_auth_hmacsha256_update(&st, info, info_len);
  crypto_auth_hmacsha256_update(&st, &two, 1);
  crypto_auth_hmacsha256_final(&st, t2.data());

  std::memcpy(out, t1.data(), t1.size());
  std::memcpy(out + t1.size(), t2.data(), kHkdfOutputSize - t1.size());
  sodium_memzero(prk.data(), prk.size());
  sodium_memzero(t1.data(), t1.size());
  sodium_memzero(t2.data(), t2.size());
  sodium_memzero(&st, sizeof(st));
}

void BM_HkdfSha256(benchmark::State& state) {
  constexpr const char* kCase = "floor/hkdf_sha256_56B";
  InitSodiumOrDie(kCase);
  // RFC 5869 test case 1, truncated to 42 bytes of the 56 computed: checks the construction.
  const std::array<uint8_t, 22> ikm = {0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
                                       0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
                                       0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b};
  const std::array<uint8_t, 13> salt = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                                        0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
  const std::array<uint8_t, 10> info = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9};
  const std::array<uint8_t, 42> expected = {
      0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f, 0x64, 0xd0, 0x36,
      0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a, 0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56,
      0xec, 0xc4, 0xc5, 0xbf, 0x34, 0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65};
  std::array<uint8_t, kHkdfOutputSize> okm;
  HkdfSha256_56(salt.data(), salt.size(), ikm.data(), ikm.size(), info.data(), info.size(),
                okm.data());
  BenchCheck(std::memcmp(okm.data(), expected.data(), expected.size()) == 0, kCase,
             "HKDF does not match RFC 5869 test case 1");

  // The timed shape is the per-message one: 32-byte salt and input key, short info.
  const auto chain_salt = RandomArray<32>();
  const auto chain_ikm = RandomArray<32>();
  static constexpr char kInfo[] = "alliance floor message key";
  for (auto _ : state) {
    HkdfSha256_56(chain_salt.data(), chain_salt.size(), chain_ikm.data(), chain_ikm.size(),
                  reinterpret_cast<const uint8_t*>(kInfo), sizeof(kInfo) - 1, okm.data());
    benchmark::DoNotOptimize(okm.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_X25519Dh(benchmark::State& state) {
  constexpr const char* kCase = "floor/x25519_dh";
  InitSodiumOrDie(kCase);
  std::array<uint8_t, crypto_scalarmult_BYTES> our_public, their_public;
  std::array<uint8_t, crypto_scalarmult_SCALARBYTES> our_secret, their_secret;
  crypto_box_keypair(our_public.data(), our_secret.data());
  crypto_box_keypair(their_public.data(), their_secret.data());
  std::array<uint8_t, crypto_scalarmult_BYTES> shared, expected;
  BenchCheck(crypto_scalarmult(expected.data(), their_secret.data(), our_public.data()) == 0, kCase,
             "X25519 failed");
  for (auto _ : state) {
    const int rc = crypto_scalarmult(shared.data(), our_secret.data(), their_public.data());
    BenchCheck(rc == 0, kCase, "X25519 failed");
    benchmark::DoNotOptimize(shared.data());
    benchmark::ClobberMemory();
  }
  BenchCheck(shared == expected, kCase, "X25519 shared secrets differ");
  state.SetItemsProcessed(state.iterations());
}

void BM_X25519Keygen(benchmark::State& state) {
  constexpr const char* kCase = "floor/x25519_keygen";
  InitSodiumOrDie(kCase);
  std::array<uint8_t, crypto_scalarmult_SCALARBYTES> secret;
  std::array<uint8_t, crypto_scalarmult_BYTES> public_key;
  for (auto _ : state) {
    randombytes_buf(secret.data(), secret.size());
    const int rc = crypto_scalarmult_base(public_key.data(), secret.data());
    BenchCheck(rc == 0, kCase, "X25519 base-point multiply failed");
    benchmark::DoNotOptimize(public_key.data());
    benchmark::ClobberMemory();
  }
  sodium_memzero(secret.data(), secret.size());
  state.SetItemsProcessed(state.iterations());
}

void BM_Ed25519Verify(benchmark::State& state) {
  constexpr const char* kCase = "floor/ed25519_verify";
  InitSodiumOrDie(kCase);
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> public_key;
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secret_key;
  crypto_sign_keypair(public_key.data(), secret_key.data());
  // About what a signed pre-key covers: domain tag, 32-byte key, id and creation time.
  const auto message = RandomArray<96>();
  std::array<uint8_t, crypto_sign_BYTES> signature;
  crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(),
                       secret_key.data());
  sodium_memzero(secret_key.data(), secret_key.size());
  for (auto _ : state) {
    const int rc = crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                               public_key.data());
    BenchCheck(rc == 0, kCase, "valid signature rejected");
    benchmark::DoNotOptimize(rc);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_AeadSealOpen)
    ->Name("floor/aead_xchacha20poly1305_1KiB_seal_open")
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HmacSha256)->Name("floor/hmac_sha256_32B")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HkdfSha256)->Name("floor/hkdf_sha256_56B")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_X25519Dh)->Name("floor/x25519_dh")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_X25519Keygen)->Name("floor/x25519_keygen")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Ed25519Verify)->Name("floor/ed25519_verify")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace alliance::bench

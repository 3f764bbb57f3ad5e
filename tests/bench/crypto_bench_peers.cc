// crypto_bench, the established implementations: libolm and libsignal-protocol-c (with the
// OpenSSL provider in signal_openssl_provider.h), measured the same way as crypto_bench_alliance.cc
// so that `crypto_bench --benchmark_format=json | tests/bench/compare.py` compares like with like.
//
// Cases (one iteration each; time per iteration in µs, one "item" per iteration):
//
//   session_setup/<impl>     Inside timing: the responder generates one fresh one-time (pre)key
//                            and publishes it as a bundle; the initiator processes the bundle
//                            (signal: verifies the signed pre-key's XEdDSA signature; olm has no
//                            signed pre-key and so nothing to verify), does the key agreement and
//                            encrypts a 1 KiB first message; the responder does its side of the
//                            key agreement and decrypts it; the result is checked. Long-term
//                            identity keys (and signal's signed pre-key) are made once, outside
//                            timing. Also inside: forgetting both sessions at the end of the
//                            iteration (signal: erasing two map entries; olm: wiping the session
//                            memory), well under 1% of the iteration.
//   steady_1KiB/<impl>       Inside timing: one 1 KiB message encrypted by the initiator,
//                            transported as bytes (signal: serialized and parsed back; olm: its
//                            base64 wire form), decrypted by the responder and checked. Always the
//                            same direction, so the same sending chain. Outside timing, once: the
//                            session is set up and the responder has replied once, so both sides
//                            are past the pre-key stage.
//   alternating_1KiB/<impl>  As steady_1KiB, but each iteration reverses direction, so every
//                            message starts a new sending chain (one DH ratchet step).
//
// Neither peer persists anything beyond what its API forces: libsignal-protocol-c serializes the
// whole session record into the (in-memory) store after every message, which is part of its
// cost; olm sessions stay in memory unpickled. Randomness: olm takes it from the caller
// (libsodium's randombytes_buf here, inside timing); libsignal asks the provider (RAND_bytes).
#include <benchmark/benchmark.h>
#include <key_helper.h>
#include <olm/olm.h>
#include <protocol.h>
#include <session_builder.h>
#include <session_cipher.h>
#include <session_pre_key.h>
#include <signal_protocol.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/bench/bench_check.h"
#include "tests/bench/signal_memory_store.h"
#include "tests/bench/signal_openssl_provider.h"

namespace alliance::bench {
namespace {

using Bytes = std::span<const uint8_t>;

constexpr size_t kMessageSize = 1024;

// The 1 KiB plaintext every case sends (its content does not matter to any of the ciphers).
std::vector<uint8_t> MakeMessage() {
  std::vector<uint8_t> message(kMessageSize);
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<uint8_t>(i * 131 + 7);
  return message;
}

void CheckPlaintext(Bytes got, Bytes sent, const char* bench_case) {
  BenchCheck(got.size() == sent.size() && std::memcmp(got.data(), sent.data(), sent.size()) == 0,
             bench_case, "decrypted plaintext differs from the plaintext sent");
}

// ---------------------------------------------------------------------------------------------
// libolm

void InitSodiumOrDie(const char* bench_case) {
  BenchCheck(sodium_init() >= 0, bench_case, "sodium_init failed");
}

// Fresh random bytes for one olm call, on the stack, wiped afterwards.
class OlmRandom {
 public:
  OlmRandom(size_t size, const char* bench_case) : size_(size) {
    BenchCheck(size <= bytes_.size(), bench_case, "olm asks for more randomness than expected");
    randombytes_buf(bytes_.data(), size_);
  }
  OlmRandom(const OlmRandom&) = delete;
  OlmRandom& operator=(const OlmRandom&) = delete;
  ~OlmRandom() { sodium_memzero(bytes_.data(), size_); }

  uint8_t* data() { return bytes_.data(); }
  size_t size() const { return size_; }

 private:
  std::array<uint8_t, 128> bytes_;
  size_t size_;
};

void OlmAccountCheck(size_t result, OlmAccount* account, const char* bench_case,
                     const char* operation) {
  if (result != olm_error()) return;
  const std::string what = std::string(operation) + ": " + olm_account_last_error(account);
  BenchFail(bench_case, what.c_str());
}

void OlmSessionCheck(size_t result, OlmSession* session, const char* bench_case,
                     const char* operation) {
  if (result != olm_error()) return;
  const std::string what = std::string(operation) + ": " + olm_session_last_error(session);
  BenchFail(bench_case, what.c_str());
}

// Returns the JSON string value that starts right after the first `prefix` in `json` (olm's
// key listings are compact JSON with base64 values, which never contain a quote).
std::string JsonValueAfter(std::string_view json, std::string_view prefix,
                           const char* bench_case) {
  const size_t start = json.find(prefix);
  BenchCheck(start != std::string_view::npos, bench_case, "unexpected olm key JSON");
  const size_t end = json.find('"', start + prefix.size());
  BenchCheck(end != std::string_view::npos, bench_case, "unexpected olm key JSON");
  return std::string(json.substr(start + prefix.size(), end - start - prefix.size()));
}

// An olm account in memory this object owns; wiped on destruction.
class OlmAccountHandle {
 public:
  explicit OlmAccountHandle(const char* bench_case)
      : memory_(new uint8_t[olm_account_size()]), account_(olm_account(memory_.get())) {
    OlmRandom random(olm_create_account_random_length(account_), bench_case);
    OlmAccountCheck(olm_create_account(account_, random.data(), random.size()), account_,
                    bench_case, "olm_create_account");
  }
  OlmAccountHandle(const OlmAccountHandle&) = delete;
  OlmAccountHandle& operator=(const OlmAccountHandle&) = delete;
  ~OlmAccountHandle() { olm_clear_account(account_); }

  OlmAccount* get() const { return account_; }

  // The base64 Curve25519 identity key, as the other party would fetch it from a directory.
  std::string Curve25519IdentityKey(const char* bench_case) const {
    std::string json(olm_account_identity_keys_length(account_), '\0');
    OlmAccountCheck(olm_account_identity_keys(account_, json.data(), json.size()), account_,
                    bench_case, "olm_account_identity_keys");
    return JsonValueAfter(json, "\"curve25519\":\"", bench_case);
  }

 private:
  std::unique_ptr<uint8_t[]> memory_;
  OlmAccount* account_;
};

// An olm session in memory this object owns; wiped on destruction and by Reset().
class OlmSessionHandle {
 public:
  OlmSessionHandle()
      : memory_(new uint8_t[olm_session_size()]), session_(olm_session(memory_.get())) {}
  OlmSessionHandle(const OlmSessionHandle&) = delete;
  OlmSessionHandle& operator=(const OlmSessionHandle&) = delete;
  ~OlmSessionHandle() { olm_clear_session(session_); }

  OlmSession* get() const { return session_; }

  // Wipes the session and makes the memory ready for a new one.
  void Reset() {
    olm_clear_session(session_);
    session_ = olm_session(memory_.get());
  }

 private:
  std::unique_ptr<uint8_t[]> memory_;
  OlmSession* session_;
};

// One olm message on the wire plus reusable scratch space for receiving it.
struct OlmWire {
  size_t type = 0;
  std::string body;       // base64, as olm_encrypt writes it.
  std::string body_copy;  // olm's inbound-session and decrypt calls destroy their input.
  std::vector<uint8_t> plaintext;
};

// The responder generates one one-time key and publishes it; returns its base64 form.
std::string OlmPublishOneTimeKey(OlmAccount* account, const char* bench_case) {
  OlmRandom random(olm_account_generate_one_time_keys_random_length(account, 1), bench_case);
  OlmAccountCheck(olm_account_generate_one_time_keys(account, 1, random.data(), random.size()),
                  account, bench_case, "olm_account_generate_one_time_keys");
  std::string json(olm_account_one_time_keys_length(account), '\0');
  OlmAccountCheck(olm_account_one_time_keys(account, json.data(), json.size()), account,
                  bench_case, "olm_account_one_time_keys");
  olm_account_mark_keys_as_published(account);
  const size_t listing = json.find("\"curve25519\":{");
  BenchCheck(listing != std::string::npos, bench_case, "unexpected olm one-time key JSON");
  return JsonValueAfter(std::string_view(json).substr(listing), "\":\"", bench_case);
}

void OlmEncrypt(OlmSession* session, Bytes plaintext, OlmWire& wire, const char* bench_case) {
  wire.type = olm_encrypt_message_type(session);
  OlmRandom random(olm_encrypt_random_length(session), bench_case);
  wire.body.resize(olm_encrypt_message_length(session, plaintext.size()));
  const size_t written = olm_encrypt(session, plaintext.data(), plaintext.size(), random.data(),
                                     random.size(), wire.body.data(), wire.body.size());
  OlmSessionCheck(written, session, bench_case, "olm_encrypt");
  wire.body.resize(written);
}

// Decrypts wire.body (consuming it) and checks the result equals `sent`. Returns its length.
size_t OlmDecryptAndCheck(OlmSession* session, OlmWire& wire, Bytes sent,
                          const char* bench_case) {
  // The plaintext is never longer than the base64 ciphertext, so no size query is needed.
  wire.plaintext.resize(wire.body.size());
  const size_t got = olm_decrypt(session, wire.type, wire.body.data(), wire.body.size(),
                                 wire.plaintext.data(), wire.plaintext.size());
  OlmSessionCheck(got, session, bench_case, "olm_decrypt");
  CheckPlaintext(Bytes(wire.plaintext.data(), got), sent, bench_case);
  return got;
}

// The whole setup: Bob publishes a one-time key; Alice opens an outbound session to Bob's
// identity key and that one-time key and encrypts `message`; Bob opens the inbound session from
// the pre-key message, retires the one-time key and decrypts. Returns the decrypted length.
size_t OlmEstablish(OlmAccount* alice, OlmAccount* bob, const std::string& bob_identity_key,
                    OlmSession* alice_session, OlmSession* bob_session, Bytes message,
                    OlmWire& wire, const char* bench_case) {
  const std::string one_time_key = OlmPublishOneTimeKey(bob, bench_case);
  OlmRandom random(olm_create_outbound_session_random_length(alice_session), bench_case);
  OlmSessionCheck(olm_create_outbound_session(alice_session, alice, bob_identity_key.data(),
                                              bob_identity_key.size(), one_time_key.data(),
                                              one_time_key.size(), random.data(), random.size()),
                  alice_session, bench_case, "olm_create_outbound_session");
  OlmEncrypt(alice_session, message, wire, bench_case);
  BenchCheck(wire.type == OLM_MESSAGE_TYPE_PRE_KEY, bench_case, "first message is not pre-key");
  wire.body_copy = wire.body;
  OlmSessionCheck(olm_create_inbound_session(bob_session, bob, wire.body_copy.data(),
                                             wire.body_copy.size()),
                  bob_session, bench_case, "olm_create_inbound_session");
  OlmAccountCheck(olm_remove_one_time_keys(bob, bob_session), bob, bench_case,
                  "olm_remove_one_time_keys");
  return OlmDecryptAndCheck(bob_session, wire, message, bench_case);
}

size_t OlmSend(OlmSession* from, OlmSession* to, Bytes message, OlmWire& wire,
               const char* bench_case) {
  OlmEncrypt(from, message, wire, bench_case);
  BenchCheck(wire.type == OLM_MESSAGE_TYPE_MESSAGE, bench_case, "session still in pre-key stage");
  return OlmDecryptAndCheck(to, wire, message, bench_case);
}

// Two parties with a session past the pre-key stage: Alice sent first, Bob replied.
struct OlmPair {
  // REQUIRES: InitSodiumOrDie has been called.
  explicit OlmPair(const char* bench_case) : alice(bench_case), bob(bench_case) {
    const std::vector<uint8_t> message = MakeMessage();
    OlmEstablish(alice.get(), bob.get(), bob.Curve25519IdentityKey(bench_case),
                 alice_session.get(), bob_session.get(), message, wire, bench_case);
    OlmEncrypt(bob_session.get(), message, wire, bench_case);
    OlmDecryptAndCheck(alice_session.get(), wire, message, bench_case);
  }

  OlmAccountHandle alice;
  OlmAccountHandle bob;
  OlmSessionHandle alice_session;
  OlmSessionHandle bob_session;
  OlmWire wire;
};

void BM_OlmSessionSetup(benchmark::State& state) {
  constexpr const char* kCase = "session_setup/olm";
  InitSodiumOrDie(kCase);
  OlmAccountHandle alice(kCase);
  OlmAccountHandle bob(kCase);
  const std::string bob_identity_key = bob.Curve25519IdentityKey(kCase);
  const std::vector<uint8_t> message = MakeMessage();
  OlmSessionHandle alice_session;
  OlmSessionHandle bob_session;
  OlmWire wire;
  for (auto _ : state) {
    benchmark::DoNotOptimize(OlmEstablish(alice.get(), bob.get(), bob_identity_key,
                                          alice_session.get(), bob_session.get(), message, wire,
                                          kCase));
    alice_session.Reset();
    bob_session.Reset();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_OlmSteady(benchmark::State& state) {
  constexpr const char* kCase = "steady_1KiB/olm";
  InitSodiumOrDie(kCase);
  OlmPair pair(kCase);
  const std::vector<uint8_t> message = MakeMessage();
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        OlmSend(pair.alice_session.get(), pair.bob_session.get(), message, pair.wire, kCase));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_OlmAlternating(benchmark::State& state) {
  constexpr const char* kCase = "alternating_1KiB/olm";
  InitSodiumOrDie(kCase);
  OlmPair pair(kCase);
  const std::vector<uint8_t> message = MakeMessage();
  bool alice_sends = true;  // Bob sent last during warm-up.
  for (auto _ : state) {
    OlmSession* from = alice_sends ? pair.alice_session.get() : pair.bob_session.get();
    OlmSession* to = alice_sends ? pair.bob_session.get() : pair.alice_session.get();
    benchmark::DoNotOptimize(OlmSend(from, to, message, pair.wire, kCase));
    alice_sends = !alice_sends;
  }
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------------------------------------
// libsignal-protocol-c

constexpr signal_protocol_address kAliceAddress = {"alice", 5, 1};
constexpr signal_protocol_address kBobAddress = {"bob", 3, 1};
constexpr uint32_t kAliceRegistrationId = 1111;
constexpr uint32_t kBobRegistrationId = 2222;
constexpr uint32_t kBobSignedPreKeyId = 1;
constexpr int kBobDeviceId = 1;

struct SignalUnref {
  void operator()(void* object) const { signal_type_unref(static_cast<signal_type_base*>(object)); }
};
template <typename T>
using SignalPtr = std::unique_ptr<T, SignalUnref>;

struct SignalContextFree {
  void operator()(signal_context* context) const { signal_context_destroy(context); }
};
struct SessionBuilderFree {
  void operator()(session_builder* builder) const { session_builder_free(builder); }
};
struct SessionCipherFree {
  void operator()(session_cipher* cipher) const { session_cipher_free(cipher); }
};
using SessionCipherPtr = std::unique_ptr<session_cipher, SessionCipherFree>;
struct PlaintextFree {
  void operator()(signal_buffer* buffer) const { signal_buffer_bzero_free(buffer); }
};

void SignalCheck(int result, const char* bench_case, const char* operation) {
  if (result >= 0) return;
  const std::string what = std::string(operation) + " failed with " + std::to_string(result);
  BenchFail(bench_case, what.c_str());
}

// Everything long-term: the provider, the library context, both identities, Bob's signed
// pre-key and both parties' stores. Construction dies on any failure.
class SignalWorld {
 public:
  explicit SignalWorld(const char* bench_case) : bench_case_(bench_case) {
    auto provider = SignalOpensslProvider::Create();
    BenchCheck(provider.ok(), bench_case, "cannot set up the OpenSSL provider");
    provider_ = *std::move(provider);
    signal_context* global = nullptr;
    SignalCheck(signal_context_create(&global, nullptr), bench_case, "signal_context_create");
    global_.reset(global);
    const signal_crypto_provider callbacks = provider_->Callbacks();
    SignalCheck(signal_context_set_crypto_provider(global, &callbacks), bench_case,
                "signal_context_set_crypto_provider");

    alice_identity_ = NewIdentity();
    bob_identity_ = NewIdentity();
    alice_ = NewStore(alice_identity_.get(), kAliceRegistrationId);
    bob_ = NewStore(bob_identity_.get(), kBobRegistrationId);
    session_signed_pre_key* signed_pre_key = nullptr;
    SignalCheck(signal_protocol_key_helper_generate_signed_pre_key(
                    &signed_pre_key, bob_identity_.get(), kBobSignedPreKeyId, 0, global),
                bench_case, "generate signed pre-key");
    bob_signed_pre_key_.reset(signed_pre_key);
    SignalCheck(signal_protocol_signed_pre_key_store_key(bob_->context(), signed_pre_key),
                bench_case, "store signed pre-key");
  }

  signal_context* global() const { return global_.get(); }
  SignalMemoryStore& alice() const { return *alice_; }
  SignalMemoryStore& bob() const { return *bob_; }

  // Bob generates one-time pre-key `pre_key_id`, keeps its private half in his store and
  // publishes the bundle: identity key, signed pre-key with signature, one-time pre-key.
  SignalPtr<session_pre_key_bundle> PublishBobBundle(uint32_t pre_key_id) const {
    ec_key_pair* key_pair = nullptr;
    SignalCheck(curve_generate_key_pair(global(), &key_pair), bench_case_, "generate pre-key");
    SignalPtr<ec_key_pair> key_pair_owner(key_pair);
    session_pre_key* pre_key = nullptr;
    SignalCheck(session_pre_key_create(&pre_key, pre_key_id, key_pair), bench_case_,
                "session_pre_key_create");
    SignalPtr<session_pre_key> pre_key_owner(pre_key);
    SignalCheck(signal_protocol_pre_key_store_key(bob_->context(), pre_key), bench_case_,
                "store pre-key");
    const session_signed_pre_key* spk = bob_signed_pre_key_.get();
    session_pre_key_bundle* bundle = nullptr;
    SignalCheck(session_pre_key_bundle_create(
                    &bundle, kBobRegistrationId, kBobDeviceId, pre_key_id,
                    ec_key_pair_get_public(key_pair), kBobSignedPreKeyId,
                    ec_key_pair_get_public(session_signed_pre_key_get_key_pair(spk)),
                    session_signed_pre_key_get_signature(spk),
                    session_signed_pre_key_get_signature_len(spk),
                    ratchet_identity_key_pair_get_public(bob_identity_.get())),
                bench_case_, "session_pre_key_bundle_create");
    return SignalPtr<session_pre_key_bundle>(bundle);
  }

 private:
  SignalPtr<ratchet_identity_key_pair> NewIdentity() {
    ratchet_identity_key_pair* identity = nullptr;
    SignalCheck(signal_protocol_key_helper_generate_identity_key_pair(&identity, global()),
                bench_case_, "generate identity key pair");
    return SignalPtr<ratchet_identity_key_pair>(identity);
  }

  std::unique_ptr<SignalMemoryStore> NewStore(ratchet_identity_key_pair* identity,
                                              uint32_t registration_id) {
    auto store = SignalMemoryStore::Create(global(), identity, registration_id);
    BenchCheck(store.ok(), bench_case_, "cannot create the in-memory stores");
    return *std::move(store);
  }

  const char* bench_case_;
  // Declaration order is destruction order reversed: the stores go before the context, the
  // context before the provider it calls.
  std::unique_ptr<SignalOpensslProvider> provider_;
  std::unique_ptr<signal_context, SignalContextFree> global_;
  SignalPtr<ratchet_identity_key_pair> alice_identity_;
  SignalPtr<ratchet_identity_key_pair> bob_identity_;
  std::unique_ptr<SignalMemoryStore> alice_;
  std::unique_ptr<SignalMemoryStore> bob_;
  SignalPtr<session_signed_pre_key> bob_signed_pre_key_;
};

SessionCipherPtr NewCipher(const SignalWorld& world, SignalMemoryStore& store,
                           const signal_protocol_address& remote, const char* bench_case) {
  session_cipher* cipher = nullptr;
  SignalCheck(session_cipher_create(&cipher, store.context(), &remote, world.global()),
              bench_case, "session_cipher_create");
  return SessionCipherPtr(cipher);
}

// Encrypts `message` with `cipher`; checks the message type; returns the ciphertext object
// (its serialized form is what travels).
SignalPtr<ciphertext_message> SignalEncrypt(session_cipher* cipher, Bytes message,
                                            int expected_type, const char* bench_case) {
  ciphertext_message* encrypted = nullptr;
  SignalCheck(session_cipher_encrypt(cipher, message.data(), message.size(), &encrypted),
              bench_case, "session_cipher_encrypt");
  SignalPtr<ciphertext_message> owner(encrypted);
  BenchCheck(ciphertext_message_get_type(encrypted) == expected_type, bench_case,
             "unexpected signal message type");
  return owner;
}

size_t CheckSignalPlaintext(signal_buffer* plaintext, Bytes sent, const char* bench_case) {
  std::unique_ptr<signal_buffer, PlaintextFree> owner(plaintext);
  CheckPlaintext(Bytes(signal_buffer_data(plaintext), signal_buffer_len(plaintext)), sent,
                 bench_case);
  return signal_buffer_len(plaintext);
}

// Ciphers for both directions of one established session.
struct SignalSession {
  SessionCipherPtr alice;  // Alice's cipher, talking to Bob.
  SessionCipherPtr bob;    // Bob's cipher, talking to Alice.
};

// The whole setup: Bob publishes a bundle with one-time pre-key `pre_key_id`; Alice verifies and
// processes it (X3DH) and encrypts `message`; Bob parses the pre-key message, does his side of
// X3DH, consumes the one-time pre-key and decrypts.
SignalSession SignalEstablish(const SignalWorld& world, uint32_t pre_key_id, Bytes message,
                              const char* bench_case) {
  SignalPtr<session_pre_key_bundle> bundle = world.PublishBobBundle(pre_key_id);
  session_builder* builder = nullptr;
  SignalCheck(session_builder_create(&builder, world.alice().context(), &kBobAddress,
                                     world.global()),
              bench_case, "session_builder_create");
  std::unique_ptr<session_builder, SessionBuilderFree> builder_owner(builder);
  SignalCheck(session_builder_process_pre_key_bundle(builder, bundle.get()), bench_case,
              "session_builder_process_pre_key_bundle");

  SignalSession session;
  session.alice = NewCipher(world, world.alice(), kBobAddress, bench_case);
  SignalPtr<ciphertext_message> encrypted =
      SignalEncrypt(session.alice.get(), message, CIPHERTEXT_PREKEY_TYPE, bench_case);
  signal_buffer* wire = ciphertext_message_get_serialized(encrypted.get());

  pre_key_signal_message* received = nullptr;
  SignalCheck(pre_key_signal_message_deserialize(&received, signal_buffer_data(wire),
                                                 signal_buffer_len(wire), world.global()),
              bench_case, "pre_key_signal_message_deserialize");
  SignalPtr<pre_key_signal_message> received_owner(received);
  session.bob = NewCipher(world, world.bob(), kAliceAddress, bench_case);
  signal_buffer* plaintext = nullptr;
  SignalCheck(session_cipher_decrypt_pre_key_signal_message(session.bob.get(), received, nullptr,
                                                            &plaintext),
              bench_case, "session_cipher_decrypt_pre_key_signal_message");
  CheckSignalPlaintext(plaintext, message, bench_case);
  return session;
}

// One message past the pre-key stage: encrypt, serialize, parse, decrypt, check. Returns the
// decrypted length.
size_t SignalSend(const SignalWorld& world, session_cipher* from, session_cipher* to,
                  Bytes message, const char* bench_case) {
  SignalPtr<ciphertext_message> encrypted =
      SignalEncrypt(from, message, CIPHERTEXT_SIGNAL_TYPE, bench_case);
  signal_buffer* wire = ciphertext_message_get_serialized(encrypted.get());
  signal_message* received = nullptr;
  SignalCheck(signal_message_deserialize(&received, signal_buffer_data(wire),
                                         signal_buffer_len(wire), world.global()),
              bench_case, "signal_message_deserialize");
  SignalPtr<signal_message> received_owner(received);
  signal_buffer* plaintext = nullptr;
  SignalCheck(session_cipher_decrypt_signal_message(to, received, nullptr, &plaintext),
              bench_case, "session_cipher_decrypt_signal_message");
  return CheckSignalPlaintext(plaintext, message, bench_case);
}

void BM_SignalSessionSetup(benchmark::State& state) {
  constexpr const char* kCase = "session_setup/signal";
  SignalWorld world(kCase);
  const std::vector<uint8_t> message = MakeMessage();
  uint32_t pre_key_id = 1;
  for (auto _ : state) {
    SignalSession session = SignalEstablish(world, pre_key_id++, message, kCase);
    benchmark::DoNotOptimize(session.bob.get());
    // Start the next iteration from nothing; otherwise libsignal would archive each old
    // session inside the record and every later iteration would serialize more.
    world.alice().ClearSessions();
    world.bob().ClearSessions();
  }
  state.SetItemsProcessed(state.iterations());
}

// Bob replies once so that both sides are past the pre-key stage.
SignalSession SignalWarmSession(const SignalWorld& world, Bytes message, const char* bench_case) {
  SignalSession session = SignalEstablish(world, 1, message, bench_case);
  SignalSend(world, session.bob.get(), session.alice.get(), message, bench_case);
  return session;
}

void BM_SignalSteady(benchmark::State& state) {
  constexpr const char* kCase = "steady_1KiB/signal";
  SignalWorld world(kCase);
  const std::vector<uint8_t> message = MakeMessage();
  SignalSession session = SignalWarmSession(world, message, kCase);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        SignalSend(world, session.alice.get(), session.bob.get(), message, kCase));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SignalAlternating(benchmark::State& state) {
  constexpr const char* kCase = "alternating_1KiB/signal";
  SignalWorld world(kCase);
  const std::vector<uint8_t> message = MakeMessage();
  SignalSession session = SignalWarmSession(world, message, kCase);
  bool alice_sends = true;  // Bob sent last during warm-up.
  for (auto _ : state) {
    session_cipher* from = alice_sends ? session.alice.get() : session.bob.get();
    session_cipher* to = alice_sends ? session.bob.get() : session.alice.get();
    benchmark::DoNotOptimize(SignalSend(world, from, to, message, kCase));
    alice_sends = !alice_sends;
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_OlmSessionSetup)->Name("session_setup/olm")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OlmSteady)->Name("steady_1KiB/olm")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OlmAlternating)->Name("alternating_1KiB/olm")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SignalSessionSetup)->Name("session_setup/signal")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SignalSteady)->Name("steady_1KiB/signal")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SignalAlternating)->Name("alternating_1KiB/signal")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace alliance::bench

#include "tests/bench/signal_peer.h"

#include <key_helper.h>
#include <protocol.h>
#include <session_builder.h>
#include <session_cipher.h>
#include <session_pre_key.h>
#include <signal_protocol.h>

#include <cstdint>
#include <string>
#include <utility>

#include "tests/bench/signal_memory_store.h"
#include "tests/bench/signal_openssl_provider.h"

namespace alliance::bench {
namespace {

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

}  // namespace

struct SignalPeer::State {
  explicit State(const char* bench_case);

  signal_context* global() const { return global_context.get(); }
  SignalPtr<ratchet_identity_key_pair> NewIdentity();
  std::unique_ptr<SignalMemoryStore> NewStore(ratchet_identity_key_pair* identity,
                                              uint32_t registration_id);
  SignalPtr<session_pre_key_bundle> PublishBobBundle(uint32_t pre_key_id);
  SessionCipherPtr NewCipher(SignalMemoryStore& store, const signal_protocol_address& remote);
  SignalPtr<ciphertext_message> Encrypt(session_cipher* cipher, Bytes message, int expected_type);
  size_t CheckDecrypted(signal_buffer* plaintext, Bytes sent);

  const char* bench_case;
  // Declaration order is destruction order reversed: stores before the context, the context
  // before the provider it calls.
  std::unique_ptr<SignalOpensslProvider> provider;
  std::unique_ptr<signal_context, SignalContextFree> global_context;
  SignalPtr<ratchet_identity_key_pair> alice_identity;
  SignalPtr<ratchet_identity_key_pair> bob_identity;
  std::unique_ptr<SignalMemoryStore> alice;
  std::unique_ptr<SignalMemoryStore> bob;
  SignalPtr<session_signed_pre_key> bob_signed_pre_key;
  uint32_t next_pre_key_id = 1;
  SessionCipherPtr alice_cipher;  // Alice's side, talking to Bob.
  SessionCipherPtr bob_cipher;    // Bob's side, talking to Alice.
};

SignalPeer::State::State(const char* bench_case) : bench_case(bench_case) {
  auto created = SignalOpensslProvider::Create();
  BenchCheck(created.ok(), bench_case, "cannot set up the OpenSSL provider");
  provider = *std::move(created);
  signal_context* context = nullptr;
  SignalCheck(signal_context_create(&context, nullptr), bench_case, "signal_context_create");
  global_context.reset(context);
  const signal_crypto_provider callbacks = provider->Callbacks();
  SignalCheck(signal_context_set_crypto_provider(context, &callbacks), bench_case,
              "signal_context_set_crypto_provider");

  alice_identity = NewIdentity();
  bob_identity = NewIdentity();
  alice = NewStore(alice_identity.get(), kAliceRegistrationId);
  bob = NewStore(bob_identity.get(), kBobRegistrationId);
  session_signed_pre_key* signed_pre_key = nullptr;
  SignalCheck(signal_protocol_key_helper_generate_signed_pre_key(
                  &signed_pre_key, bob_identity.get(), kBobSignedPreKeyId, 0, context),
              bench_case, "generate signed pre-key");
  bob_signed_pre_key.reset(signed_pre_key);
  SignalCheck(signal_protocol_signed_pre_key_store_key(bob->context(), signed_pre_key), bench_case,
              "store signed pre-key");
}

SignalPtr<ratchet_identity_key_pair> SignalPeer::State::NewIdentity() {
  ratchet_identity_key_pair* identity = nullptr;
  SignalCheck(signal_protocol_key_helper_generate_identity_key_pair(&identity, global()),
              bench_case, "generate identity key pair");
  return SignalPtr<ratchet_identity_key_pair>(identity);
}

std::unique_ptr<SignalMemoryStore> SignalPeer::State::NewStore(ratchet_identity_key_pair* identity,
                                                               uint32_t registration_id) {
  auto store = SignalMemoryStore::Create(global(), identity, registration_id);
  BenchCheck(store.ok(), bench_case, "cannot create the in-memory stores");
  return *std::move(store);
}

SignalPtr<session_pre_key_bundle> SignalPeer::State::PublishBobBundle(uint32_t pre_key_id) {
  ec_key_pair* key_pair = nullptr;
  SignalCheck(curve_generate_key_pair(global(), &key_pair), bench_case, "generate pre-key");
  SignalPtr<ec_key_pair> key_pair_owner(key_pair);
  session_pre_key* pre_key = nullptr;
  SignalCheck(session_pre_key_create(&pre_key, pre_key_id, key_pair), bench_case,
              "session_pre_key_create");
  SignalPtr<session_pre_key> pre_key_owner(pre_key);
  SignalCheck(signal_protocol_pre_key_store_key(bob->context(), pre_key), bench_case,
              "store pre-key");
  const session_signed_pre_key* spk = bob_signed_pre_key.get();
  session_pre_key_bundle* bundle = nullptr;
  SignalCheck(
      session_pre_key_bundle_create(
          &bundle, kBobRegistrationId, kBobDeviceId, pre_key_id, ec_key_pair_get_public(key_pair),
          kBobSignedPreKeyId, ec_key_pair_get_public(session_signed_pre_key_get_key_pair(spk)),
          session_signed_pre_key_get_signature(spk), session_signed_pre_key_get_signature_len(spk),
          ratchet_identity_key_pair_get_public(bob_identity.get())),
      bench_case, "session_pre_key_bundle_create");
  return SignalPtr<session_pre_key_bundle>(bundle);
}

SessionCipherPtr SignalPeer::State::NewCipher(SignalMemoryStore& store,
                                              const signal_protocol_address& remote) {
  session_cipher* cipher = nullptr;
  SignalCheck(session_cipher_create(&cipher, store.context(), &remote, global()), bench_case,
              "session_cipher_create");
  return SessionCipherPtr(cipher);
}

SignalPtr<ciphertext_message> SignalPeer::State::Encrypt(session_cipher* cipher, Bytes message,
                                                         int expected_type) {
  ciphertext_message* encrypted = nullptr;
  SignalCheck(session_cipher_encrypt(cipher, message.data(), message.size(), &encrypted),
              bench_case, "session_cipher_encrypt");
  SignalPtr<ciphertext_message> owner(encrypted);
  BenchCheck(ciphertext_message_get_type(encrypted) == expected_type, bench_case,
             "unexpected signal message type");
  return owner;
}

size_t SignalPeer::State::CheckDecrypted(signal_buffer* plaintext, Bytes sent) {
  std::unique_ptr<signal_buffer, PlaintextFree> owner(plaintext);
  CheckPlaintext(Bytes(signal_buffer_data(plaintext), signal_buffer_len(plaintext)), sent,
                 bench_case);
  return signal_buffer_len(plaintext);
}

SignalPeer::SignalPeer(const char* bench_case) : state_(std::make_unique<State>(bench_case)) {}

SignalPeer::~SignalPeer() = default;

size_t SignalPeer::Establish(Bytes message) {
  State& s = *state_;
  // Start from nothing: otherwise libsignal would archive the old session inside the record and
  // every later setup would serialize more.
  s.alice_cipher.reset();
  s.bob_cipher.reset();
  s.alice->ClearSessions();
  s.bob->ClearSessions();

  SignalPtr<session_pre_key_bundle> bundle = s.PublishBobBundle(s.next_pre_key_id++);
  session_builder* builder = nullptr;
  SignalCheck(session_builder_create(&builder, s.alice->context(), &kBobAddress, s.global()),
              s.bench_case, "session_builder_create");
  std::unique_ptr<session_builder, SessionBuilderFree> builder_owner(builder);
  SignalCheck(session_builder_process_pre_key_bundle(builder, bundle.get()), s.bench_case,
              "session_builder_process_pre_key_bundle");
  s.alice_cipher = s.NewCipher(*s.alice, kBobAddress);
  SignalPtr<ciphertext_message> encrypted =
      s.Encrypt(s.alice_cipher.get(), message, CIPHERTEXT_PREKEY_TYPE);
  signal_buffer* wire = ciphertext_message_get_serialized(encrypted.get());

  pre_key_signal_message* received = nullptr;
  SignalCheck(pre_key_signal_message_deserialize(&received, signal_buffer_data(wire),
                                                 signal_buffer_len(wire), s.global()),
              s.bench_case, "pre_key_signal_message_deserialize");
  SignalPtr<pre_key_signal_message> received_owner(received);
  s.bob_cipher = s.NewCipher(*s.bob, kAliceAddress);
  signal_buffer* plaintext = nullptr;
  SignalCheck(session_cipher_decrypt_pre_key_signal_message(s.bob_cipher.get(), received, nullptr,
                                                            &plaintext),
              s.bench_case, "session_cipher_decrypt_pre_key_signal_message");
  return s.CheckDecrypted(plaintext, message);
}

size_t SignalPeer::Send(Party from, Bytes message) {
  State& s = *state_;
  const bool alice_sends = from == Party::kAlice;
  SignalPtr<ciphertext_message> encrypted = s.Encrypt(
      alice_sends ? s.alice_cipher.get() : s.bob_cipher.get(), message, CIPHERTEXT_SIGNAL_TYPE);
  signal_buffer* wire = ciphertext_message_get_serialized(encrypted.get());
  signal_message* received = nullptr;
  SignalCheck(signal_message_deserialize(&received, signal_buffer_data(wire),
                                         signal_buffer_len(wire), s.global()),
              s.bench_case, "signal_message_deserialize");
  SignalPtr<signal_message> received_owner(received);
  signal_buffer* plaintext = nullptr;
  SignalCheck(
      session_cipher_decrypt_signal_message(alice_sends ? s.bob_cipher.get() : s.alice_cipher.get(),
                                            received, nullptr, &plaintext),
      s.bench_case, "session_cipher_decrypt_signal_message");
  return s.CheckDecrypted(plaintext, message);
}

}  // namespace alliance::bench

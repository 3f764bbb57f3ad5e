#include "tests/bench/olm_peer.h"

#include <olm/olm.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace alliance::bench {
namespace {

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

void AccountCheck(size_t result, OlmAccount* account, const char* bench_case,
                  const char* operation) {
  if (result != olm_error()) return;
  const std::string what = std::string(operation) + ": " + olm_account_last_error(account);
  BenchFail(bench_case, what.c_str());
}

void SessionCheck(size_t result, OlmSession* session, const char* bench_case,
                  const char* operation) {
  if (result != olm_error()) return;
  const std::string what = std::string(operation) + ": " + olm_session_last_error(session);
  BenchFail(bench_case, what.c_str());
}

// Returns the JSON string value that starts right after the first `prefix` in `json` (olm's
// key listings are compact JSON with base64 values, which never contain a quote).
std::string JsonValueAfter(std::string_view json, std::string_view prefix, const char* bench_case) {
  const size_t start = json.find(prefix);
  BenchCheck(start != std::string_view::npos, bench_case, "unexpected olm key JSON");
  const size_t end = json.find('"', start + prefix.size());
  BenchCheck(end != std::string_view::npos, bench_case, "unexpected olm key JSON");
  return std::string(json.substr(start + prefix.size(), end - start - prefix.size()));
}

// An olm account in memory this object owns; wiped on destruction.
class Account {
 public:
  explicit Account(const char* bench_case)
      : memory_(new uint8_t[olm_account_size()]), account_(olm_account(memory_.get())) {
    OlmRandom random(olm_create_account_random_length(account_), bench_case);
    AccountCheck(olm_create_account(account_, random.data(), random.size()), account_, bench_case,
                 "olm_create_account");
  }
  Account(const Account&) = delete;
  Account& operator=(const Account&) = delete;
  ~Account() { olm_clear_account(account_); }

  OlmAccount* get() const { return account_; }

  // The base64 Curve25519 identity key, as the other party would fetch it from a directory.
  std::string Curve25519IdentityKey(const char* bench_case) const {
    std::string json(olm_account_identity_keys_length(account_), '\0');
    AccountCheck(olm_account_identity_keys(account_, json.data(), json.size()), account_,
                 bench_case, "olm_account_identity_keys");
    return JsonValueAfter(json, "\"curve25519\":\"", bench_case);
  }

  // Generates one one-time key, publishes it and returns its base64 form.
  std::string PublishOneTimeKey(const char* bench_case) {
    OlmRandom random(olm_account_generate_one_time_keys_random_length(account_, 1), bench_case);
    AccountCheck(olm_account_generate_one_time_keys(account_, 1, random.data(), random.size()),
                 account_, bench_case, "olm_account_generate_one_time_keys");
    std::string json(olm_account_one_time_keys_length(account_), '\0');
    AccountCheck(olm_account_one_time_keys(account_, json.data(), json.size()), account_,
                 bench_case, "olm_account_one_time_keys");
    olm_account_mark_keys_as_published(account_);
    // {"curve25519":{"<key id>":"<key>"}}
    const size_t listing = json.find("\"curve25519\":{");
    BenchCheck(listing != std::string::npos, bench_case, "unexpected olm one-time key JSON");
    return JsonValueAfter(std::string_view(json).substr(listing), "\":\"", bench_case);
  }

 private:
  std::unique_ptr<uint8_t[]> memory_;
  OlmAccount* account_;
};

// An olm session in memory this object owns; wiped on destruction and by Reset().
class Session {
 public:
  Session() : memory_(new uint8_t[olm_session_size()]), session_(olm_session(memory_.get())) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() { olm_clear_session(session_); }

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

}  // namespace

struct OlmPeer::State {
  explicit State(const char* bench_case)
      : bench_case(bench_case), alice(bench_case), bob(bench_case) {}

  void Encrypt(OlmSession* session, Bytes plaintext) {
    wire_type = olm_encrypt_message_type(session);
    OlmRandom random(olm_encrypt_random_length(session), bench_case);
    wire.resize(olm_encrypt_message_length(session, plaintext.size()));
    const size_t written = olm_encrypt(session, plaintext.data(), plaintext.size(), random.data(),
                                       random.size(), wire.data(), wire.size());
    SessionCheck(written, session, bench_case, "olm_encrypt");
    wire.resize(written);
  }

  // Decrypts `wire` (consuming it) and checks the result equals `sent`.
  size_t DecryptAndCheck(OlmSession* session, Bytes sent) {
    // The plaintext is never longer than the base64 ciphertext, so no size query is needed.
    plaintext.resize(wire.size());
    const size_t got = olm_decrypt(session, wire_type, wire.data(), wire.size(), plaintext.data(),
                                   plaintext.size());
    SessionCheck(got, session, bench_case, "olm_decrypt");
    CheckPlaintext(Bytes(plaintext.data(), got), sent, bench_case);
    return got;
  }

  const char* bench_case;
  Account alice;
  Account bob;
  std::string bob_identity_key;  // Fetched once, as from a directory.
  Session alice_session;
  Session bob_session;
  bool established = false;
  // The message in flight and reusable scratch space for receiving it.
  size_t wire_type = 0;
  std::string wire;       // base64, as olm_encrypt writes it.
  std::string wire_copy;  // olm_create_inbound_session destroys its input.
  std::vector<uint8_t> plaintext;
};

OlmPeer::OlmPeer(const char* bench_case) {
  BenchCheck(sodium_init() >= 0, bench_case, "sodium_init failed");
  state_ = std::make_unique<State>(bench_case);
  state_->bob_identity_key = state_->bob.Curve25519IdentityKey(bench_case);
}

OlmPeer::~OlmPeer() = default;

size_t OlmPeer::Establish(Bytes message) {
  State& s = *state_;
  if (s.established) {
    s.alice_session.Reset();
    s.bob_session.Reset();
  }
  s.established = true;
  const std::string one_time_key = s.bob.PublishOneTimeKey(s.bench_case);

  OlmSession* alice = s.alice_session.get();
  OlmRandom random(olm_create_outbound_session_random_length(alice), s.bench_case);
  SessionCheck(olm_create_outbound_session(alice, s.alice.get(), s.bob_identity_key.data(),
                                           s.bob_identity_key.size(), one_time_key.data(),
                                           one_time_key.size(), random.data(), random.size()),
               alice, s.bench_case, "olm_create_outbound_session");
  s.Encrypt(alice, message);
  BenchCheck(s.wire_type == OLM_MESSAGE_TYPE_PRE_KEY, s.bench_case, "first message not pre-key");

  OlmSession* bob = s.bob_session.get();
  s.wire_copy = s.wire;
  SessionCheck(olm_create_inbound_session(bob, s.bob.get(), s.wire_copy.data(), s.wire_copy.size()),
               bob, s.bench_case, "olm_create_inbound_session");
  AccountCheck(olm_remove_one_time_keys(s.bob.get(), bob), s.bob.get(), s.bench_case,
               "olm_remove_one_time_keys");
  return s.DecryptAndCheck(bob, message);
}

size_t OlmPeer::Send(Party from, Bytes message) {
  State& s = *state_;
  const bool alice_sends = from == Party::kAlice;
  s.Encrypt(alice_sends ? s.alice_session.get() : s.bob_session.get(), message);
  BenchCheck(s.wire_type == OLM_MESSAGE_TYPE_MESSAGE, s.bench_case,
             "session still in the pre-key stage");
  return s.DecryptAndCheck(alice_sends ? s.bob_session.get() : s.alice_session.get(), message);
}

}  // namespace alliance::bench

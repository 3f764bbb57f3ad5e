// Fuzz target: ratchet decryption of arbitrary bytes against a real established session.
//
// Input: type byte (1 = prekey message, anything else = ordinary message) ‖ message bytes,
// decrypted by Bob's session as the fixture left it (fuzz_util.h). Invariants:
//   * a rejected message returns exactly DecryptError() and leaves the session byte-for-byte
//     as it was (crypto/ratchet.h: "a forged, replayed or truncated message leaves the session
//     exactly as it was");
//   * an accepted message yields at most kMaxPlaintextSize bytes, and the same bytes a second
//     time are rejected as a replay, again without changing the session.
#include <cstring>

#include "crypto/record_io.h"
#include "tests/fuzz/fuzz_util.h"

namespace alliance::fuzz {
namespace {

using crypto::MessageType;
using crypto::Session;

// The session's full state, serialized into secure memory.
crypto::SecretBytes Snapshot(const Session& session) {
  v1::SessionRecord record;
  session.ToRecord(&record);
  absl::StatusOr<crypto::SecretBytes> bytes = crypto::SerializeAndWipe(&record);
  RequireOk(bytes.status(), "serialize session");
  return *std::move(bytes);
}

bool Same(const crypto::SecretBytes& a, const crypto::SecretBytes& b) {
  return a.size() == b.size() && (a.size() == 0 || sodium_memcmp(a.data(), b.data(), a.size()) == 0);
}

// Decrypts and checks the rejection invariants. Returns whether the message was accepted.
bool DecryptChecked(Session& session, MessageType type, crypto::ByteSpan bytes) {
  crypto::SecretBytes before = Snapshot(session);
  std::vector<uint8_t> plaintext;
  absl::Status s = session.Decrypt(type, bytes, kNow, &plaintext);
  if (!s.ok()) {
    Require(s == crypto::DecryptError(), "a rejected message returns DecryptError()");
    Require(Same(before, Snapshot(session)), "a rejected message changes nothing");
    return false;
  }
  Require(plaintext.size() <= crypto::kMaxPlaintextSize, "plaintext within the limit");
  return true;
}

}  // namespace
}  // namespace alliance::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  alliance::fuzz::InitSodiumOrDie();
  (void)alliance::fuzz::RatchetFixture::Get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alliance;
  if (size < 1) return 0;
  const fuzz::RatchetFixture& f = fuzz::RatchetFixture::Get();
  // A fresh copy of Bob's state and randomness for every input, so runs are reproducible.
  crypto::DeterministicRandom rng(crypto::testing::Seed(0x5A));
  absl::StatusOr<crypto::Session> bob = crypto::Session::FromRecord(f.bob_record, rng);
  fuzz::RequireOk(bob.status(), "restore bob");
  const crypto::MessageType type =
      data[0] == 1 ? crypto::MessageType::kPreKey : crypto::MessageType::kMessage;
  const crypto::ByteSpan message(data + 1, size - 1);
  if (fuzz::DecryptChecked(*bob, type, message)) {
    fuzz::Require(!fuzz::DecryptChecked(*bob, type, message), "a replayed message is rejected");
  }
  return 0;
}

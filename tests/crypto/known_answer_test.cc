// Known answers for our own protocol (tests/vectors/good_session_v1.txt): fixed keys give a fixed
// X3DH secret, a fixed first message and a fixed safety number, so any accidental change to
// the protocol's bytes fails here. Regenerate only for a deliberate, versioned change:
//   ALLIANCE_WRITE_VECTORS=1 ./known_answer_test
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "crypto/safety_number.h"
#include "crypto/session.h"
#include "crypto/x3dh.h"
#include "gtest/gtest.h"
#include "tests/crypto/test_util.h"

namespace alliance::crypto {
namespace {

using testing::Bytes;
using testing::Hex;
using testing::Seed;
using testing::ToHex;

constexpr char kVectorFile[] = ALLIANCE_VECTORS_DIR "/good_session_v1.txt";
constexpr uint64_t kCreatedAt = 1'780'000'000;

std::map<std::string, std::string> Compute() {
  DeterministicRandom unused(Seed(0));
  IdentityKeyPair alice = *IdentityKeyPair::FromSeed(Seed(0x11));
  IdentityKeyPair bob = *IdentityKeyPair::FromSeed(Seed(0x22));
  DhKeyPair spk_key = *DhKeyPair::FromSecret(Seed(0x33));
  DhKeyPair opk_key = *DhKeyPair::FromSecret(Seed(0x44));
  DhKeyPair ephemeral = *DhKeyPair::FromSecret(Seed(0x55));
  DhKeyPair first_ratchet = *DhKeyPair::FromSecret(Seed(0x66));

  SignedPreKeyPair spk;
  spk.id = 1;
  spk.created_at = kCreatedAt;
  spk.key = spk_key;
  spk.signature = bob.Sign(SignedPreKeyMessage(spk.id, spk.created_at, spk.key.public_key));
  v1::PreKeyBundle bundle;
  bundle.set_identity_key(reinterpret_cast<const char*>(bob.public_key().data()), 32);
  *bundle.mutable_signed_prekey() = spk.ToPublic();
  *bundle.mutable_one_time_prekey() = OneTimePreKeyPair{2, opk_key}.ToPublic();
  VerifiedBundle vb = *VerifyPreKeyBundle(bundle, kCreatedAt);

  X3dhInitiation x3dh = *X3dhInitiateWithEphemeral(alice, vb, ephemeral);
  Session session =
      *Session::InitiateWithKeys(alice, vb, ephemeral, std::move(first_ratchet), unused);
  OutgoingMessage m;
  if (!session.Encrypt(Bytes("alliance known answer"), &m).ok()) std::abort();
  OutgoingMessage second;
  if (!session.Encrypt(Bytes(""), &second).ok()) std::abort();

  std::vector<uint8_t> alice_id(16, 0xAA), bob_id(16, 0xBB);
  return {
      {"alice_identity", ToHex(alice.public_key())},
      {"bob_identity", ToHex(bob.public_key())},
      {"signed_prekey_signature", ToHex(spk.signature)},
      {"x3dh_shared_secret", ToHex(x3dh.shared_key.span())},
      {"first_message", ToHex(m.bytes)},
      {"second_message", ToHex(second.bytes)},
      {"safety_number", SafetyNumber(alice.public_key(), alice_id, bob.public_key(), bob_id)},
  };
}

std::map<std::string, std::string> Load() { return testing::LoadVectors(kVectorFile); }

TEST(KnownAnswerTest, ProtocolOutputsMatchCheckedInVectors) {
  std::map<std::string, std::string> computed = Compute();
  if (std::getenv("ALLIANCE_WRITE_VECTORS") != nullptr) {
    std::ofstream out(kVectorFile);
    out << "# Alliance protocol v1 known answers. Keys: identity seeds 0x11 (alice), 0x22 (bob);\n"
           "# X25519 secrets 0x33 (spk id 1), 0x44 (opk id 2), 0x55 (ephemeral), 0x66 (first\n"
           "# ratchet key), each byte repeated 32 times; spk created_at 1780000000; account ids\n"
           "# 16 x 0xAA (alice), 16 x 0xBB (bob). Messages: \"alliance known answer\", then "
           "\"\".\n";
    for (const auto& [k, v] : computed) out << k << " = " << v << "\n";
    GTEST_SKIP() << "vectors written to " << kVectorFile;
  }
  std::map<std::string, std::string> expected = Load();
  ASSERT_EQ(expected.size(), computed.size()) << "missing or unreadable " << kVectorFile;
  for (const auto& [k, v] : computed) EXPECT_EQ(v, expected[k]) << k;
}

TEST(KnownAnswerTest, ResponderDecryptsTheCheckedInFirstMessage) {
  std::map<std::string, std::string> expected = Load();
  ASSERT_FALSE(expected["first_message"].empty());
  IdentityKeyPair bob = *IdentityKeyPair::FromSeed(Seed(0x22));
  DhKeyPair spk = *DhKeyPair::FromSecret(Seed(0x33));
  DhKeyPair opk = *DhKeyPair::FromSecret(Seed(0x44));
  std::vector<uint8_t> bytes = Hex(expected["first_message"]);
  PreKeyMessage pm = *ParsePreKeyMessage(bytes);
  EXPECT_EQ(pm.signed_prekey_id, 1u);
  EXPECT_EQ(pm.one_time_prekey_id, 2u);
  DeterministicRandom rng(Seed(1));
  std::vector<uint8_t> text;
  absl::StatusOr<Session> s = Session::Respond(bob, spk, &opk, pm, kCreatedAt, &text, rng);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(text, Bytes("alliance known answer"));
  std::vector<uint8_t> second = Hex(expected["second_message"]);
  ASSERT_TRUE(s->Decrypt(MessageType::kPreKey, second, kCreatedAt, &text).ok());
  EXPECT_TRUE(text.empty());
}

}  // namespace
}  // namespace alliance::crypto

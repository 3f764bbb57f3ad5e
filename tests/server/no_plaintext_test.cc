// DESIGN §2 invariants 1 and 8 at the relay: whatever passes through it, nothing it writes
// (database files, logs) contains the plaintext, and its logs contain neither payload bytes,
// tokens nor invite codes. The "ciphertext" here is the marker XOR a random mask, standing in
// for what a client would send; the relay must not be able to produce the marker.
#include <sodium.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "gtest/gtest.h"
#include "base/bytes.h"
#include "tests/server/relay_harness.h"

namespace alliance::server::testing {
namespace {

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Random(size_t n) {
  std::string s(n, '\0');
  randombytes_buf(s.data(), n);
  return s;
}

TEST(NoPlaintextTest, RelayWritesNoPlaintextAndLogsNoSecrets) {
  RelayHarness h;
  TestAccount admin = h.NewAdmin();
  std::string therapist_code;
  ASSERT_TRUE(h.CreateInvite(admin, v1::ROLE_THERAPIST, &therapist_code).ok());
  TestAccount therapist = NewIdentity();
  ASSERT_TRUE(h.Register(therapist_code, &therapist).ok());
  ASSERT_TRUE(h.Login(&therapist).ok());
  TestAccount client = h.Invite(therapist, v1::ROLE_CLIENT);

  const std::string marker = "PLAINTEXT-MARKER-" + base::ToHex(Random(12));
  std::vector<std::string> payloads;
  for (int i = 0; i < 20; ++i) {
    std::string mask = Random(marker.size());
    std::string payload = marker;
    for (size_t j = 0; j < payload.size(); ++j) payload[j] ^= mask[j];
    payloads.push_back(payload);
    ASSERT_TRUE(h.Send(i % 2 ? therapist : client, i % 2 ? client : therapist, payload).ok());
  }
  std::vector<v1::Envelope> got = h.ReadBacklog(therapist);
  ASSERT_EQ(got.size(), 10u);
  ASSERT_TRUE(h.Ack(therapist, {1, 2, 3}).ok());  // some delivered, some pending
  // A failed login and a bad token, so error paths get logged too.
  TestAccount forged = client;
  forged.token = Random(32);
  v1::ListContactsResponse contacts;
  EXPECT_FALSE(h.accounts().ListContacts(h.Ctx(forged).get(), {}, &contacts).ok());
  h.Stop();  // flush everything to disk

  std::vector<std::string> secrets = {admin.token,  therapist.token, client.token,
                                      forged.token, therapist_code,  h.bootstrap_code()};
  std::string log = ReadAll(h.log_file());
  ASSERT_FALSE(log.empty());
  for (const std::string& s : secrets) {
    EXPECT_EQ(log.find(s), std::string::npos);
    EXPECT_EQ(log.find(base::ToHex(s)), std::string::npos);
  }
  for (const std::string& p : payloads) {
    EXPECT_EQ(log.find(p), std::string::npos);
    EXPECT_EQ(log.find(base::ToHex(p)), std::string::npos);
  }

  // Everything stored: the database's files (RocksDB), or a dump of the relay's tables
  // (PostgreSQL, where bytea comes out as hex, so both forms are looked for).
  std::vector<std::pair<std::string, std::string>> stored = h.StoredBytes();
  EXPECT_GT(stored.size(), h.postgres() ? 0u : 3u);
  for (const auto& [where, bytes] : stored) {
    EXPECT_EQ(bytes.find(marker), std::string::npos) << where;
    EXPECT_EQ(bytes.find(base::ToHex(marker)), std::string::npos) << where;
    // Tokens and invite codes are stored hashed only.
    for (const std::string& s : secrets) {
      EXPECT_EQ(bytes.find(s), std::string::npos) << where;
      EXPECT_EQ(bytes.find(base::ToHex(s)), std::string::npos) << where;
    }
  }
  EXPECT_EQ(log.find(marker), std::string::npos);
  h.Start();
}

}  // namespace
}  // namespace alliance::server::testing

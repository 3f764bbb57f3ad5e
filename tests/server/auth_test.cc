// Authenticator unit tests: stateless challenges, single use, budgets charged to the caller's
// address (never to the account a request names), bounded memory, and revocation that does not
// depend on when a session record was written. Runs against a real RocksDB in a temporary
// directory, without gRPC, so callers at different addresses can be simulated.
#include "server/auth/authenticator.h"

#include <sodium.h>
#include <stdlib.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "base/bytes.h"
#include "server/relay_records.pb.h"
#include "server/store/devices.h"

namespace alliance::server {
namespace {

struct Identity {
  std::string public_key = std::string(32, '\0');
  std::string secret_key = std::string(64, '\0');
  std::string account_id;
};

class AuthTest : public ::testing::Test {
 protected:
  enum class AccountState { kActive, kDeactivated };

  AuthTest() : clock_(absl::FromUnixSeconds(1'700'000'000)) {
    EXPECT_GE(sodium_init(), 0);
    std::string tmpl = (std::filesystem::temp_directory_path() / "alliance-auth-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    db_ = *RocksRelayDb::Create(dir_ + "/db");
    audit_ = *AuditLog::Open(db_.get(), &clock_);
  }
  ~AuthTest() override {
    auth_.reset();
    audit_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  Authenticator& Auth() {
    if (auth_ == nullptr) {
      auth_ = std::make_unique<Authenticator>(db_.get(), audit_.get(), &clock_, limits_, &metrics_);
    }
    return *auth_;
  }

  Identity NewAccount(AccountState state = AccountState::kActive) {
    Identity id;
    crypto_sign_keypair(reinterpret_cast<unsigned char*>(id.public_key.data()),
                        reinterpret_cast<unsigned char*>(id.secret_key.data()));
    id.account_id = std::string(16, '\0');
    randombytes_buf(id.account_id.data(), 16);
    Put(id, state);
    return id;
  }
  void Put(const Identity& id, AccountState state) {
    AccountRecord record;
    record.set_account_id(id.account_id);
    record.set_role(v1::ROLE_THERAPIST);
    record.set_state(state == AccountState::kActive ? v1::ACCOUNT_STATE_ACTIVE
                                                    : v1::ACCOUNT_STATE_DEACTIVATED);
    record.set_identity_key(id.public_key);
    AddFirstDevice(&record, 1'700'000'000);
    KvBatch batch;
    batch.Put(Cf::kAccounts, id.account_id, record.SerializeAsString());
    ASSERT_TRUE(db_->Write(&batch, true).ok());
  }

  v1::LoginRequest Signed(const Identity& account, const v1::ChallengeResponse& c,
                          const Identity& signer) {
    std::string message = "alliance/v1/login" + c.relay_id() + c.nonce();
    base::AppendU64BE(&message, c.expires_at());
    std::string sig(64, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                         reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         reinterpret_cast<const unsigned char*>(signer.secret_key.data()));
    v1::LoginRequest r;
    r.mutable_address()->set_account_id(account.account_id);
    r.mutable_address()->set_device_id(1);
    r.set_nonce(c.nonce());
    r.set_expires_at(c.expires_at());
    r.set_signature(sig);
    return r;
  }

  absl::StatusCode LoginCode(const Identity& account, const Identity& signer,
                             const std::string& from) {
    absl::StatusOr<v1::ChallengeResponse> c = Auth().Challenge(from);
    if (!c.ok()) return c.status().code();
    return Auth().Login(Signed(account, *c, signer), from).status().code();
  }

  ManualClock clock_;
  std::string dir_;
  Limits limits_;
  Metrics metrics_;
  std::unique_ptr<RelayDb> db_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Authenticator> auth_;
};

// Item 6: the failed-login budget was per claimed account and checked before the signature,
// so anyone who knew a therapist's account id kept it from logging in.
TEST_F(AuthTest, FailuresNamingAnAccountNeverLockItOut) {
  Identity therapist = NewAccount();
  Identity attacker = NewAccount();
  // One challenge serves the attacker for any number of failed attempts.
  absl::StatusOr<v1::ChallengeResponse> c = Auth().Challenge("4:10.0.0.66");
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 200; ++i) {
    absl::StatusCode code =
        Auth().Login(Signed(therapist, *c, attacker), "4:10.0.0.66").status().code();
    EXPECT_TRUE(code == absl::StatusCode::kUnauthenticated ||
                code == absl::StatusCode::kResourceExhausted);
  }
  // The attacker's own budget is spent...
  EXPECT_EQ(LoginCode(therapist, attacker, "4:10.0.0.66"), absl::StatusCode::kResourceExhausted);
  // ...the therapist logs in from elsewhere, and even from the attacker's address (one NAT).
  EXPECT_EQ(LoginCode(therapist, therapist, "4:10.0.0.7"), absl::StatusCode::kOk);
  EXPECT_EQ(LoginCode(therapist, therapist, "4:10.0.0.66"), absl::StatusCode::kOk);
}

// Item 7: one global table of pending challenges filled and refused every later login.
TEST_F(AuthTest, ChallengesCostNothingToHandOut) {
  limits_.max_pending_challenges = 10;
  Identity therapist = NewAccount();
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(
        Auth().Challenge("4:10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250)).ok());
  }
  EXPECT_EQ(LoginCode(therapist, therapist, "4:10.0.0.7"), absl::StatusCode::kOk);
}

TEST_F(AuthTest, ChallengesAreRateLimitedPerCallerAddress) {
  limits_.challenge_burst = 5;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Auth().Challenge("4:10.0.0.66").ok());
  EXPECT_EQ(Auth().Challenge("4:10.0.0.66").status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Auth().Challenge("4:10.0.0.7").ok());
  clock_.Advance(absl::Minutes(1));
  EXPECT_TRUE(Auth().Challenge("4:10.0.0.66").ok());
}

TEST_F(AuthTest, ASignedChallengeWorksOnce) {
  Identity therapist = NewAccount();
  absl::StatusOr<v1::ChallengeResponse> c = Auth().Challenge("4:10.0.0.7");
  ASSERT_TRUE(c.ok());
  v1::LoginRequest request = Signed(therapist, *c, therapist);
  EXPECT_TRUE(Auth().Login(request, "4:10.0.0.7").ok());
  EXPECT_EQ(Auth().Login(request, "4:10.0.0.7").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthTest, ForgedOrExpiredChallengesFail) {
  Identity therapist = NewAccount();
  absl::StatusOr<v1::ChallengeResponse> c = Auth().Challenge("4:10.0.0.7");
  ASSERT_TRUE(c.ok());
  v1::ChallengeResponse forged = *c;
  forged.mutable_nonce()->back() ^= 1;  // the MAC half
  EXPECT_EQ(Auth().Login(Signed(therapist, forged, therapist), "4:10.0.0.7").status().code(),
            absl::StatusCode::kUnauthenticated);
  v1::ChallengeResponse later = *c;
  later.set_expires_at(c->expires_at() + 30);  // the MAC binds the expiry
  EXPECT_EQ(Auth().Login(Signed(therapist, later, therapist), "4:10.0.0.7").status().code(),
            absl::StatusCode::kUnauthenticated);
  clock_.Advance(limits_.challenge_ttl + absl::Seconds(1));
  EXPECT_EQ(Auth().Login(Signed(therapist, *c, therapist), "4:10.0.0.7").status().code(),
            absl::StatusCode::kUnauthenticated);
  // A relay restart forgets its challenge key: outstanding challenges stop working.
  absl::StatusOr<v1::ChallengeResponse> fresh = Auth().Challenge("4:10.0.0.7");
  auth_.reset();
  EXPECT_EQ(Auth().Login(Signed(therapist, *fresh, therapist), "4:10.0.0.7").status().code(),
            absl::StatusCode::kUnauthenticated);
}

// Item 11: failed-login buckets for made-up account ids grew without bound until a sweep.
TEST_F(AuthTest, RateLimitMemoryStaysBoundedUnderAFloodOfCallers) {
  limits_.max_rate_limit_keys = 100;
  Identity fake;
  fake.account_id = std::string(16, 'f');
  Identity signer = NewAccount();
  for (int i = 0; i < 3000; ++i) {
    fake.account_id[0] = static_cast<char>(i & 0xff);
    fake.account_id[1] = static_cast<char>(i >> 8);
    std::string from = "4:10.2." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    (void)LoginCode(fake, signer, from);
  }
  EXPECT_LE(Auth().TrackedCallers(), 2u * 100u);
  // A legitimate login still works while the table is full.
  EXPECT_EQ(LoginCode(signer, signer, "4:10.9.9.9"), absl::StatusCode::kOk);
}

// Item 5: later calls trusted the stored session and its cached role; a login that stored its
// session after the deactivation kept a working token.
TEST_F(AuthTest, TokensStopWorkingTheMomentTheAccountIsNotActive) {
  Identity admin = NewAccount();
  absl::StatusOr<v1::ChallengeResponse> c = Auth().Challenge("4:10.0.0.7");
  ASSERT_TRUE(c.ok());
  absl::StatusOr<v1::LoginResponse> login = Auth().Login(Signed(admin, *c, admin), "4:10.0.0.7");
  ASSERT_TRUE(login.ok());
  const std::string bearer = "Bearer " + base::ToHex(login->token());
  ASSERT_TRUE(Auth().Authenticate(bearer).ok());
  // The deactivation lands while the session record stays (as when a login raced it).
  Put(admin, AccountState::kDeactivated);
  EXPECT_EQ(Auth().Authenticate(bearer).status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace alliance::server

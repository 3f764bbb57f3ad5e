#include "tests/fuzz/relay_fixture.h"

#include <grpcpp/test/default_reactor_test_peer.h>
#include <sodium.h>
#include <stdlib.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/strings/escaping.h"
#include "server/relay_server.h"
#include "tests/fuzz/fuzz_util.h"
#include "wire/signed_strings.h"

// gRPC befriends this name (for its interop tests, which we do not link) so that it may reach
// a server context's client metadata; the services read "authorization" from there.
namespace grpc::testing {
class InteropServerContextInspector {
 public:
  // Sets the one client metadata entry; `value` must outlive the context's use of it.
  static void SetAuthorization(ServerContextBase* ctx, const std::string& value) {
    auto* map = ctx->client_metadata_.map();
    map->clear();
    map->emplace(grpc::string_ref("authorization"), grpc::string_ref(value.data(), value.size()));
  }
};
}  // namespace grpc::testing

namespace alliance::fuzz {
namespace {

using server::Directory;

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

}  // namespace

RelayFixture& RelayFixture::Get() {
  static RelayFixture* fixture = [] {
    auto* f = new RelayFixture();
    f->Build();
    std::atexit([] { Get().Teardown(); });
    return f;
  }();
  return *fixture;
}

void RelayFixture::Build() {
  char tmpl[] = "/tmp/alliance-fuzz-relay-XXXXXX";
  Require(mkdtemp(tmpl) != nullptr, "create the relay directory");
  dir_ = std::string(tmpl) + "/db";
  absl::StatusOr<std::string> bootstrap = server::RelayServer::Initialize(dir_, &clock_);
  RequireOk(bootstrap.status(), "initialize the relay");

  // Generous budgets: the fuzzer should reach the handlers, not only the rate limiters
  // (which it still reaches: the clock moves one second per input).
  limits_ = server::Limits();
  limits_.max_mailbox_envelopes = 2000;
  limits_.max_mailbox_envelopes_per_sender = 1000;
  absl::StatusOr<std::unique_ptr<server::Logger>> logger =
      server::Logger::Create(std::string(tmpl) + "/relay.log", "off");
  RequireOk(logger.status(), "logger");
  logger_ = *std::move(logger);
  metrics_ = std::make_unique<server::Metrics>();
  absl::StatusOr<std::unique_ptr<server::RelayDb>> db = server::RocksRelayDb::Open(dir_);
  RequireOk(db.status(), "open the database");
  db_ = *std::move(db);
  absl::StatusOr<std::unique_ptr<server::AuditLog>> audit = server::AuditLog::Open(db_.get(), &clock_);
  RequireOk(audit.status(), "open the audit log");
  audit_ = *std::move(audit);
  pool_ = std::make_unique<server::CommitPool>(db_.get(), 2);
  auth_ = std::make_unique<server::Authenticator>(db_.get(), audit_.get(), &clock_, limits_,
                                                  metrics_.get());
  directory_ = std::make_unique<Directory>(db_.get(), audit_.get(), &clock_, limits_);
  prekeys_ = std::make_unique<server::PreKeyStore>(db_.get(), audit_.get(), limits_, metrics_.get());
  mailbox_ = std::make_unique<server::Mailbox>(db_.get(), pool_.get(), &clock_, limits_,
                                               metrics_.get());
  blobs_ = std::make_unique<server::BlobStore>(db_.get(), &clock_, limits_);
  send_rate_ = std::make_unique<server::RateLimiter>(
      &clock_, limits_.send_rate_per_second, limits_.send_burst, limits_.max_rate_limit_keys);
  fetch_rate_ = std::make_unique<server::RateLimiter>(
      &clock_, limits_.prekey_fetches_per_hour / 3600.0, limits_.prekey_fetch_burst,
      limits_.max_rate_limit_keys);
  publish_rate_ = std::make_unique<server::RateLimiter>(
      &clock_, limits_.prekey_publishes_per_hour / 3600.0, limits_.prekey_publish_burst,
      limits_.max_rate_limit_keys);
  deps_ = server::ServiceDeps{.limits = &limits_,
                              .clock = &clock_,
                              .audit = audit_.get(),
                              .auth = auth_.get(),
                              .directory = directory_.get(),
                              .prekeys = prekeys_.get(),
                              .mailbox = mailbox_.get(),
                              .blobs = blobs_.get(),
                              .send_rate = send_rate_.get(),
                              .fetch_rate = fetch_rate_.get(),
                              .publish_rate = publish_rate_.get(),
                              .metrics = metrics_.get(),
                              .logger = logger_.get()};
  accounts_ = std::make_unique<server::AccountsService>(&deps_);
  clinic_ = std::make_unique<server::ClinicService>(&deps_);
  keys_ = std::make_unique<server::KeysService>(&deps_);
  devices_ = std::make_unique<server::DevicesService>(&deps_);
  relay_ = std::make_unique<server::RelayService>(&deps_);
  blobs_service_ = std::make_unique<server::BlobsService>(&deps_);

  // admin (bootstrap invite) -> therapist (the admin's invite) -> client (the therapist's).
  std::string invite = *bootstrap;
  const v1::Role roles[kAccounts] = {v1::ROLE_ADMIN, v1::ROLE_THERAPIST, v1::ROLE_CLIENT};
  for (int i = 0; i < kAccounts; ++i) {
    if (i > 0) {
      Directory::Inviter inviter{account_ids_[i - 1], roles[i - 1]};
      absl::StatusOr<v1::CreateInviteResponse> created =
          directory_->CreateInvite(&inviter, roles[i]);
      RequireOk(created.status(), "create an invite");
      invite = created->invite_code();
    }
    identities_[i] = std::make_unique<crypto::IdentityKeyPair>(
        *crypto::IdentityKeyPair::FromSeed(std::vector<uint8_t>(32, 0x30 + i)));
    const crypto::PublicKey& pk = identities_[i]->public_key();
    v1::RegisterRequest reg;
    reg.set_invite_code(invite);
    reg.set_identity_key(std::string(pk.begin(), pk.end()));
    crypto::Signature proof = identities_[i]->Sign(
        crypto::AsBytes(wire::RegisterMessage(db_->relay_id(), invite, reg.identity_key())));
    reg.set_proof(std::string(proof.begin(), proof.end()));
    absl::StatusOr<v1::RegisterResponse> registered = directory_->Register(reg);
    RequireOk(registered.status(), "register");
    account_ids_[i] = registered->account_id();
    Require(Login(i), "log in");
  }
}

bool RelayFixture::Login(int i) {
  absl::StatusOr<v1::ChallengeResponse> challenge = auth_->Challenge("fixture");
  if (!challenge.ok()) return false;
  v1::LoginRequest login;
  login.mutable_address()->set_account_id(account_ids_[i]);
  login.mutable_address()->set_device_id(1);
  login.set_nonce(challenge->nonce());
  login.set_expires_at(challenge->expires_at());
  crypto::Signature sig = identities_[i]->Sign(crypto::AsBytes(
      wire::LoginMessage(db_->relay_id(), challenge->nonce(), challenge->expires_at())));
  login.set_signature(std::string(sig.begin(), sig.end()));
  absl::StatusOr<v1::LoginResponse> session = auth_->Login(login, "fixture");
  if (!session.ok()) return false;
  tokens_[i] = "Bearer " + Hex(session->token());
  return true;
}

void RelayFixture::Teardown() {
  if (db_ == nullptr) return;
  accounts_.reset();
  clinic_.reset();
  keys_.reset();
  relay_.reset();
  mailbox_->CloseAll(absl::UnavailableError("fuzz fixture closing"));
  pool_->Shutdown();
  (void)db_->Close();
  mailbox_.reset();
  pool_.reset();
  prekeys_.reset();
  directory_.reset();
  auth_.reset();
  audit_.reset();
  db_.reset();
  logger_.reset();
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path(dir_).parent_path(), ec);
}

void RelayFixture::Refresh() {
  clock_.Advance(absl::Seconds(1));
  for (int i = 0; i < kAccounts; ++i) {
    if (auth_->Authenticate(tokens_[i]).ok() || Login(i)) continue;
    // Deleted or deactivated: start again from an empty relay.
    Teardown();
    Build();
    return;
  }
}

void RelayFixture::ResolveAliases(std::string* bytes) const {
  for (int i = 0; i < kAccounts; ++i) {
    const std::string alias(16, static_cast<char>(kAliasFill[i]));
    for (size_t at = bytes->find(alias); at != std::string::npos; at = bytes->find(alias, at + 16)) {
      bytes->replace(at, 16, account_ids_[i]);
    }
  }
}

std::string RelayFixture::Authorization(As as) const {
  switch (as) {
    case As::kNobody:
      return "";
    case As::kAdmin:
      return tokens_[0];
    case As::kTherapist:
      return tokens_[1];
    case As::kClient:
      return tokens_[2];
    case As::kForged:
      return "Bearer " + std::string(64, 'a');
  }
  return "";
}

void RelayFixture::SetAuthorization(grpc::CallbackServerContext* ctx,
                                    const std::string& authorization) {
  if (authorization.empty()) return;
  grpc::testing::InteropServerContextInspector::SetAuthorization(ctx, authorization);
}

grpc::Status RelayFixture::RunToFinish(grpc::CallbackServerContext* ctx,
                                       const std::function<void()>& invoke) {
  grpc::testing::DefaultReactorTestPeer peer(ctx);
  invoke();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!peer.test_status_set()) {
    Require(std::chrono::steady_clock::now() < deadline, "the handler finishes the call");
    std::this_thread::yield();
  }
  return peer.test_status();
}

}  // namespace alliance::fuzz

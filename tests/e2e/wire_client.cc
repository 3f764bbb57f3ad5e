#include "tests/e2e/wire_client.h"

#include <sodium.h>

#include "base/bytes.h"

namespace alliance::e2e {
namespace {

std::string Sign(const WireAccount& account, const std::string& message) {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       reinterpret_cast<const unsigned char*>(account.secret_key.data()));
  return sig;
}

std::unique_ptr<grpc::ClientContext> Unauthenticated(std::chrono::milliseconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

}  // namespace

WireAccount WireAccount::Generate() {
  WireAccount a;
  a.public_key.resize(crypto_sign_PUBLICKEYBYTES);
  a.secret_key.resize(crypto_sign_SECRETKEYBYTES);
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(a.public_key.data()),
                      reinterpret_cast<unsigned char*>(a.secret_key.data()));
  return a;
}

v1::Address WireAccount::address() const {
  v1::Address a;
  a.set_account_id(account_id);
  a.set_device_id(1);
  return a;
}

std::string RandomMessageId() {
  std::string id(16, '\0');
  randombytes_buf(id.data(), id.size());
  return id;
}

WireRelay::WireRelay(const std::string& address) {
  grpc::ChannelArguments args;
  // gRPC's default reconnect backoff grows to two minutes; a relay killed twenty times would
  // leave the channel waiting long after the relay is back.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  accounts_ = v1::Accounts::NewStub(channel_);
  clinic_ = v1::Clinic::NewStub(channel_);
  relay_ = v1::Relay::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> WireRelay::Context(const WireAccount& account,
                                                        std::chrono::milliseconds timeout) {
  auto ctx = Unauthenticated(timeout);
  if (!account.token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + base::ToHex(account.token));
  }
  return ctx;
}

grpc::Status WireRelay::Register(const std::string& code, WireAccount* account) {
  // The proof binds the relay id, which the relay hands out with every challenge.
  v1::ChallengeResponse challenge;
  grpc::Status s = accounts_->Challenge(Unauthenticated(std::chrono::seconds(10)).get(),
                                        v1::ChallengeRequest(), &challenge);
  if (!s.ok()) return s;
  v1::RegisterRequest request;
  request.set_invite_code(code);
  request.set_identity_key(account->public_key);
  request.set_proof(Sign(*account, "alliance/v1/register" + challenge.relay_id() + code +
                                       account->public_key));
  v1::RegisterResponse response;
  s = accounts_->Register(Unauthenticated(std::chrono::seconds(10)).get(), request, &response);
  if (s.ok()) account->account_id = response.account_id();
  return s;
}

grpc::Status WireRelay::Login(WireAccount* account) {
  v1::ChallengeResponse challenge;
  grpc::Status s = accounts_->Challenge(Unauthenticated(std::chrono::seconds(10)).get(),
                                        v1::ChallengeRequest(), &challenge);
  if (!s.ok()) return s;
  std::string message = "alliance/v1/login" + challenge.relay_id() + challenge.nonce();
  base::AppendU64BE(&message, challenge.expires_at());
  v1::LoginRequest request;
  *request.mutable_address() = account->address();
  request.set_nonce(challenge.nonce());
  request.set_expires_at(challenge.expires_at());
  request.set_signature(Sign(*account, message));
  v1::LoginResponse response;
  s = accounts_->Login(Unauthenticated(std::chrono::seconds(10)).get(), request, &response);
  if (s.ok()) account->token = response.token();
  return s;
}

grpc::Status WireRelay::CreateInvite(const WireAccount& inviter, v1::Role role,
                                     std::string* code) {
  v1::CreateInviteRequest request;
  request.set_role(role);
  v1::CreateInviteResponse response;
  grpc::Status s =
      clinic_->CreateInvite(Context(inviter, std::chrono::seconds(10)).get(), request, &response);
  if (s.ok()) *code = response.invite_code();
  return s;
}

grpc::Status WireRelay::Send(const WireAccount& from, const v1::Address& to,
                             const std::string& message_id, const std::string& payload,
                             v1::SendResponse* response, std::chrono::milliseconds timeout) {
  v1::SendRequest request;
  request.set_version(1);
  request.set_message_id(message_id);
  *request.mutable_recipient() = to;
  request.set_type(v1::ENVELOPE_TYPE_MESSAGE);
  request.set_payload(payload);
  return relay_->Send(Context(from, timeout).get(), request, response);
}

grpc::Status WireRelay::Ack(const WireAccount& account, uint64_t sequence) {
  v1::AckRequest request;
  request.add_sequences(sequence);
  v1::AckResponse response;
  return relay_->Ack(Context(account, std::chrono::seconds(10)).get(), request, &response);
}

}  // namespace alliance::e2e

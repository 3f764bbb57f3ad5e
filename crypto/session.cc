#include "crypto/session.h"

#include <cstring>

#include "base/bytes.h"
#include "base/status_macros.h"

namespace alliance::crypto {
namespace {

using base::GetU32;
using base::PutU32;

constexpr uint8_t kPreKeyVersion = 1;

}  // namespace

absl::StatusOr<PreKeyMessage> ParsePreKeyMessage(ByteSpan bytes) {
  if (bytes.size() < kPreKeyHeaderSize + kRatchetHeaderSize || bytes[0] != kPreKeyVersion) {
    return absl::InvalidArgumentError("malformed prekey message");
  }
  PreKeyMessage m;
  std::memcpy(m.initiator_identity.data(), bytes.data() + 1, 32);
  std::memcpy(m.ephemeral_key.data(), bytes.data() + 33, 32);
  m.signed_prekey_id = GetU32(bytes.data() + 65);
  const uint8_t has_opk = bytes[69];
  const uint32_t opk_id = GetU32(bytes.data() + 70);
  // X25519 ignores the top bit of a public key; accept only the canonical form so that no two
  // encodings of one message decrypt alike.
  if (has_opk > 1 || (has_opk == 0 && opk_id != 0) || (m.ephemeral_key[31] & 0x80) != 0) {
    return absl::InvalidArgumentError("malformed prekey message");
  }
  if (has_opk == 1) m.one_time_prekey_id = opk_id;
  m.ratchet_message = bytes.subspan(kPreKeyHeaderSize);
  return m;
}

absl::StatusOr<Session> Session::Initiate(const IdentityKeyPair& ours, const VerifiedBundle& bundle,
                                          Random& rng) {
  DhKeyPair ephemeral = DhKeyPair::Generate(rng);
  return InitiateWithKeys(ours, bundle, ephemeral, DhKeyPair::Generate(rng), rng);
}

absl::StatusOr<Session> Session::InitiateWithKeys(const IdentityKeyPair& ours,
                                                  const VerifiedBundle& bundle,
                                                  const DhKeyPair& ephemeral,
                                                  DhKeyPair first_ratchet, Random& rng) {
  ALLIANCE_ASSIGN_OR_RETURN(X3dhInitiation x3dh,
                            X3dhInitiateWithEphemeral(ours, bundle, ephemeral));
  ALLIANCE_ASSIGN_OR_RETURN(
      Ratchet ratchet,
      Ratchet::InitInitiatorWithKey(x3dh.shared_key, bundle.signed_prekey, ours.public_key(),
                                    bundle.identity, std::move(first_ratchet), rng));
  return Session(std::move(ratchet), /*is_initiator=*/true, x3dh.ephemeral_key,
                 Pending{bundle.signed_prekey_id, bundle.one_time_prekey_id});
}

absl::StatusOr<Session> Session::Respond(const IdentityKeyPair& ours,
                                         const DhKeyPair& signed_prekey,
                                         const DhKeyPair* one_time_prekey,
                                         const PreKeyMessage& message, int64_t now_unix,
                                         std::vector<uint8_t>* plaintext, Random& rng) {
  if (message.one_time_prekey_id.has_value() != (one_time_prekey != nullptr)) {
    return DecryptError();
  }
  absl::StatusOr<SharedKey> sk = X3dhRespond(ours, signed_prekey, one_time_prekey,
                                             message.initiator_identity, message.ephemeral_key);
  if (!sk.ok()) return DecryptError();
  Ratchet ratchet = Ratchet::InitResponder(*sk, signed_prekey, message.initiator_identity,
                                           ours.public_key(), rng);
  ALLIANCE_RETURN_IF_ERROR(ratchet.Decrypt(message.ratchet_message, now_unix, plaintext));
  return Session(std::move(ratchet), /*is_initiator=*/false, message.ephemeral_key, std::nullopt);
}

const PublicKey& Session::remote_identity() const {
  return is_initiator_ ? ratchet_.responder_identity() : ratchet_.initiator_identity();
}

absl::Status Session::Encrypt(ByteSpan plaintext, OutgoingMessage* out) {
  out->bytes.clear();
  if (!pending_.has_value()) {
    out->type = MessageType::kMessage;
    return ratchet_.Encrypt(plaintext, &out->bytes);
  }
  out->type = MessageType::kPreKey;
  out->bytes.resize(kPreKeyHeaderSize);
  uint8_t* p = out->bytes.data();
  p[0] = kPreKeyVersion;
  std::memcpy(p + 1, ratchet_.initiator_identity().data(), 32);
  std::memcpy(p + 33, base_key_.data(), 32);
  PutU32(p + 65, pending_->signed_prekey_id);
  p[69] = pending_->one_time_prekey_id.has_value() ? 1 : 0;
  PutU32(p + 70, pending_->one_time_prekey_id.value_or(0));
  absl::Status s = ratchet_.Encrypt(plaintext, &out->bytes);
  if (!s.ok()) out->bytes.clear();
  return s;
}

absl::Status Session::Decrypt(MessageType type, ByteSpan bytes, int64_t now_unix,
                              std::vector<uint8_t>* plaintext) {
  ByteSpan ratchet_message = bytes;
  if (type == MessageType::kPreKey) {
    absl::StatusOr<PreKeyMessage> m = ParsePreKeyMessage(bytes);
    if (!m.ok() || is_initiator_ ||
        sodium_memcmp(m->initiator_identity.data(), remote_identity().data(), 32) != 0 ||
        sodium_memcmp(m->ephemeral_key.data(), base_key_.data(), 32) != 0) {
      return DecryptError();
    }
    ratchet_message = m->ratchet_message;
  } else if (type != MessageType::kMessage) {
    return DecryptError();
  }
  ALLIANCE_RETURN_IF_ERROR(ratchet_.Decrypt(ratchet_message, now_unix, plaintext));
  pending_.reset();  // The responder answered: no more prekey messages needed.
  return absl::OkStatus();
}

void Session::ToRecord(v1::SessionRecord* record) const {
  ratchet_.ToRecord(record);
  record->set_is_initiator(is_initiator_);
  record->set_base_key(reinterpret_cast<const char*>(base_key_.data()), base_key_.size());
  record->clear_pending_prekey();
  if (pending_.has_value()) {
    v1::PendingPreKeyRecord* p = record->mutable_pending_prekey();
    p->set_ephemeral_key(reinterpret_cast<const char*>(base_key_.data()), base_key_.size());
    p->set_signed_prekey_id(pending_->signed_prekey_id);
    p->set_has_one_time_prekey(pending_->one_time_prekey_id.has_value());
    p->set_one_time_prekey_id(pending_->one_time_prekey_id.value_or(0));
  }
}

absl::StatusOr<Session> Session::FromRecord(const v1::SessionRecord& record, Random& rng) {
  ALLIANCE_ASSIGN_OR_RETURN(Ratchet ratchet, Ratchet::FromRecord(record, rng));
  ALLIANCE_ASSIGN_OR_RETURN(PublicKey base_key, ParsePublicKey(AsBytes(record.base_key())));
  std::optional<Pending> pending;
  if (record.has_pending_prekey()) {
    if (!record.is_initiator()) return absl::InvalidArgumentError("malformed session record");
    const v1::PendingPreKeyRecord& p = record.pending_prekey();
    pending = Pending{p.signed_prekey_id(), std::nullopt};
    if (p.has_one_time_prekey()) pending->one_time_prekey_id = p.one_time_prekey_id();
  }
  return Session(std::move(ratchet), record.is_initiator(), base_key, pending);
}

}  // namespace alliance::crypto

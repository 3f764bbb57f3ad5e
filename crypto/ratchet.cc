#include "crypto/ratchet.h"

#include <algorithm>
#include <cstring>

#include "base/bytes.h"
#include "base/status_macros.h"
#include "crypto/aead.h"
#include "crypto/hkdf.h"
#include "crypto/padding.h"
#include "wire/protocol.h"

namespace alliance::crypto {
namespace {

using base::GetU32;
using base::PutU32;

constexpr std::string_view kRatchetInfo = wire::kRatchetInfo;
constexpr std::string_view kMessageInfo = wire::kMessageInfo;
constexpr std::string_view kAdDomain = wire::kMessageAdDomain;
constexpr size_t kAdDomainSize = kAdDomain.size();
constexpr size_t kAdSize = kAdDomainSize + 32 + 32 + kRatchetHeaderSize;
constexpr size_t kAeadKeySize = Aead::kKeySize;
constexpr size_t kAeadNonceSize = Aead::kNonceSize;
static_assert(kAeadTagSize == Aead::kTagSize);

// KDF_RK: HKDF(salt = root key, ikm = DH output) -> new root key ‖ chain key.
void RootStep(WipedArray<32>* root, const WipedArray<32>& dh_out, WipedArray<32>* chain) {
  WipedArray<64> okm;
  HkdfSha256(root->span(), dh_out.span(), AsBytes(kRatchetInfo), okm.mutable_span());
  root->Assign(okm.span().first(32));
  chain->Assign(okm.span().subspan(32));
}

// Message key -> XChaCha20-Poly1305 key ‖ nonce.
void ExpandMessageKey(const WipedArray<32>& mk, WipedArray<kAeadKeySize + kAeadNonceSize>* out) {
  HkdfSha256({}, mk.span(), AsBytes(kMessageInfo), out->mutable_span());
}

void SetBytes(std::string* field, ByteSpan bytes) {
  field->assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

absl::Status ReadKey(const std::string& field, WipedArray<32>* out) {
  if (field.size() != 32) return absl::InvalidArgumentError("malformed session record");
  out->Assign(AsBytes(field));
  return absl::OkStatus();
}

absl::Status ReadPublic(const std::string& field, PublicKey* out) {
  if (field.size() != 32) return absl::InvalidArgumentError("malformed session record");
  std::memcpy(out->data(), field.data(), 32);
  return absl::OkStatus();
}

}  // namespace

absl::Status DecryptError() { return absl::InvalidArgumentError("message could not be decrypted"); }

struct Ratchet::Header {
  PublicKey ratchet{};
  uint32_t prev_n = 0;
  uint32_t n = 0;

  static bool Parse(ByteSpan message, Header* h) {
    if (message.size() < kRatchetHeaderSize || message[0] != kRatchetVersion) return false;
    if ((message[32] & 0x80) != 0) return false;  // Non-canonical X25519 key.
    std::memcpy(h->ratchet.data(), message.data() + 1, 32);
    h->prev_n = GetU32(message.data() + 33);
    h->n = GetU32(message.data() + 37);
    return true;
  }
};

Ratchet::Ratchet(const PublicKey& initiator_identity, const PublicKey& responder_identity,
                 Random& rng, const RatchetOptions& options)
    : initiator_identity_(initiator_identity),
      responder_identity_(responder_identity),
      rng_(&rng),
      options_(options) {}

absl::StatusOr<Ratchet> Ratchet::InitInitiator(const WipedArray<32>& shared_key,
                                               const PublicKey& remote_ratchet,
                                               const PublicKey& initiator_identity,
                                               const PublicKey& responder_identity, Random& rng) {
  return InitInitiatorWithKey(shared_key, remote_ratchet, initiator_identity, responder_identity,
                              DhKeyPair::Generate(rng), rng);
}

absl::StatusOr<Ratchet> Ratchet::InitInitiatorWithKey(const WipedArray<32>& shared_key,
                                                      const PublicKey& remote_ratchet,
                                                      const PublicKey& initiator_identity,
                                                      const PublicKey& responder_identity,
                                                      DhKeyPair first_ratchet_key, Random& rng) {
  Ratchet r(initiator_identity, responder_identity, rng, RatchetOptions{});
  State& st = r.state_;
  st.root_key = shared_key;
  st.self = std::move(first_ratchet_key);
  st.remote = remote_ratchet;
  st.has_remote = true;
  WipedArray<32> dh_out;
  ALLIANCE_RETURN_IF_ERROR(Dh(st.self.secret, st.remote, &dh_out));
  RootStep(&st.root_key, dh_out, &st.send_chain);
  st.has_send = true;
  return r;
}

Ratchet Ratchet::InitResponder(const WipedArray<32>& shared_key, const DhKeyPair& signed_prekey,
                               const PublicKey& initiator_identity,
                               const PublicKey& responder_identity, Random& rng) {
  Ratchet r(initiator_identity, responder_identity, rng, RatchetOptions{});
  r.state_.root_key = shared_key;
  r.state_.self = signed_prekey;
  return r;
}

absl::Status Ratchet::Encrypt(ByteSpan plaintext, std::vector<uint8_t>* out) {
  if (plaintext.size() > kMaxPlaintextSize) {
    return absl::InvalidArgumentError("message is too large");
  }
  if (!state_.has_send) {
    if (!state_.has_remote) return absl::FailedPreconditionError("session cannot send yet");
    ALLIANCE_RETURN_IF_ERROR(SendStep());
  }
  WipedArray<32> mk;
  ChainStep(state_.send_chain, &mk, &state_.send_chain);
  WipedArray<kAeadKeySize + kAeadNonceSize> key_nonce;
  ExpandMessageKey(mk, &key_nonce);

  const size_t padded = PaddedSize(plaintext.size());
  const size_t start = out->size();
  out->resize(start + kRatchetHeaderSize + padded + kAeadTagSize);
  uint8_t* header = out->data() + start;
  header[0] = kRatchetVersion;
  std::memcpy(header + 1, state_.self.public_key.data(), 32);
  PutU32(header + 33, state_.prev_send_n);
  PutU32(header + 37, state_.send_n);
  ++state_.send_n;

  uint8_t ad[kAdSize];
  std::memcpy(ad, kAdDomain.data(), kAdDomainSize);
  std::memcpy(ad + kAdDomainSize, initiator_identity_.data(), 32);
  std::memcpy(ad + kAdDomainSize + 32, responder_identity_.data(), 32);
  std::memcpy(ad + kAdDomainSize + 64, header, kRatchetHeaderSize);

  uint8_t* body = header + kRatchetHeaderSize;
  if (!plaintext.empty()) std::memcpy(body, plaintext.data(), plaintext.size());
  ApplyPadding({body, padded}, plaintext.size());
  Aead::Seal(body, ByteSpan(body, padded), ByteSpan(ad, sizeof ad), key_nonce.data() + kAeadKeySize,
             key_nonce.data());
  return absl::OkStatus();
}

absl::Status Ratchet::Open(const WipedArray<32>& mk, ByteSpan message,
                           std::vector<uint8_t>* plaintext) const {
  WipedArray<kAeadKeySize + kAeadNonceSize> key_nonce;
  ExpandMessageKey(mk, &key_nonce);
  uint8_t ad[kAdSize];
  std::memcpy(ad, kAdDomain.data(), kAdDomainSize);
  std::memcpy(ad + kAdDomainSize, initiator_identity_.data(), 32);
  std::memcpy(ad + kAdDomainSize + 32, responder_identity_.data(), 32);
  std::memcpy(ad + kAdDomainSize + 64, message.data(), kRatchetHeaderSize);

  const ByteSpan sealed = message.subspan(kRatchetHeaderSize);
  plaintext->resize(sealed.size() - kAeadTagSize);
  if (!Aead::Open(plaintext->data(), sealed, ByteSpan(ad, sizeof ad),
                  key_nonce.data() + kAeadKeySize, key_nonce.data())) {
    plaintext->clear();
    return DecryptError();
  }
  absl::StatusOr<size_t> len = UnpaddedSize(*plaintext);
  if (!len.ok()) {
    sodium_memzero(plaintext->data(), plaintext->size());
    plaintext->clear();
    return DecryptError();
  }
  plaintext->resize(*len);
  return absl::OkStatus();
}

absl::Status Ratchet::SkipTo(State& st, uint32_t until, int64_t now,
                             std::vector<SkippedKey>* staged) const {
  if (until <= st.recv_n) return absl::OkStatus();
  if (!st.has_recv || until - st.recv_n > kMaxSkipPerChain) return DecryptError();
  while (st.recv_n < until) {
    SkippedKey& k = staged->emplace_back();
    k.ratchet = st.remote;
    k.counter = st.recv_n;
    k.stored_at = now;
    ChainStep(st.recv_chain, &k.key, &st.recv_chain);
    ++st.recv_n;
  }
  return absl::OkStatus();
}

absl::Status Ratchet::DhStep(State& st, const PublicKey& remote) const {
  st.prev_send_n = st.send_n;
  st.send_n = 0;
  st.recv_n = 0;
  st.remote = remote;
  st.has_remote = true;
  WipedArray<32> dh_out;
  if (!Dh(st.self.secret, st.remote, &dh_out).ok()) return DecryptError();
  RootStep(&st.root_key, dh_out, &st.recv_chain);
  st.has_recv = true;
  // The sending half of the step (a fresh key pair and a second DH) is deferred to the next
  // Encrypt: the wire result is the same, and a side that only receives never pays for it.
  st.has_send = false;
  return absl::OkStatus();
}

absl::Status Ratchet::SendStep() {
  State& st = state_;
  DhKeyPair fresh = DhKeyPair::Generate(*rng_);
  WipedArray<32> dh_out;
  ALLIANCE_RETURN_IF_ERROR(Dh(fresh.secret, st.remote, &dh_out));
  st.self = std::move(fresh);
  RootStep(&st.root_key, dh_out, &st.send_chain);
  st.has_send = true;
  return absl::OkStatus();
}

absl::Status Ratchet::Decrypt(ByteSpan message, int64_t now_unix, std::vector<uint8_t>* plaintext) {
  // Bounds and canonical form before any work.
  Header h;
  if (message.size() > kRatchetHeaderSize + PaddedSize(kMaxPlaintextSize) + kAeadTagSize ||
      message.size() < kRatchetHeaderSize + kPaddingBlock + kAeadTagSize ||
      (message.size() - kRatchetHeaderSize - kAeadTagSize) % kPaddingBlock != 0 ||
      !Header::Parse(message, &h)) {
    return DecryptError();
  }

  const bool same_key =
      state_.has_remote && sodium_memcmp(h.ratchet.data(), state_.remote.data(), 32) == 0;
  // Before the first reply the initiator's "remote" key is the responder's signed prekey, which
  // never heads a real message; there is no receiving chain yet to decrypt with.
  if (same_key && !state_.has_recv) return DecryptError();
  const bool current_chain = same_key;

  // A key skipped earlier (late or reordered message)?
  if (!current_chain || h.n < state_.recv_n) {
    for (auto it = skipped_.begin(); it != skipped_.end(); ++it) {
      if (it->counter == h.n && sodium_memcmp(it->ratchet.data(), h.ratchet.data(), 32) == 0) {
        ALLIANCE_RETURN_IF_ERROR(Open(it->key, message, plaintext));
        skipped_.erase(it);  // Single use: a replay finds nothing.
        return absl::OkStatus();
      }
    }
    if (current_chain) return DecryptError();  // Already consumed: a replay.
  }

  // Stage the new state; commit only after the tag verifies.
  State st = state_;
  std::vector<SkippedKey> staged;
  if (!current_chain) {
    ALLIANCE_RETURN_IF_ERROR(SkipTo(st, h.prev_n, now_unix, &staged));
    ALLIANCE_RETURN_IF_ERROR(DhStep(st, h.ratchet));
  }
  ALLIANCE_RETURN_IF_ERROR(SkipTo(st, h.n, now_unix, &staged));
  WipedArray<32> mk;
  ChainStep(st.recv_chain, &mk, &st.recv_chain);
  ++st.recv_n;
  ALLIANCE_RETURN_IF_ERROR(Open(mk, message, plaintext));

  state_ = std::move(st);
  for (SkippedKey& k : staged) skipped_.push_back(std::move(k));
  while (skipped_.size() > kMaxSkippedKeys) skipped_.pop_front();
  ExpireSkippedKeys(now_unix);
  return absl::OkStatus();
}

void Ratchet::ExpireSkippedKeys(int64_t now_unix) {
  const int64_t cutoff = now_unix - options_.skipped_key_max_age_seconds;
  while (!skipped_.empty() && skipped_.front().stored_at < cutoff) skipped_.pop_front();
}

void Ratchet::ToRecord(v1::SessionRecord* r) const {
  r->set_version(1);
  SetBytes(r->mutable_initiator_identity(), initiator_identity_);
  SetBytes(r->mutable_responder_identity(), responder_identity_);
  SetBytes(r->mutable_root_key(), state_.root_key.span());
  SetBytes(r->mutable_ratchet_public(), state_.self.public_key);
  SetBytes(r->mutable_ratchet_secret(), state_.self.secret.span());
  r->clear_remote_ratchet();
  if (state_.has_remote) SetBytes(r->mutable_remote_ratchet(), state_.remote);
  r->clear_sending_chain();
  if (state_.has_send) SetBytes(r->mutable_sending_chain(), state_.send_chain.span());
  r->clear_receiving_chain();
  if (state_.has_recv) SetBytes(r->mutable_receiving_chain(), state_.recv_chain.span());
  r->set_send_counter(state_.send_n);
  r->set_receive_counter(state_.recv_n);
  r->set_previous_send_counter(state_.prev_send_n);
  r->clear_skipped();
  for (const SkippedKey& k : skipped_) {
    v1::SkippedKeyRecord* s = r->add_skipped();
    SetBytes(s->mutable_ratchet_key(), k.ratchet);
    s->set_counter(k.counter);
    SetBytes(s->mutable_message_key(), k.key.span());
    s->set_stored_at(k.stored_at);
  }
}

absl::StatusOr<Ratchet> Ratchet::FromRecord(const v1::SessionRecord& r, Random& rng,
                                            const RatchetOptions& options) {
  if (r.version() != 1 || r.skipped_size() > static_cast<int>(kMaxSkippedKeys)) {
    return absl::InvalidArgumentError("malformed session record");
  }
  PublicKey ik_i, ik_r;
  ALLIANCE_RETURN_IF_ERROR(ReadPublic(r.initiator_identity(), &ik_i));
  ALLIANCE_RETURN_IF_ERROR(ReadPublic(r.responder_identity(), &ik_r));
  Ratchet out(ik_i, ik_r, rng, options);
  State& st = out.state_;
  ALLIANCE_RETURN_IF_ERROR(ReadKey(r.root_key(), &st.root_key));
  ALLIANCE_ASSIGN_OR_RETURN(st.self, DhKeyPair::FromSecret(AsBytes(r.ratchet_secret())));
  if (r.ratchet_public().size() != 32 ||
      std::memcmp(r.ratchet_public().data(), st.self.public_key.data(), 32) != 0) {
    return absl::InvalidArgumentError("malformed session record");
  }
  st.has_remote = !r.remote_ratchet().empty();
  if (st.has_remote) {
    ALLIANCE_RETURN_IF_ERROR(ReadPublic(r.remote_ratchet(), &st.remote));
  }
  st.has_send = !r.sending_chain().empty();
  if (st.has_send) {
    ALLIANCE_RETURN_IF_ERROR(ReadKey(r.sending_chain(), &st.send_chain));
  }
  st.has_recv = !r.receiving_chain().empty();
  if (st.has_recv) {
    ALLIANCE_RETURN_IF_ERROR(ReadKey(r.receiving_chain(), &st.recv_chain));
  }
  st.send_n = r.send_counter();
  st.recv_n = r.receive_counter();
  st.prev_send_n = r.previous_send_counter();
  for (const v1::SkippedKeyRecord& s : r.skipped()) {
    SkippedKey& k = out.skipped_.emplace_back();
    ALLIANCE_RETURN_IF_ERROR(ReadPublic(s.ratchet_key(), &k.ratchet));
    ALLIANCE_RETURN_IF_ERROR(ReadKey(s.message_key(), &k.key));
    k.counter = s.counter();
    k.stored_at = s.stored_at();
  }
  return out;
}

}  // namespace alliance::crypto

// Fuzz target: prekey-message and prekey-bundle parsing and verification (crypto/session.h,
// crypto/keys.h, crypto/x3dh.h).
//
// Input: mode byte ‖ body.
//   0: body is a prekey message. ParsePreKeyMessage; when it parses and names Bob's signed
//      prekey, Session::Respond with Bob's keys (X3DH on attacker-chosen keys, then the ratchet).
//   1: body is a v1::PreKeyBundle. VerifyPreKeyBundle as received; when it verifies, Alice
//      starts a session with it and her first message must parse back with the bundle's ids.
//   2: as 1, but the harness makes the bundle Bob's and re-signs its signed prekey, so that
//      the checks after the signature (freshness, key validity, small-order keys) are reached.
//   3: body is a v1::SignedDeviceList. VerifyDeviceList against Bob's identity as received,
//      then re-signed by Bob when its shape allows, so both the shape checks and what follows
//      a good signature are reached.
//   4: body is a sealed provisioning message; OpenProvision with a fixed link code.
// Invariants: no crash or UB; a parsed message lies inside the input; a failed Respond returns
// DecryptError() or INVALID_ARGUMENT; a verified bundle has 32-byte keys that round-trip; a
// verified device list is exactly the input's devices; a provisioning message that opens was
// sealed to the code (never, from fuzz input, but the target checks the codes on the way).
#include <cstring>

#include "crypto/devices.h"
#include "crypto/x3dh.h"
#include "tests/fuzz/fuzz_util.h"

namespace alliance::fuzz {
namespace {

using crypto::testing::Parties;

const Parties& Bob() {
  static const Parties* parties = new Parties();
  return *parties;
}

void FuzzPreKeyMessage(crypto::ByteSpan body) {
  absl::StatusOr<crypto::PreKeyMessage> pm = crypto::ParsePreKeyMessage(body);
  if (!pm.ok()) {
    Require(absl::IsInvalidArgument(pm.status()), "parse errors are INVALID_ARGUMENT");
    return;
  }
  Require(body.size() >= crypto::kPreKeyHeaderSize, "a parsed message has a full header");
  Require(pm->ratchet_message.data() == body.data() + crypto::kPreKeyHeaderSize &&
              pm->ratchet_message.size() == body.size() - crypto::kPreKeyHeaderSize,
          "the ratchet message is the rest of the input");
  const Parties& p = Bob();
  if (pm->signed_prekey_id != p.spk.id) return;  // Bob has no such key: the caller stops here.
  const crypto::DhKeyPair* opk = nullptr;
  if (pm->one_time_prekey_id.has_value()) {
    if (*pm->one_time_prekey_id != p.opk.id) return;
    opk = &p.opk.key;
  }
  crypto::DeterministicRandom rng(crypto::testing::Seed(0x5B));
  std::vector<uint8_t> plaintext;
  absl::StatusOr<crypto::Session> s =
      crypto::Session::Respond(p.bob, p.spk.key, opk, *pm, kNow, &plaintext, rng);
  if (!s.ok()) {
    Require(s.status() == crypto::DecryptError() || absl::IsInvalidArgument(s.status()),
            "Respond fails with DecryptError() or INVALID_ARGUMENT");
    return;
  }
  Require(plaintext.size() <= crypto::kMaxPlaintextSize, "plaintext within the limit");
  Require(s->remote_identity() == pm->initiator_identity, "the session is with the initiator");
}

void FuzzBundle(const v1::PreKeyBundle& bundle) {
  absl::StatusOr<crypto::VerifiedBundle> vb = crypto::VerifyPreKeyBundle(bundle, kNow);
  if (!vb.ok()) {
    const absl::StatusCode c = vb.status().code();
    Require(c == absl::StatusCode::kInvalidArgument || c == absl::StatusCode::kPermissionDenied ||
                c == absl::StatusCode::kFailedPrecondition,
            "bundle errors are the documented codes");
    return;
  }
  Require(bundle.identity_key().size() == 32 &&
              std::memcmp(vb->identity.data(), bundle.identity_key().data(), 32) == 0,
          "the verified identity is the bundle's");
  const Parties& p = Bob();
  crypto::DeterministicRandom rng(crypto::testing::Seed(0x5C));
  absl::StatusOr<crypto::Session> alice = crypto::Session::Initiate(p.alice, *vb, rng);
  if (!alice.ok()) {
    Require(absl::IsInvalidArgument(alice.status()), "Initiate fails with INVALID_ARGUMENT");
    return;
  }
  crypto::OutgoingMessage m;
  RequireOk(alice->Encrypt(Bytes("hi"), &m), "first message");
  Require(m.type == crypto::MessageType::kPreKey, "the first message is a prekey message");
  absl::StatusOr<crypto::PreKeyMessage> pm = crypto::ParsePreKeyMessage(m.bytes);
  RequireOk(pm.status(), "our own prekey message parses");
  Require(pm->signed_prekey_id == vb->signed_prekey_id &&
              pm->one_time_prekey_id == vb->one_time_prekey_id &&
              pm->initiator_identity == p.alice.public_key(),
          "the prekey message names the bundle's keys");
}

const std::vector<uint8_t> kRelayId(16, 0x5E);
const std::vector<uint8_t> kAccountId(16, 0xBB);

void FuzzDeviceList(v1::SignedDeviceList list, bool resign) {
  const Parties& p = Bob();
  if (resign && crypto::CheckDeviceListShape(list).ok()) {
    RequireOk(crypto::SignDeviceList(p.bob, kRelayId, kAccountId, &list), "a shaped list signs");
  }
  absl::StatusOr<crypto::VerifiedDeviceList> v =
      crypto::VerifyDeviceList(list, p.bob.public_key(), kRelayId, kAccountId);
  if (!v.ok()) {
    Require(absl::IsInvalidArgument(v.status()) || absl::IsPermissionDenied(v.status()),
            "device list errors are INVALID_ARGUMENT or PERMISSION_DENIED");
    return;
  }
  Require(v->version == list.version() &&
              v->devices.size() == static_cast<size_t>(list.devices_size()),
          "the verified list is the input's");
  for (const crypto::VerifiedDevice& d : v->devices) {
    Require(v->Find(d.device_id) == &d, "device ids are unique");
  }
}

void FuzzProvision(crypto::ByteSpan body) {
  static const crypto::DhKeyPair* code =
      new crypto::DhKeyPair(*crypto::DhKeyPair::FromSecret(crypto::testing::Seed(0x44)));
  absl::StatusOr<crypto::SecretBytes> opened = crypto::OpenProvision(*code, body);
  if (!opened.ok()) {
    Require(absl::IsPermissionDenied(opened.status()), "a refused provision is PERMISSION_DENIED");
    return;
  }
  Require(opened->size() + 1 + 32 + 16 < body.size(), "the plaintext is inside the input");
}

}  // namespace
}  // namespace alliance::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  alliance::fuzz::InitSodiumOrDie();
  (void)alliance::fuzz::Bob();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alliance;
  if (size < 1) return 0;
  const crypto::ByteSpan body(data + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      fuzz::FuzzPreKeyMessage(body);
      break;
    case 1:
    case 2: {
      v1::PreKeyBundle bundle;
      if (!bundle.ParseFromArray(body.data(), static_cast<int>(body.size()))) return 0;
      if (data[0] % 5 == 2) {
        const crypto::testing::Parties& p = fuzz::Bob();
        bundle.set_identity_key(reinterpret_cast<const char*>(p.bob.public_key().data()), 32);
        v1::SignedPreKey* spk = bundle.mutable_signed_prekey();
        if (spk->public_key().size() == 32) {
          crypto::PublicKey key;
          std::memcpy(key.data(), spk->public_key().data(), 32);
          crypto::Signature sig =
              p.bob.Sign(crypto::SignedPreKeyMessage(spk->id(), spk->created_at(), key));
          spk->set_signature(reinterpret_cast<const char*>(sig.data()), sig.size());
        }
      }
      fuzz::FuzzBundle(bundle);
      break;
    }
    case 3: {
      v1::SignedDeviceList list;
      if (!list.ParseFromArray(body.data(), static_cast<int>(body.size()))) return 0;
      fuzz::FuzzDeviceList(list, /*resign=*/false);
      fuzz::FuzzDeviceList(list, /*resign=*/true);
      break;
    }
    case 4:
      fuzz::FuzzProvision(body);
      break;
  }
  return 0;
}

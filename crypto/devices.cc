#include "crypto/devices.h"

#include <sodium.h>

#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "base/status_macros.h"
#include "crypto/aead.h"
#include "crypto/hkdf.h"
#include "crypto/padding.h"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::crypto {
namespace {

constexpr uint8_t kProvisionVersion = 1;
constexpr size_t kProvisionHeader = 1 + kKeySize;

std::string_view View(ByteSpan bytes) {
  return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

absl::Status MalformedList() { return absl::InvalidArgumentError("malformed device list"); }

// The list's entries, viewing its strings (valid while `list` is).
std::vector<wire::DeviceListEntry> Entries(const v1::SignedDeviceList& list) {
  return wire::DeviceListEntries(list.devices());
}

// The bytes the identity key signs for `list`. REQUIRES: CheckDeviceListShape(list).ok().
std::string SignedBytes(const v1::SignedDeviceList& list, ByteSpan relay_id, ByteSpan account_id) {
  return wire::DeviceListMessage(View(relay_id), View(account_id), list.version(), Entries(list));
}

bool IdsHaveWireSizes(ByteSpan relay_id, ByteSpan account_id) {
  return relay_id.size() == wire::kRelayIdSize && account_id.size() == wire::kAccountIdSize;
}

// key (32) || nonce (24) for a provisioning message.
void ProvisionKeys(const WipedArray<kKeySize>& shared, const PublicKey& ephemeral,
                   const PublicKey& code, WipedArray<Aead::kKeySize + Aead::kNonceSize>* out) {
  std::string info(wire::kLinkInfo);
  info.append(View(ephemeral));
  info.append(View(code));
  HkdfSha256({}, shared.span(), AsBytes(info), out->mutable_span());
}

std::string ProvisionAd(const PublicKey& code) {
  const LinkId id = LinkIdOf(code);
  std::string ad(wire::kLinkInfo);
  ad.append(View(id));
  return ad;
}

}  // namespace

const VerifiedDevice* VerifiedDeviceList::Find(uint32_t device_id) const {
  for (const VerifiedDevice& d : devices) {
    if (d.device_id == device_id) return &d;
  }
  return nullptr;
}

absl::Status CheckDeviceListShape(const v1::SignedDeviceList& list) {
  if (static_cast<size_t>(list.devices_size()) > wire::kMaxDevicesPerAccount ||
      !wire::IsCanonicalDeviceList(list.version(), Entries(list))) {
    return MalformedList();
  }
  return absl::OkStatus();
}

absl::Status SignDeviceList(const IdentityKeyPair& identity, ByteSpan relay_id,
                            ByteSpan account_id, v1::SignedDeviceList* list) {
  ALLIANCE_RETURN_IF_ERROR(CheckDeviceListShape(*list));
  if (!IdsHaveWireSizes(relay_id, account_id)) return MalformedList();
  const Signature signature = identity.Sign(AsBytes(SignedBytes(*list, relay_id, account_id)));
  list->set_signature(reinterpret_cast<const char*>(signature.data()), signature.size());
  return absl::OkStatus();
}

absl::StatusOr<VerifiedDeviceList> VerifyDeviceList(const v1::SignedDeviceList& list,
                                                    const PublicKey& identity, ByteSpan relay_id,
                                                    ByteSpan account_id, uint64_t min_version) {
  ALLIANCE_RETURN_IF_ERROR(CheckDeviceListShape(list));
  if (!IdsHaveWireSizes(relay_id, account_id) || list.signature().size() != kSignatureSize) {
    return MalformedList();
  }
  for (const v1::DeviceEntry& d : list.devices()) {
    if (d.device_key() == View(identity)) return MalformedList();
  }
  if (!VerifySignature(identity, AsBytes(SignedBytes(list, relay_id, account_id)),
                       AsBytes(list.signature()))) {
    return absl::PermissionDeniedError("device list is not signed by the account's identity key");
  }
  if (list.version() < min_version) {
    return absl::FailedPreconditionError("device list is older than one already seen");
  }
  VerifiedDeviceList out;
  out.version = list.version();
  for (const v1::DeviceEntry& d : list.devices()) {
    VerifiedDevice v;
    v.device_id = d.device_id();
    std::memcpy(v.device_key.data(), d.device_key().data(), kKeySize);
    v.added_at = d.added_at();
    out.devices.push_back(v);
  }
  return out;
}

LinkId LinkIdOf(const PublicKey& code) {
  LinkId id;
  std::string input(wire::kLinkIdDomain);
  input.append(View(code));
  crypto_generichash(id.data(), id.size(), reinterpret_cast<const uint8_t*>(input.data()),
                     input.size(), nullptr, 0);
  return id;
}

absl::StatusOr<std::string> SealProvision(const PublicKey& code, ByteSpan plaintext, Random& rng) {
  if (plaintext.size() > kMaxProvisionPlaintext) {
    return absl::InvalidArgumentError("provisioning message is too large");
  }
  DhKeyPair ephemeral = DhKeyPair::Generate(rng);
  WipedArray<kKeySize> shared;
  ALLIANCE_RETURN_IF_ERROR(Dh(ephemeral.secret, code, &shared));
  WipedArray<Aead::kKeySize + Aead::kNonceSize> okm;
  ProvisionKeys(shared, ephemeral.public_key, code, &okm);

  ALLIANCE_ASSIGN_OR_RETURN(SecretBytes padded, SecretBytes::Allocate(PaddedSize(plaintext.size())));
  if (!plaintext.empty()) std::memcpy(padded.data(), plaintext.data(), plaintext.size());
  ApplyPadding(padded.mutable_span(), plaintext.size());

  const std::string ad = ProvisionAd(code);
  std::string out(kProvisionHeader + padded.size() + Aead::kTagSize, '\0');
  out[0] = static_cast<char>(kProvisionVersion);
  std::memcpy(out.data() + 1, ephemeral.public_key.data(), kKeySize);
  Aead::Seal(reinterpret_cast<uint8_t*>(out.data()) + kProvisionHeader, padded.span(),
             AsBytes(ad), okm.data() + Aead::kKeySize, okm.data());
  return out;
}

absl::StatusOr<SecretBytes> OpenProvision(const DhKeyPair& code_pair, ByteSpan sealed) {
  const absl::Status refused =
      absl::PermissionDeniedError("the linking message does not open with this code");
  if (sealed.size() < kProvisionHeader + kPaddingBlock + Aead::kTagSize ||
      sealed.size() > kProvisionHeader + PaddedSize(kMaxProvisionPlaintext) + Aead::kTagSize ||
      sealed[0] != kProvisionVersion) {
    return refused;
  }
  PublicKey ephemeral;
  std::memcpy(ephemeral.data(), sealed.data() + 1, kKeySize);
  WipedArray<kKeySize> shared;
  if (!Dh(code_pair.secret, ephemeral, &shared).ok()) return refused;
  WipedArray<Aead::kKeySize + Aead::kNonceSize> okm;
  ProvisionKeys(shared, ephemeral, code_pair.public_key, &okm);

  const ByteSpan body = sealed.subspan(kProvisionHeader);
  ALLIANCE_ASSIGN_OR_RETURN(SecretBytes padded, SecretBytes::Allocate(body.size() - Aead::kTagSize));
  const std::string ad = ProvisionAd(code_pair.public_key);
  if (!Aead::Open(padded.data(), body, AsBytes(ad), okm.data() + Aead::kKeySize, okm.data())) {
    return refused;
  }
  absl::StatusOr<size_t> length = UnpaddedSize(padded.span());
  if (!length.ok()) return refused;
  ALLIANCE_ASSIGN_OR_RETURN(SecretBytes out, SecretBytes::Allocate(*length));
  if (*length > 0) std::memcpy(out.data(), padded.data(), *length);
  return out;
}

}  // namespace alliance::crypto

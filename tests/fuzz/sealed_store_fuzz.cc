// Fuzz target: sealed-store record unsealing (crypto/sealed_store.h).
//
// Input: mode byte ‖ body. The store key is created once per process (Argon2id at its
// INTERACTIVE cost, about a tenth of a second).
//   0: body = name length (1 byte) ‖ name ‖ sealed value: Open must refuse it with DATA_LOSS
//      ("stored value is damaged") — nobody without the key can forge a record.
//   1: body = name length ‖ name ‖ value: Seal, then Open gives the value back; the same
//      record under another name, or with any one byte changed, is refused with DATA_LOSS.
//   2: body is a v1::WrappedStoreKey (a key file as read from disk). Unwrap is called only
//      when the record is malformed or its cost outside the accepted range (so no Argon2id
//      runs on fuzzer-chosen parameters) and must answer INVALID_ARGUMENT before any work.
#include <cstring>

#include "crypto/sealed_store.h"
#include "tests/fuzz/fuzz_util.h"

namespace alliance::fuzz {
namespace {

using crypto::ByteSpan;
using crypto::StoreKey;

const StoreKey& Key() {
  static const StoreKey* key = [] {
    absl::StatusOr<StoreKey::Created> created =
        StoreKey::Create(Bytes("fuzz passphrase"), crypto::PassphraseCost::Interactive());
    RequireOk(created.status(), "create store key");
    return new StoreKey(std::move(created->key));
  }();
  return *key;
}

void RequireDamaged(const absl::StatusOr<crypto::SecretBytes>& opened, const char* what) {
  Require(!opened.ok() && absl::IsDataLoss(opened.status()) &&
              opened.status().message() == "stored value is damaged",
          what);
}

// Splits body into name and rest; false when too short.
bool SplitName(ByteSpan body, ByteSpan* name, ByteSpan* rest) {
  if (body.empty() || body.size() - 1 < body[0]) return false;
  *name = body.subspan(1, body[0]);
  *rest = body.subspan(1 + body[0]);
  return true;
}

void FuzzOpen(ByteSpan body) {
  ByteSpan name, sealed;
  if (!SplitName(body, &name, &sealed)) return;
  crypto::RecordName hashed = Key().Name(name);
  RequireDamaged(Key().Open(hashed, sealed), "a forged record is refused");
  RequireDamaged(Key().Open(name, sealed), "a forged record is refused (raw name)");
}

void FuzzRoundTrip(ByteSpan body) {
  ByteSpan name, value;
  if (!SplitName(body, &name, &value)) return;
  absl::StatusOr<std::vector<uint8_t>> sealed = Key().Seal(name, value);
  RequireOk(sealed.status(), "seal");
  Require(sealed->size() == value.size() + crypto::kSealOverhead, "sealed size");
  absl::StatusOr<crypto::SecretBytes> opened = Key().Open(name, *sealed);
  RequireOk(opened.status(), "open what was sealed");
  Require(opened->size() == value.size() &&
              (value.empty() || std::memcmp(opened->data(), value.data(), value.size()) == 0),
          "open gives the value back");
  std::vector<uint8_t> other_name(name.begin(), name.end());
  other_name.push_back(0);
  RequireDamaged(Key().Open(other_name, *sealed), "a record moved to another name is refused");
  // Flip one byte, chosen by the value's length so every position is reached over a run.
  std::vector<uint8_t> altered = *sealed;
  altered[(value.size() * 7919) % altered.size()] ^= 0x01;
  RequireDamaged(Key().Open(name, altered), "an altered record is refused");
  altered = *sealed;
  altered.pop_back();
  RequireDamaged(Key().Open(name, altered), "a truncated record is refused");
}

void FuzzUnwrap(ByteSpan body) {
  v1::WrappedStoreKey wrapped;
  if (!wrapped.ParseFromArray(body.data(), static_cast<int>(body.size()))) return;
  const bool well_formed = wrapped.version() == 1 && wrapped.salt().size() == 16 &&
                           wrapped.sealed_key().size() == crypto::kSealOverhead + 32;
  const bool cost_ok = wrapped.ops_limit() >= crypto_pwhash_OPSLIMIT_INTERACTIVE &&
                       wrapped.mem_limit() >= crypto_pwhash_MEMLIMIT_INTERACTIVE &&
                       wrapped.ops_limit() <= crypto::kMaxPassphraseOpsLimit &&
                       wrapped.mem_limit() <= crypto::kMaxPassphraseMemLimit;
  if (well_formed && cost_ok) return;  // Would run Argon2id: too slow to fuzz.
  absl::StatusOr<StoreKey> key = StoreKey::Unwrap(Bytes("fuzz passphrase"), wrapped);
  Require(!key.ok() && absl::IsInvalidArgument(key.status()),
          "a malformed or out-of-range key file is INVALID_ARGUMENT");
}

}  // namespace
}  // namespace alliance::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  alliance::fuzz::InitSodiumOrDie();
  (void)alliance::fuzz::Key();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alliance;
  if (size < 1) return 0;
  const crypto::ByteSpan body(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      fuzz::FuzzOpen(body);
      break;
    case 1:
      fuzz::FuzzRoundTrip(body);
      break;
    case 2:
      fuzz::FuzzUnwrap(body);
      break;
  }
  return 0;
}

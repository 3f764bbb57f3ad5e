#include "wire/signed_strings.h"

#include "base/bytes.h"
#include "wire/protocol.h"

namespace alliance::wire {

std::string LoginMessage(std::string_view relay_id, std::string_view nonce, uint64_t expires_at) {
  std::string m = base::Concat({kLoginDomain, relay_id, nonce});
  base::AppendU64BE(&m, expires_at);
  return m;
}

std::string RegisterMessage(std::string_view relay_id, std::string_view invite_code,
                            std::string_view identity_key) {
  return base::Concat({kRegisterDomain, relay_id, invite_code, identity_key});
}

std::string SignedPreKeyMessage(uint32_t id, uint64_t created_at, std::string_view public_key) {
  std::string m(kSignedPreKeyDomain);
  base::AppendU32BE(&m, id);
  base::AppendU64BE(&m, created_at);
  m.append(public_key);
  return m;
}

std::string DocumentMessage(std::string_view kind, std::string_view document) {
  return base::Concat({kDocumentDomainPrefix, kind, document});
}

}  // namespace alliance::wire

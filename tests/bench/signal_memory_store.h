// In-memory libsignal-protocol-c stores for one party, for the comparison benchmark.
//
// libsignal-protocol-c keeps no state of its own: the application provides session, pre-key,
// signed pre-key and identity stores, and the library serializes a session record into the
// session store after every message and parses it back before the next one. These stores keep
// the serialized records in maps, which is the least an application can do.
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto bob, SignalMemoryStore::Create(global, identity, 2));
//   session_cipher_create(&cipher, bob->context(), &alice_address, global);
//
// Identities are trusted on first use. Sender keys (group messaging) are not supported.
// Thread safety: none; one party's store is used from one thread at a time.
#ifndef ALLIANCE_TESTS_BENCH_SIGNAL_MEMORY_STORE_H_
#define ALLIANCE_TESTS_BENCH_SIGNAL_MEMORY_STORE_H_

#include <signal_protocol.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace alliance::bench {

class SignalMemoryStore final {
 public:
  // Creates the stores for a party whose long-term identity is `identity` (a reference is
  // taken; the caller keeps its own) and whose registration id is `registration_id`.
  // `global_context` must outlive the returned object. Returns INTERNAL if libsignal fails.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SignalMemoryStore>> Create(
      signal_context* global_context, ratchet_identity_key_pair* identity,
      uint32_t registration_id);

  SignalMemoryStore(const SignalMemoryStore&) = delete;
  SignalMemoryStore& operator=(const SignalMemoryStore&) = delete;
  ~SignalMemoryStore();

  // The store context to hand to session_builder_create / session_cipher_create. Owned by this
  // object; valid while it lives.
  signal_protocol_store_context* context() const { return context_; }

  // Forgets every session (identities and pre-keys stay), so the next bundle starts afresh.
  void ClearSessions() { sessions_.clear(); }

 private:
  using Address = std::pair<std::string, int32_t>;

  SignalMemoryStore() = default;

  static SignalMemoryStore& Self(void* user_data);
  static Address ToKey(const signal_protocol_address* address);

  // Session store callbacks.
  static int LoadSession(signal_buffer** record, signal_buffer** user_record,
                         const signal_protocol_address* address, void* user_data);
  static int GetSubDeviceSessions(signal_int_list** sessions, const char* name, size_t name_len,
                                  void* user_data);
  static int StoreSession(const signal_protocol_address* address, uint8_t* record,
                          size_t record_len, uint8_t* user_record, size_t user_record_len,
                          void* user_data);
  static int ContainsSession(const signal_protocol_address* address, void* user_data);
  static int DeleteSession(const signal_protocol_address* address, void* user_data);
  static int DeleteAllSessions(const char* name, size_t name_len, void* user_data);

  // Pre-key and signed pre-key store callbacks (both keep records in a map by id).
  static int LoadPreKey(signal_buffer** record, uint32_t id, void* user_data);
  static int StorePreKey(uint32_t id, uint8_t* record, size_t record_len, void* user_data);
  static int ContainsPreKey(uint32_t id, void* user_data);
  static int RemovePreKey(uint32_t id, void* user_data);
  static int LoadSignedPreKey(signal_buffer** record, uint32_t id, void* user_data);
  static int StoreSignedPreKey(uint32_t id, uint8_t* record, size_t record_len, void* user_data);
  static int ContainsSignedPreKey(uint32_t id, void* user_data);
  static int RemoveSignedPreKey(uint32_t id, void* user_data);

  // Identity store callbacks.
  static int GetIdentityKeyPair(signal_buffer** public_data, signal_buffer** private_data,
                                void* user_data);
  static int GetLocalRegistrationId(void* user_data, uint32_t* registration_id);
  static int SaveIdentity(const signal_protocol_address* address, uint8_t* key_data, size_t key_len,
                          void* user_data);
  static int IsTrustedIdentity(const signal_protocol_address* address, uint8_t* key_data,
                               size_t key_len, void* user_data);

  signal_protocol_store_context* context_ = nullptr;
  ratchet_identity_key_pair* identity_ = nullptr;
  signal_buffer* identity_public_ = nullptr;   // Serialized once, copied out on request.
  signal_buffer* identity_private_ = nullptr;  // Wiped when freed.
  uint32_t registration_id_ = 0;

  std::map<Address, std::vector<uint8_t>> sessions_;
  std::map<uint32_t, std::vector<uint8_t>> pre_keys_;
  std::map<uint32_t, std::vector<uint8_t>> signed_pre_keys_;
  std::map<std::string, std::vector<uint8_t>> identities_;  // Trusted keys by remote name.
};

}  // namespace alliance::bench

#endif  // ALLIANCE_TESTS_BENCH_SIGNAL_MEMORY_STORE_H_

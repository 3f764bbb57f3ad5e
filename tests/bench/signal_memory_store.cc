#include "tests/bench/signal_memory_store.h"

#include <curve.h>
#include <ratchet.h>

#include <algorithm>

#include "absl/status/status.h"

namespace alliance::bench {
namespace {

// Copies `bytes` into a fresh signal_buffer that libsignal will free.
int CopyOut(const std::vector<uint8_t>& bytes, signal_buffer** out) {
  *out = signal_buffer_create(bytes.data(), bytes.size());
  return *out == nullptr ? SG_ERR_NOMEM : SG_SUCCESS;
}

int LoadById(const std::map<uint32_t, std::vector<uint8_t>>& records, uint32_t id,
             signal_buffer** out) {
  auto it = records.find(id);
  if (it == records.end()) return SG_ERR_INVALID_KEY_ID;
  return CopyOut(it->second, out);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SignalMemoryStore>> SignalMemoryStore::Create(
    signal_context* global_context, ratchet_identity_key_pair* identity, uint32_t registration_id) {
  std::unique_ptr<SignalMemoryStore> s(new SignalMemoryStore());
  SIGNAL_REF(identity);
  s->identity_ = identity;
  s->registration_id_ = registration_id;
  if (ec_public_key_serialize(&s->identity_public_,
                              ratchet_identity_key_pair_get_public(identity)) != SG_SUCCESS ||
      ec_private_key_serialize(&s->identity_private_,
                               ratchet_identity_key_pair_get_private(identity)) != SG_SUCCESS) {
    return absl::InternalError("libsignal: cannot serialize the identity key pair");
  }
  if (signal_protocol_store_context_create(&s->context_, global_context) != SG_SUCCESS) {
    return absl::InternalError("libsignal: cannot create a store context");
  }
  void* self = s.get();
  // destroy_func stays null: this object owns the maps and outlives the store context.
  const signal_protocol_session_store sessions = {
      .load_session_func = &LoadSession,
      .get_sub_device_sessions_func = &GetSubDeviceSessions,
      .store_session_func = &StoreSession,
      .contains_session_func = &ContainsSession,
      .delete_session_func = &DeleteSession,
      .delete_all_sessions_func = &DeleteAllSessions,
      .destroy_func = nullptr,
      .user_data = self,
  };
  const signal_protocol_pre_key_store pre_keys = {
      .load_pre_key = &LoadPreKey,
      .store_pre_key = &StorePreKey,
      .contains_pre_key = &ContainsPreKey,
      .remove_pre_key = &RemovePreKey,
      .destroy_func = nullptr,
      .user_data = self,
  };
  const signal_protocol_signed_pre_key_store signed_pre_keys = {
      .load_signed_pre_key = &LoadSignedPreKey,
      .store_signed_pre_key = &StoreSignedPreKey,
      .contains_signed_pre_key = &ContainsSignedPreKey,
      .remove_signed_pre_key = &RemoveSignedPreKey,
      .destroy_func = nullptr,
      .user_data = self,
  };
  const signal_protocol_identity_key_store identities = {
      .get_identity_key_pair = &GetIdentityKeyPair,
      .get_local_registration_id = &GetLocalRegistrationId,
      .save_identity = &SaveIdentity,
      .is_trusted_identity = &IsTrustedIdentity,
      .destroy_func = nullptr,
      .user_data = self,
  };
  if (signal_protocol_store_context_set_session_store(s->context_, &sessions) != SG_SUCCESS ||
      signal_protocol_store_context_set_pre_key_store(s->context_, &pre_keys) != SG_SUCCESS ||
      signal_protocol_store_context_set_signed_pre_key_store(s->context_, &signed_pre_keys) !=
          SG_SUCCESS ||
      signal_protocol_store_context_set_identity_key_store(s->context_, &identities) !=
          SG_SUCCESS) {
    return absl::InternalError("libsignal: cannot install the stores");
  }
  return s;
}

SignalMemoryStore::~SignalMemoryStore() {
  signal_protocol_store_context_destroy(context_);
  signal_buffer_free(identity_public_);
  signal_buffer_bzero_free(identity_private_);
  if (identity_ != nullptr) SIGNAL_UNREF(identity_);
}

SignalMemoryStore& SignalMemoryStore::Self(void* user_data) {
  return *static_cast<SignalMemoryStore*>(user_data);
}

SignalMemoryStore::Address SignalMemoryStore::ToKey(const signal_protocol_address* address) {
  return {std::string(address->name, address->name_len), address->device_id};
}

int SignalMemoryStore::LoadSession(signal_buffer** record, signal_buffer**,
                                   const signal_protocol_address* address, void* user_data) {
  const auto& sessions = Self(user_data).sessions_;
  auto it = sessions.find(ToKey(address));
  if (it == sessions.end()) return 0;
  return CopyOut(it->second, record) == SG_SUCCESS ? 1 : SG_ERR_NOMEM;
}

int SignalMemoryStore::GetSubDeviceSessions(signal_int_list** sessions, const char* name,
                                            size_t name_len, void* user_data) {
  const std::string wanted(name, name_len);
  signal_int_list* list = signal_int_list_alloc();
  if (list == nullptr) return SG_ERR_NOMEM;
  for (const auto& [key, record] : Self(user_data).sessions_) {
    if (key.first == wanted && signal_int_list_push_back(list, key.second) != SG_SUCCESS) {
      signal_int_list_free(list);
      return SG_ERR_NOMEM;
    }
  }
  *sessions = list;
  return static_cast<int>(signal_int_list_size(list));
}

int SignalMemoryStore::StoreSession(const signal_protocol_address* address, uint8_t* record,
                                    size_t record_len, uint8_t*, size_t, void* user_data) {
  Self(user_data).sessions_[ToKey(address)].assign(record, record + record_len);
  return SG_SUCCESS;
}

int SignalMemoryStore::ContainsSession(const signal_protocol_address* address, void* user_data) {
  return Self(user_data).sessions_.contains(ToKey(address)) ? 1 : 0;
}

int SignalMemoryStore::DeleteSession(const signal_protocol_address* address, void* user_data) {
  return Self(user_data).sessions_.erase(ToKey(address)) > 0 ? 1 : 0;
}

int SignalMemoryStore::DeleteAllSessions(const char* name, size_t name_len, void* user_data) {
  const std::string wanted(name, name_len);
  return static_cast<int>(std::erase_if(
      Self(user_data).sessions_, [&](const auto& entry) { return entry.first.first == wanted; }));
}

int SignalMemoryStore::LoadPreKey(signal_buffer** record, uint32_t id, void* user_data) {
  return LoadById(Self(user_data).pre_keys_, id, record);
}

int SignalMemoryStore::StorePreKey(uint32_t id, uint8_t* record, size_t record_len,
                                   void* user_data) {
  Self(user_data).pre_keys_[id].assign(record, record + record_len);
  return SG_SUCCESS;
}

int SignalMemoryStore::ContainsPreKey(uint32_t id, void* user_data) {
  return Self(user_data).pre_keys_.contains(id) ? 1 : 0;
}

int SignalMemoryStore::RemovePreKey(uint32_t id, void* user_data) {
  Self(user_data).pre_keys_.erase(id);
  return SG_SUCCESS;
}

int SignalMemoryStore::LoadSignedPreKey(signal_buffer** record, uint32_t id, void* user_data) {
  return LoadById(Self(user_data).signed_pre_keys_, id, record);
}

int SignalMemoryStore::StoreSignedPreKey(uint32_t id, uint8_t* record, size_t record_len,
                                         void* user_data) {
  Self(user_data).signed_pre_keys_[id].assign(record, record + record_len);
  return SG_SUCCESS;
}

int SignalMemoryStore::ContainsSignedPreKey(uint32_t id, void* user_data) {
  return Self(user_data).signed_pre_keys_.contains(id) ? 1 : 0;
}

int SignalMemoryStore::RemoveSignedPreKey(uint32_t id, void* user_data) {
  Self(user_data).signed_pre_keys_.erase(id);
  return SG_SUCCESS;
}

int SignalMemoryStore::GetIdentityKeyPair(signal_buffer** public_data, signal_buffer** private_data,
                                          void* user_data) {
  const SignalMemoryStore& self = Self(user_data);
  *public_data = signal_buffer_copy(self.identity_public_);
  *private_data = signal_buffer_copy(self.identity_private_);
  if (*public_data == nullptr || *private_data == nullptr) {
    signal_buffer_free(*public_data);
    signal_buffer_bzero_free(*private_data);
    *public_data = *private_data = nullptr;
    return SG_ERR_NOMEM;
  }
  return SG_SUCCESS;
}

int SignalMemoryStore::GetLocalRegistrationId(void* user_data, uint32_t* registration_id) {
  *registration_id = Self(user_data).registration_id_;
  return SG_SUCCESS;
}

int SignalMemoryStore::SaveIdentity(const signal_protocol_address* address, uint8_t* key_data,
                                    size_t key_len, void* user_data) {
  auto& identities = Self(user_data).identities_;
  std::string name(address->name, address->name_len);
  if (key_data == nullptr) {
    identities.erase(name);
  } else {
    identities[std::move(name)].assign(key_data, key_data + key_len);
  }
  return SG_SUCCESS;
}

int SignalMemoryStore::IsTrustedIdentity(const signal_protocol_address* address, uint8_t* key_data,
                                         size_t key_len, void* user_data) {
  const auto& identities = Self(user_data).identities_;
  auto it = identities.find(std::string(address->name, address->name_len));
  if (it == identities.end()) return 1;  // Trust on first use.
  return std::equal(it->second.begin(), it->second.end(), key_data, key_data + key_len) ? 1 : 0;
}

}  // namespace alliance::bench

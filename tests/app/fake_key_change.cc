// Test tool for the browser tests: makes a contact's identity key look changed, the way the
// library's trust tests do (tests/client/trust_test.cc FakeKeyChange), by flipping a bit of the
// key pinned in the profile. The relay then presents the real key as a new one.
//
//   fake_key_change PROFILE_DIR PASSPHRASE_FILE CONTACT_ID_HEX
#include <sodium.h>

#include <fstream>
#include <iostream>
#include <string>

#include "alliance/v1/client_records.pb.h"
#include "client/local_store.h"
#include "client/store_names.h"

int main(int argc, char** argv) {
  using namespace alliance;
  if (argc != 4) {
    std::cerr << "usage: fake_key_change PROFILE_DIR PASSPHRASE_FILE CONTACT_ID_HEX\n";
    return 2;
  }
  if (sodium_init() < 0) return 1;
  std::ifstream in(argv[2]);
  std::string pass;
  std::getline(in, pass);
  auto store = client::LocalStore::Open(argv[1], crypto::AsBytes(pass),
                                        {.hold_open = false, .lock_wait = absl::Seconds(30)});
  if (!store.ok()) {
    std::cerr << "fake_key_change: " << store.status() << "\n";
    return 1;
  }
  const std::string id = argv[3];
  absl::Status s = (*store)->Run([&](client::LocalStore::Txn& txn) -> absl::Status {
    auto c = txn.Get<v1::ContactRecord>(client::names::Contact(id));
    if (!c.ok()) return c.status();
    if (!c->has_value()) return absl::NotFoundError("no such contact");
    std::string key = (*c)->identity_key();
    key[0] ^= 1;
    (*c)->set_identity_key(key);
    return txn.Put(client::names::Contact(id), **c);
  });
  if (!s.ok()) {
    std::cerr << "fake_key_change: " << s << "\n";
    return 1;
  }
  return 0;
}

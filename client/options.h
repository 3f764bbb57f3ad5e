// Every option of the client library in one place, each with its default: the relay, the
// local store and the client itself. No gRPC or RocksDB types, so front ends include it freely.
//
//   ClientOptions o{.profile_dir = dir};
//   o.relay.address = "relay.clinic.example:7443";
//   o.relay.ca_file = "ca.pem";
#ifndef ALLIANCE_CLIENT_OPTIONS_H_
#define ALLIANCE_CLIENT_OPTIONS_H_

#include <functional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crypto/sealed_store.h"

namespace alliance::client {

struct RelayOptions {
  // host:port of the relay.
  std::string address;
  // PEM file of the CA that signed the relay's certificate; empty for plaintext (loopback only).
  std::string ca_file;
  // Deadline of each unary call. Default: 15 s.
  absl::Duration call_timeout = absl::Seconds(15);
  // Allow plaintext to a relay that is not on this machine. Default: false (plaintext only to
  // loopback addresses; anything else needs ca_file).
  bool insecure = false;
};

struct LocalStoreOptions {
  // Keep the database open between transactions (single-process embedding). Default: true.
  bool hold_open = true;
  // How long Run waits for another process to release the database. Default: 10 s.
  absl::Duration lock_wait = absl::Seconds(10);
  // With hold_open false: keep the database open this long after a transaction, so that a
  // burst of transactions (one send is about a dozen) opens it once; another process waits at
  // most this much longer. Default: 0 (closed at the end of every transaction).
  absl::Duration linger = absl::ZeroDuration();
  // Argon2id cost for a new profile (the cost is stored with the wrapped key, so opening an
  // existing profile uses whatever it was created with). Default: PassphraseCost::Moderate().
  crypto::PassphraseCost cost;
};

struct ClientOptions {
  // Profile directory (created by Init).
  std::string profile_dir;
  // Relay to use. An empty address means the one the profile registered with.
  RelayOptions relay;
  LocalStoreOptions store;
  // Clock; tests inject one. Default: absl::Now.
  std::function<absl::Time()> clock;
  // Fault injection for tests: called after received envelopes are durably stored and before
  // they are acknowledged to the relay (a test makes it simulate a crash). Default: none.
  std::function<void()> before_ack;
  // Fault injection for tests: asked before each piece of an attachment upload or download
  // with the bytes done so far; true breaks the stream there, as a dropped connection would
  // (the library then resumes). Default: none.
  std::function<bool(uint64_t offset)> transfer_fault;
};

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_OPTIONS_H_

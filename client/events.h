// Typed events a front end subscribes to, so that it never polls or parses CLI output.
//
//   client->Subscribe([](const ClientEvent& e) {
//     if (auto* m = std::get_if<MessageEvent>(&e)) ShowMessage(m->message);
//   });
//
// An event is delivered after the change it reports is durably stored, on the thread that
// caused it (the one in Sync, Listen or a Send...), with no lock of the client held: a handler
// may call back into the client. Handlers must not block for long.
#ifndef ALLIANCE_CLIENT_EVENTS_H_
#define ALLIANCE_CLIENT_EVENTS_H_

#include <functional>
#include <string>
#include <variant>

#include "alliance/v1/client_records.pb.h"
#include "client/views.h"

namespace alliance::client {

// A message was stored: received, or written here (queued or sent).
struct MessageEvent {
  MessageView message;
};

// One of our messages changed state: sent, delivered, read (or failed).
struct DeliveryStateEvent {
  std::string contact_id;  // Hex.
  std::string message_id;  // Hex.
  v1::DeliveryState state = v1::DELIVERY_STATE_UNSPECIFIED;
};

// A contact's identity key changed: sending to it is blocked until the user compares safety
// numbers and accepts the new key.
struct IdentityChangedEvent {
  std::string contact_id;  // Hex.
};

// A contact's shared name or read-receipt setting changed.
struct ContactChangedEvent {
  std::string contact_id;  // Hex.
};

// The care agreement or the out-of-office periods with a contact changed.
struct AgreementChangedEvent {
  std::string contact_id;  // Hex.
};

// Concerns or goals with a contact changed.
struct CareChangedEvent {
  std::string contact_id;  // Hex.
};

// A care document from a contact was refused by the care rules (forged, conflicting, out of
// bounds): nothing of it was applied. Reported so that it is not silently lost.
struct CareRejectedEvent {
  std::string contact_id;  // Hex.
};

// What awaits the therapist's reply may have changed (a message or concern arrived, a reply
// was sent).
struct DueListChangedEvent {};

using ClientEvent =
    std::variant<MessageEvent, DeliveryStateEvent, IdentityChangedEvent, ContactChangedEvent,
                 AgreementChangedEvent, CareChangedEvent, CareRejectedEvent, DueListChangedEvent>;

using EventHandler = std::function<void(const ClientEvent&)>;

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_EVENTS_H_

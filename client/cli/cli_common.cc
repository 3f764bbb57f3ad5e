#include "client/cli/cli_common.h"

#include "client/attachment_files.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/cli/passphrase.h"

namespace alliance::cli {

std::string Printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      out.push_back(c == '\n' || c == '\t' ? ' ' : '?');
    } else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      out.push_back('?');  // C1 control character (U+0080..U+009F), e.g. a CSI.
      ++i;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string DefaultProfile() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg != nullptr && *xdg != '\0') return std::string(xdg) + "/alliance";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.local/share/alliance";
}

absl::StatusOr<v1::Role> ParseRole(const std::string& s) {
  if (s == "admin") return v1::ROLE_ADMIN;
  if (s == "therapist") return v1::ROLE_THERAPIST;
  if (s == "client") return v1::ROLE_CLIENT;
  return absl::InvalidArgumentError("role must be admin, therapist or client");
}

const char* IntentName(v1::Intent i) {
  switch (i) {
    case v1::INTENT_FOR_NEXT_SESSION:
      return "next-session";
    case v1::INTENT_JUST_LETTING_YOU_KNOW:
      return "fyi";
    default:
      return "needs-reply";
  }
}

std::string LocalTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M", t, absl::LocalTimeZone());
}

std::string Name(const ContactView& c) {
  std::string n = c.display_name.empty() ? c.id.substr(0, 8) : Printable(c.display_name);
  return absl::StrCat(n, " (", client::RoleName(c.role), ")");
}

std::string Recipient(const ContactView& c) {
  std::string out = absl::StrCat(client::RoleName(c.role), " ", c.id.substr(0, 8));
  if (!c.display_name.empty()) absl::StrAppend(&out, " \"", Printable(c.display_name), "\"");
  return out;
}

json AttachmentsJson(const MessageView& m) {
  json arr = json::array();
  for (const client::AttachmentView& a : m.attachments) {
    arr.push_back({{"index", a.index},
                   {"file_name", a.file_name},
                   {"media_type", a.media_type},
                   {"size", a.size},
                   {"has_thumbnail", !a.thumbnail.empty()}});
  }
  return arr;
}

json ToJson(const MessageView& m) {
  return {{"contact", m.contact_id},
          {"contact_name", m.contact_name},
          {"id", m.id},
          {"index", m.index},
          {"direction", m.device_added                          ? "event"
                        : m.direction == v1::DIRECTION_OUTGOING ? "sent"
                                                                : "received"},
          {"sent_at", absl::FormatTime(absl::RFC3339_sec, m.sent_at, absl::UTCTimeZone())},
          {"state", client::DeliveryStateName(m.state)},
          {"intent", IntentName(m.intent)},
          {"urgent", m.urgent},
          {"read", m.read},
          {"identity_unverified", m.identity_unverified},
          {"undecryptable", m.undecryptable},
          {"body", m.body},
          {"attachments", AttachmentsJson(m)}};
}

json ToJson(const ContactView& c) {
  return {{"id", c.id},
          {"role", client::RoleName(c.role)},
          {"display_name", c.display_name},
          {"verified", c.verified},
          {"identity_changed", c.identity_changed},
          {"messages", c.messages},
          {"unread", c.unread},
          {"missing_messages", c.missing_messages},
          {"missing_before",
           c.missing_before ? json(LocalTime(*c.missing_before)) : json(nullptr)}};
}

std::string MissingLine(const ContactView& c) {
  if (c.missing_messages == 0 || !c.missing_before) return "";
  return absl::StrCat("! ", c.missing_messages,
                      c.missing_messages == 1 ? " message from " : " messages from ", Name(c),
                      " sent before ", LocalTime(*c.missing_before),
                      c.missing_messages == 1 ? " has" : " have",
                      " not arrived (later ones did). If it does not come, tell your clinic: "
                      "the server may be holding it back.");
}

void PrintMessage(const MessageView& m) {
  if (m.device_added) {
    std::printf("%s  -- %s --\n", LocalTime(m.sent_at).c_str(), Printable(m.body).c_str());
    return;
  }
  const std::string who =
      m.direction == v1::DIRECTION_OUTGOING
          ? "you"
          : Printable(m.contact_name.empty() ? m.contact_id.substr(0, 8) : m.contact_name);
  // Flags come before the text, so nothing in the text can hide them.
  std::string flags;
  if (m.identity_unverified) flags += "[IDENTITY CHANGED] ";
  if (m.urgent) flags += "[urgent] ";
  if (m.intent == v1::INTENT_FOR_NEXT_SESSION) flags += "[for next session] ";
  if (m.intent == v1::INTENT_JUST_LETTING_YOU_KNOW) flags += "[fyi] ";
  if (m.direction == v1::DIRECTION_OUTGOING) {
    flags += absl::StrCat("(", client::DeliveryStateName(m.state), ") ");
  }
  const std::string text =
      m.undecryptable ? "<a message that could not be decrypted>" : Printable(m.body);
  std::printf("%s  %s: %s%s\n", LocalTime(m.sent_at).c_str(), who.c_str(), flags.c_str(),
              text.c_str());
  for (const client::AttachmentView& a : m.attachments) {
    // The name is the sender's choice: printed safely, with the command that saves it.
    std::printf("    [file] %s (%s)  alliance attachments get %s%s\n",
                Printable(a.file_name).c_str(), client::FormatFileSize(a.size).c_str(),
                m.id.substr(0, 8).c_str(),
                m.attachments.size() > 1 ? absl::StrCat(" ", a.index).c_str() : "");
  }
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "alliance: %s\n", Printable(std::string(s.message())).c_str());
  return 1;
}

absl::StatusOr<std::unique_ptr<Client>> OpenClient(const Globals& g) {
  ALLIANCE_ASSIGN_OR_RETURN(crypto::SecretBytes pass, ReadPassphrase(g.passphrase_file, false));
  ClientOptions o;
  o.profile_dir = g.profile;
  o.relay.address = g.relay;
  o.relay.ca_file = g.ca_file;
  o.relay.insecure = g.insecure;
  o.store.hold_open = false;  // Let `watch` and other commands share the profile.
  if (std::getenv("ALLIANCE_TEST_CRASH_BEFORE_ACK") != nullptr) {
    // Test-only fault injection: die like `kill -9` after storing, before acknowledging.
    o.before_ack = [] { ::_exit(137); };
  }
  return Client::Open(o, pass.span());
}

absl::Status SyncTolerant(Client& c) {
  absl::Status synced = c.Sync().status();
  if (!synced.ok() && !absl::IsUnavailable(synced)) return synced;
  return absl::OkStatus();
}

void Output::Print(const json& data, std::string_view text) const {
  if (g_.json_output) {
    std::cout << data.dump() << "\n";
    std::cout.flush();  // `watch` prints as things happen, often into a pipe or a file
    return;
  }
  Note(text);
}

void Output::Note(std::string_view text) const {
  if (g_.json_output || text.empty()) return;
  std::cout << text;
  if (text.back() != '\n') std::cout << "\n";
  std::cout.flush();
}

}  // namespace alliance::cli

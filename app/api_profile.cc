// Routes for the profile: state, create, register, unlock, lock, settings (app/API.md).
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "app/api.h"
#include "base/status_macros.h"

namespace alliance::app {
namespace {

constexpr size_t kMinPassphrase = 8;
constexpr size_t kMaxPassphrase = 1024;
constexpr size_t kMaxCaPem = 64 * 1024;

absl::Status StateJson(AppSession& s, Json& out) {
  out["profile"] = s.ProfileExists();
  out["unlocked"] = s.unlocked();
  out["registered"] = false;
  out["account"] = nullptr;
  out["online"] = s.online();
  out["idle_minutes"] = absl::ToInt64Minutes(s.idle());
  out["held_until_text"] = nullptr;
  absl::StatusOr<std::shared_ptr<client::Client>> c = s.Client();
  if (!c.ok()) return absl::OkStatus();
  absl::StatusOr<client::AccountView> a = (*c)->Account();
  if (!a.ok()) return absl::OkStatus();
  out["registered"] = true;
  out["account"] = Json{{"id", a->id},
                        {"role", client::RoleName(a->role)},
                        {"name", a->display_name},
                        {"relay", a->relay_address},
                        {"read_receipts", a->read_receipts}};
  if (a->role == v1::ROLE_THERAPIST) {
    // Outside the therapist's own working windows, notifications wait until the next one.
    absl::StatusOr<std::vector<client::ContactView>> contacts = (*c)->Contacts(false);
    if (contacts.ok()) {
      for (const client::ContactView& contact : *contacts) {
        if (contact.role != v1::ROLE_CLIENT) continue;
        absl::StatusOr<std::optional<absl::Time>> held = (*c)->HeldUntil(contact.id);
        if (held.ok() && held->has_value()) {
          out["held_until_text"] = TimeText(**held);
          break;
        }
      }
    }
  }
  return absl::OkStatus();
}

// Copies the passphrase into locked memory and wipes the parsed copy.
absl::StatusOr<crypto::SecretBytes> Passphrase(Json& body) {
  auto it = body.find("passphrase");
  if (it == body.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return absl::InvalidArgumentError("enter your passphrase");
  }
  std::string& p = it->get_ref<std::string&>();
  absl::StatusOr<crypto::SecretBytes> secret =
      p.size() > kMaxPassphrase ? absl::InvalidArgumentError("that passphrase is too long")
                                : crypto::SecretBytes::Allocate(p.size());
  if (secret.ok()) std::copy(p.begin(), p.end(), secret->data());
  sodium_memzero(p.data(), p.size());
  return secret;
}

// Overwrites the request's copy of the passphrase once it has been used.
void Wipe(const httplib::Request& req) {
  auto& body = const_cast<std::string&>(req.body);
  sodium_memzero(body.data(), body.size());
}

absl::Status WriteCa(const std::string& path, const std::string& pem) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError("the CA file could not be saved");
  const bool ok = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError("the CA file could not be saved");
  }
  return absl::OkStatus();
}

// The clinic's server from a request body: "relay" (host:port) and "ca_pem" (the PEM text of
// its CA file, or ""; stored in the profile directory).
absl::StatusOr<client::RelayOptions> RelayFromBody(AppSession& s, const Json& body) {
  ALLIANCE_ASSIGN_OR_RETURN(std::string relay, Str(body, "relay", 255, "the server address"));
  ALLIANCE_ASSIGN_OR_RETURN(std::string ca_pem,
                            Str(body, "ca_pem", kMaxCaPem, "the CA file", false));
  if (relay.find(':') == std::string::npos) {
    return absl::InvalidArgumentError("the server address needs a port, like "
                                      "relay.clinic.example:7443");
  }
  client::RelayOptions ro;
  ro.address = relay;
  if (!ca_pem.empty()) {
    if (!absl::StrContains(ca_pem, "-----BEGIN CERTIFICATE-----")) {
      return absl::InvalidArgumentError("that file is not a certificate (PEM)");
    }
    ro.ca_file = s.profile_dir() + "/relay-ca.pem";
    ALLIANCE_RETURN_IF_ERROR(WriteCa(ro.ca_file, ca_pem));
  }
  return ro;
}

}  // namespace

void AddProfileRoutes(Routes& r) {
  r.GetSession("/api/state", [](const httplib::Request&, AppSession& s, Json& out) -> absl::Status {
    return StateJson(s, out);
  });

  r.PostSession("/api/profile", [](const httplib::Request& req, AppSession& s, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
    absl::StatusOr<crypto::SecretBytes> pass = Passphrase(body);
    Wipe(req);
    if (!pass.ok()) return pass.status();
    if (pass->size() < kMinPassphrase) {
      return absl::InvalidArgumentError("choose a passphrase of at least 8 characters");
    }
    if (s.ProfileExists()) return absl::AlreadyExistsError("this device already has a profile");
    ALLIANCE_RETURN_IF_ERROR(s.Create(pass->span()));
    return StateJson(s, out);
  });

  r.PostSession("/api/unlock", [](const httplib::Request& req, AppSession& s, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
    absl::StatusOr<crypto::SecretBytes> pass = Passphrase(body);
    Wipe(req);
    if (!pass.ok()) return pass.status();
    if (!s.ProfileExists()) return absl::FailedPreconditionError("there is no profile yet");
    absl::Status unlocked = s.Unlock(pass->span());
    if (absl::IsPermissionDenied(unlocked) || absl::IsInvalidArgument(unlocked)) {
      return absl::PermissionDeniedError("passphrase");
    }
    ALLIANCE_RETURN_IF_ERROR(unlocked);
    return StateJson(s, out);
  });

  r.PostSession("/api/lock", [](const httplib::Request&, AppSession& s, Json&) -> absl::Status {
    s.Lock();
    return absl::OkStatus();
  });

  r.PostSession("/api/register", [](const httplib::Request& req, AppSession& s, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::shared_ptr<client::Client> c, s.Client());
    ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
    ALLIANCE_ASSIGN_OR_RETURN(std::string invite_text, Str(body, "invite", 200, "the invite code"));
    ALLIANCE_ASSIGN_OR_RETURN(std::string name, Str(body, "name", 200, "your name", false));
    absl::StatusOr<std::string> invite = client::ParseInviteCode(invite_text);
    if (!invite.ok()) {
      return absl::InvalidArgumentError("that invite code is not complete: it has 32 characters");
    }
    ALLIANCE_ASSIGN_OR_RETURN(client::RelayOptions ro, RelayFromBody(s, body));
    ALLIANCE_RETURN_IF_ERROR(c->Register(*invite, name, ro));
    s.StartListening();
    return StateJson(s, out);
  });

  // Linking this app's profile to an account used on another device (DESIGN §4).
  r.PostSession("/api/link/start", [](const httplib::Request& req, AppSession& s, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::shared_ptr<client::Client> c, s.Client());
    ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
    ALLIANCE_ASSIGN_OR_RETURN(client::RelayOptions ro, RelayFromBody(s, body));
    ALLIANCE_ASSIGN_OR_RETURN(client::LinkCodeView code, c->StartLink(ro));
    out = Json{{"code", code.code},
               {"expires_text", TimeText(code.expires_at)},
               {"qr", QrJson(code.code)}};
    return absl::OkStatus();
  });

  // Waits (up to 20 s a call) for the other device to approve; the page calls it again.
  r.PostSession("/api/link/finish", [](const httplib::Request&, AppSession& s, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::shared_ptr<client::Client> c, s.Client());
    absl::Status finished = c->FinishLink(absl::Seconds(20));
    if (absl::IsDeadlineExceeded(finished)) {
      out = Json{{"linked", false}};
      return absl::OkStatus();
    }
    if (absl::IsNotFound(finished)) {
      return absl::NotFoundError("the code expired; start again to get a new one");
    }
    ALLIANCE_RETURN_IF_ERROR(finished);
    s.StartListening();
    ALLIANCE_RETURN_IF_ERROR(StateJson(s, out));
    out["linked"] = true;
    return absl::OkStatus();
  });

  r.GetSession("/api/devices", [](const httplib::Request&, AppSession& s, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::shared_ptr<client::Client> c, s.Client());
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::DeviceView> all, c->Devices());
    out = Json::array();
    for (const client::DeviceView& d : all) {
      out.push_back({{"id", d.id},
                     {"name", d.name},
                     {"added_text", TimeText(d.added_at)},
                     {"last_seen_text",
                      d.last_seen ? Json(absl::FormatTime("%a %e %b", *d.last_seen,
                                                          absl::UTCTimeZone()))
                                  : Json(nullptr)},
                     {"this_device", d.this_device}});
    }
    return absl::OkStatus();
  });

  r.PostSession("/api/devices/approve", [](const httplib::Request& req, AppSession& s, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::shared_ptr<client::Client> c, s.Client());
    ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
    ALLIANCE_ASSIGN_OR_RETURN(std::string code, Str(body, "code", 200, "the code"));
    ALLIANCE_ASSIGN_OR_RETURN(std::string name, Str(body, "name", 200, "the device name", false));
    absl::StatusOr<uint32_t> id = c->ApproveLink(code, name);
    if (absl::IsInvalidArgument(id.status())) {
      return absl::InvalidArgumentError(
          "that is not a complete code: it has 52 letters and digits, as the new device shows it");
    }
    if (absl::IsNotFound(id.status())) {
      return absl::NotFoundError("that code is not waiting to be approved (it may have expired)");
    }
    ALLIANCE_RETURN_IF_ERROR(id.status());
    out = Json{{"device", *id}};
    return absl::OkStatus();
  });

  r.PostSession("/api/devices/remove", [](const httplib::Request& req, AppSession& s, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::shared_ptr<client::Client> c, s.Client());
    ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
    ALLIANCE_ASSIGN_OR_RETURN(int64_t id, Int(body, "id", 1, 1 << 30, "the device"));
    ALLIANCE_RETURN_IF_ERROR(c->RemoveDevice(static_cast<uint32_t>(id)));
    out = Json{{"removed", id}};
    return absl::OkStatus();
  });

  r.PostSession("/api/settings", [](const httplib::Request& req, AppSession& s, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
    if (!body.contains("idle_minutes") && !body.contains("read_receipts")) {
      return absl::InvalidArgumentError("there is no setting to change");
    }
    if (body.contains("idle_minutes")) {
      ALLIANCE_ASSIGN_OR_RETURN(int64_t minutes,
                                Int(body, "idle_minutes", 1, 240, "the lock time"));
      ALLIANCE_RETURN_IF_ERROR(s.SetIdle(absl::Minutes(minutes)));
    }
    if (body.contains("read_receipts")) {
      ALLIANCE_ASSIGN_OR_RETURN(std::shared_ptr<client::Client> c, s.Client());
      ALLIANCE_RETURN_IF_ERROR(c->SetReadReceipts(Flag(body, "read_receipts")));
    }
    return StateJson(s, out);
  });

  r.GetSession("/api/timezones", [](const httplib::Request&, AppSession&, Json& out) -> absl::Status {
    std::set<std::string> zones = {"UTC"};
    std::ifstream tab("/usr/share/zoneinfo/zone1970.tab");
    std::string line;
    while (std::getline(tab, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> cols = absl::StrSplit(line, '\t');
      if (cols.size() >= 3) zones.insert(cols[2]);
    }
    out = Json(std::vector<std::string>(zones.begin(), zones.end()));
    return absl::OkStatus();
  });
}

}  // namespace alliance::app

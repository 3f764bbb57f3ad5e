// `alliance devices [link | approve CODE | remove ID]`: one account on several devices
// (DESIGN §4, "Several devices"). Every device is vouched for by the account's identity key; the
// relay can never add one.
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/cli/cli_common.h"

namespace alliance::cli {
namespace {

struct DeviceFlags {
  std::string code;
  std::string name;
  std::string device_id;
  int wait_seconds = 600;
};

std::string Day(absl::Time t) { return absl::FormatTime("%e %b %Y", t, absl::LocalTimeZone()); }

}  // namespace

void AddDeviceCommands(Commands& cli) {
  static DeviceFlags f;
  Globals& g = cli.g;
  const Output& out = cli.out;

  auto* devices = cli.app.add_subcommand("devices", "Your devices: list, link, approve, remove");
  devices->callback(cli.Run([&g, &out, devices]() -> absl::Status {
    if (!devices->get_subcommands().empty()) return absl::OkStatus();
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::DeviceView> all, c->Devices());
    json arr = json::array();
    std::string text;
    for (const client::DeviceView& d : all) {
      arr.push_back({{"id", d.id},
                     {"name", d.name},
                     {"added_at", absl::FormatTime(absl::RFC3339_sec, d.added_at,
                                                   absl::UTCTimeZone())},
                     {"last_seen", d.last_seen ? json(absl::FormatTime(
                                                     "%Y-%m-%d", *d.last_seen, absl::UTCTimeZone()))
                                               : json(nullptr)},
                     {"this_device", d.this_device}});
      absl::StrAppend(&text, d.id, "  ", d.name.empty() ? "-" : Printable(d.name), "  added ",
                      Day(d.added_at),
                      d.this_device ? "  (this device)"
                      : d.last_seen ? "  last seen " + absl::FormatTime("%e %b", *d.last_seen,
                                                                         absl::UTCTimeZone())
                                    : "",
                      "\n");
    }
    out.Print(arr, text);
    return absl::OkStatus();
  }));

  auto* link = devices->add_subcommand(
      "link", "On a new device: show a code to approve on a device already linked, and wait");
  link->add_option("--wait", f.wait_seconds, "Seconds to wait for the approval (at most 600)")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
  link->callback(cli.Run([&g, &out]() -> absl::Status {
    if (g.relay.empty()) {
      return absl::InvalidArgumentError("give your clinic's server with --relay HOST:PORT");
    }
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    client::RelayOptions relay;
    relay.address = g.relay;
    relay.ca_file = g.ca_file;
    relay.insecure = g.insecure;
    ALLIANCE_ASSIGN_OR_RETURN(client::LinkCodeView code, c->StartLink(relay));
    // The code goes to stderr as soon as it exists (stdout stays one JSON document or line).
    std::fprintf(stderr,
                 "On a device already linked to your account, run:\n"
                 "  alliance devices approve %s --name \"This device\"\n"
                 "The code works once, until %s. Waiting...\n",
                 code.code.c_str(),
                 absl::FormatTime("%H:%M", code.expires_at, absl::LocalTimeZone()).c_str());
    std::fflush(stderr);
    ALLIANCE_RETURN_IF_ERROR(c->FinishLink(absl::Seconds(f.wait_seconds)));
    ALLIANCE_ASSIGN_OR_RETURN(client::AccountView a, c->Account());
    out.Print(json{{"account", a.id}, {"role", RoleName(a.role)}, {"code", code.code}},
              absl::StrCat("Linked: this device is now part of ", RoleName(a.role), " account ",
                           a.id.substr(0, 8), ". Your contacts and agreements are here; earlier "
                           "messages stay on your other device."));
    return absl::OkStatus();
  }));

  auto* approve = devices->add_subcommand("approve", "Link the device showing CODE to your account");
  approve->add_option("code", f.code, "The code `alliance devices link` shows")->required();
  approve->add_option("--name", f.name, "A name for the new device, e.g. \"Laptop\"");
  approve->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(uint32_t id, c->ApproveLink(f.code, f.name));
    out.Print(json{{"device", id}, {"name", f.name}},
              absl::StrCat("Approved: device ", id, f.name.empty() ? "" : " (" + f.name + ")",
                           " finishes linking by itself within a few seconds."));
    return absl::OkStatus();
  }));

  auto* remove = devices->add_subcommand(
      "remove", "Remove a device (a lost phone): it can no longer read or send as you");
  remove->add_option("id", f.device_id, "Device id, as `alliance devices` lists it")->required();
  remove->callback(cli.Run([&g, &out]() -> absl::Status {
    uint32_t id = 0;
    if (!absl::SimpleAtoi(f.device_id, &id) || id == 0) {
      return absl::InvalidArgumentError("device id must be a number, as `alliance devices` lists it");
    }
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->RemoveDevice(id));
    out.Print(json{{"removed", id}},
              absl::StrCat("Removed device ", id, ". Its access ended now and contacts stop "
                           "encrypting to it. If it was stolen, it still knows your account's "
                           "identity key: tell your clinic."));
    return absl::OkStatus();
  }));
}

}  // namespace alliance::cli

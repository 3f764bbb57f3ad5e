// `alliance send | sync | inbox | history | watch | export`: the conversation.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/cli/care_commands.h"
#include "client/attachment_files.h"
#include "client/cli/cli_common.h"

namespace alliance::cli {
namespace {

struct MessagingFlags {
  std::string contact;
  std::string text;
  std::string intent_name = "needs-reply";
  bool urgent = false;
  bool confirm = false;
  bool due_only = false;
  std::string export_path;
  std::vector<std::string> files;
  std::string message;
  int attachment_index = -1;
  std::string to_dir = ".";
  bool with_files = false;
};

// `watch` stops on SIGINT/SIGTERM. The handler only does async-signal-safe things (an atomic
// flag and a write to a pipe); a thread waiting on the pipe stops the stream.
std::atomic<bool> g_stop_requested{false};
int g_stop_pipe[2] = {-1, -1};

void RequestStop(int) {
  g_stop_requested.store(true);
  const char byte = 1;
  (void)!::write(g_stop_pipe[1], &byte, 1);
}

json Messages(const std::vector<MessageView>& all) {
  json arr = json::array();
  for (const MessageView& m : all) arr.push_back(ToJson(m));
  return arr;
}

// Writes `text` to `path` with mode 0600, never through a symlink, even over an existing file.
absl::Status WritePrivateFile(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return absl::UnavailableError("cannot write " + path);
  if (::fchmod(fd, 0600) != 0) {
    ::close(fd);
    return absl::UnavailableError("cannot restrict permissions of " + path);
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return absl::UnavailableError("cannot write " + path);
  return absl::OkStatus();
}

absl::Status Send(const Globals& g, const Output& out, MessagingFlags& f) {
  if (f.text.empty() && f.files.empty()) {
    f.text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    while (!f.text.empty() && f.text.back() == '\n') f.text.pop_back();
  }
  client::SendOptions so;
  so.urgent = f.urgent;
  so.intent = f.intent_name == "next-session" ? v1::INTENT_FOR_NEXT_SESSION
              : f.intent_name == "fyi"        ? v1::INTENT_JUST_LETTING_YOU_KNOW
                                              : v1::INTENT_NEEDS_REPLY;
  so.crisis_acknowledged = f.confirm;
  for (const std::string& path : f.files) so.attachments.push_back({.path = path});
  ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
  ALLIANCE_ASSIGN_OR_RETURN(client::SendResult r, c->SendText(f.contact, f.text, so));
  if (r.crisis_prompt) {
    // The on-device check matched: show the emergency notice and ask; never block.
    for (const std::string& line : r.notice) {
      std::fprintf(stderr, "%s\n", Printable(line).c_str());
    }
    bool send_anyway = true;
    if (::isatty(STDIN_FILENO) && ::isatty(STDERR_FILENO)) {
      std::fprintf(stderr, "Send the message anyway? [y/N] ");
      std::string answer;
      std::getline(std::cin, answer);
      send_anyway = !answer.empty() && (answer[0] == 'y' || answer[0] == 'Y');
    }
    if (!send_anyway) return absl::CancelledError("not sent");
    so.crisis_acknowledged = true;
    ALLIANCE_ASSIGN_OR_RETURN(r, c->SendText(f.contact, f.text, so));
  }
  if (!r.care_error.ok()) {
    // The agreement could not be evaluated: say so plainly, with the emergency notice.
    for (const std::string& line : r.notice) {
      std::fprintf(stderr, "alliance: %s\n", Printable(line).c_str());
    }
  }
  json due = r.reply_due
                 ? json(absl::FormatTime(absl::RFC3339_sec, *r.reply_due, absl::UTCTimeZone()))
                 : json();
  // Who it went to, by role and id (fixed by the relationship) before the chosen name.
  std::string text = absl::StrCat(r.sent ? "Sent" : "Queued", " to ", Recipient(r.recipient));
  if (r.care_error.ok()) {
    for (const std::string& line : r.notice) absl::StrAppend(&text, "\n", Printable(line));
  }
  out.Print(json{{"id", r.message_id},
                 {"to", ToJson(r.recipient)},
                 {"sent", r.sent},
                 {"notice", r.notice},
                 {"care_error", std::string(r.care_error.message())},
                 {"reply_due", due}},
            text);
  if (!r.sent) {
    return absl::UnavailableError(absl::StrCat(
        r.relay_error.message(), " (message queued; it is sent by the next send, sync or watch)"));
  }
  return absl::OkStatus();
}

// Saves attachment `index` of `message` (every attachment when index < 0) into `dir`.
absl::Status GetAttachments(Client& c, const Output& out, const std::string& message, int index,
                            const std::string& dir) {
  ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::AttachmentView> all,
                            c.MessageAttachments(message));
  json saved = json::array();
  std::string text;
  for (const client::AttachmentView& a : all) {
    if (index >= 0 && a.index != static_cast<size_t>(index)) continue;
    ALLIANCE_ASSIGN_OR_RETURN(std::string path, c.SaveAttachment(message, a.index, dir));
    saved.push_back({{"index", a.index}, {"file_name", a.file_name}, {"path", path},
                     {"size", a.size}});
    if (!text.empty()) text += "\n";
    absl::StrAppend(&text, "Saved ", Printable(path), " (", client::FormatFileSize(a.size), ")");
  }
  if (saved.empty()) {
    return absl::NotFoundError(absl::StrCat("that message has ", all.size(), " attachment(s)"));
  }
  out.Print(saved, text);
  return absl::OkStatus();
}

absl::Status Watch(const Globals& g, const Output& out) {
  ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
  if (::pipe(g_stop_pipe) != 0) return absl::InternalError("cannot create a pipe");
  std::signal(SIGINT, RequestStop);
  std::signal(SIGTERM, RequestStop);
  std::thread stopper([&c] {
    char byte;
    while (::read(g_stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    c->StopListening();
  });
  absl::Cleanup join_stopper = [&stopper] {
    RequestStop(0);  // Wakes the stopper if no signal came.
    stopper.join();
  };
  absl::Duration backoff = absl::Seconds(1);
  int held_count = 0;
  while (true) {
    absl::Status s = c->Listen([&](const MessageView& m) {
      // Outside the therapist's agreed hours, notifications wait instead of interrupting.
      absl::StatusOr<std::optional<absl::Time>> held = c->HeldUntil(m.contact_id);
      if (held.ok() && held->has_value()) {
        ++held_count;
        out.Print(json{{"held", held_count},
                       {"until", absl::FormatTime(absl::RFC3339_sec, **held, absl::UTCTimeZone())}},
                  absl::StrCat(held_count, " message(s) held until ", LocalTime(**held),
                               " (outside your agreed hours); `alliance inbox --due` shows "
                               "them"));
        return;
      }
      if (out.json_mode()) {
        out.Print(ToJson(m), "");
      } else {
        PrintMessage(m);
        std::fflush(stdout);
      }
    });
    if (s.ok() || g_stop_requested.load()) break;  // Stopped by a signal.
    if (!absl::IsUnavailable(s) && !absl::IsAborted(s)) return s;
    // Relay restarting, or a `sync` elsewhere took the stream: reconnect.
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
  return absl::OkStatus();
}

}  // namespace

void AddMessagingCommands(Commands& cli) {
  static MessagingFlags f;
  Globals& g = cli.g;
  const Output& out = cli.out;

  auto* send = cli.app.add_subcommand("send", "Send a message (text argument or stdin)");
  send->add_option("contact", f.contact)->required();
  send->add_option("text", f.text, "Message text; read from stdin when absent");
  send->add_option("--intent", f.intent_name, "needs-reply | next-session | fyi")
      ->check(CLI::IsMember({"needs-reply", "next-session", "fyi"}));
  send->add_flag("--urgent", f.urgent, "Mark urgent");
  send->add_flag("--confirm", f.confirm, "Send even if the on-device crisis check matches");
  send->add_option("--file", f.files,
                   "Attach a file (encrypted on this device; repeat for several, at most 8)")
      ->allow_extra_args(false);
  send->callback(cli.Run([&g, &out] { return Send(g, out, f); }));

  cli.app.add_subcommand("sync", "Fetch new messages")->callback(cli.Run([&g, &out] {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<MessageView> got, c->Sync());
    if (out.json_mode()) {
      out.Print(Messages(got), "");
    } else {
      for (const MessageView& m : got) PrintMessage(m);
      if (got.empty()) out.Note("No new messages.");
    }
    return absl::OkStatus();
  }));

  auto* inbox = cli.app.add_subcommand("inbox", "Fetch new messages and list conversations");
  inbox->add_flag("--due", f.due_only, "Therapist: threads awaiting a reply, by due time");
  inbox->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(c->Sync().status());
    if (f.due_only) {
      ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::DueView> due, c->DueList());
      PrintDue(due, out.json_mode());
      return absl::OkStatus();
    }
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<ContactView> all, c->Contacts(false));
    json arr = json::array();
    std::string text;
    for (const ContactView& x : all) {
      arr.push_back(ToJson(x));
      char line[512];
      std::snprintf(line, sizeof line, "%-40s %llu message(s), %llu unread%s\n", Name(x).c_str(),
                    static_cast<unsigned long long>(x.messages),
                    static_cast<unsigned long long>(x.unread),
                    x.identity_changed ? "  IDENTITY KEY CHANGED" : "");
      text += line;
    }
    out.Print(arr, text);
    return absl::OkStatus();
  }));

  auto* history = cli.app.add_subcommand("history", "Show the conversation with a contact");
  history->add_option("contact", f.contact)->required();
  history->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(SyncTolerant(*c));
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<MessageView> all, c->History(f.contact, true));
    if (out.json_mode()) {
      out.Print(Messages(all), "");
    } else {
      for (const MessageView& m : all) PrintMessage(m);
      if (all.empty()) out.Note("No messages yet.");
      ALLIANCE_ASSIGN_OR_RETURN(client::ContactView contact, c->ResolveContact(f.contact));
      const std::string missing = MissingLine(contact);
      if (!missing.empty()) out.Note(missing);
    }
    return absl::OkStatus();
  }));

  cli.app.add_subcommand("watch", "Stay connected and print messages as they arrive")
      ->callback(cli.Run([&g, &out] { return Watch(g, out); }));

  auto* exp = cli.app.add_subcommand("export", "Write the conversation with a contact as JSON");
  exp->add_option("contact", f.contact)->required();
  exp->add_option("path", f.export_path, "Output file (created with mode 0600)")->required();
  exp->add_flag("--with-files", f.with_files,
                "Also save the attachments, decrypted, in a directory beside the file");
  exp->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_ASSIGN_OR_RETURN(std::string document, c->ExportJson(f.contact));
    ALLIANCE_RETURN_IF_ERROR(WritePrivateFile(f.export_path, document));
    if (f.with_files) {
      const std::string dir = f.export_path + ".files";
      if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return absl::UnavailableError("cannot create " + dir);
      }
      ALLIANCE_ASSIGN_OR_RETURN(std::vector<MessageView> all, c->History(f.contact, false));
      size_t saved = 0;
      for (const MessageView& m : all) {
        for (const client::AttachmentView& a : m.attachments) {
          absl::StatusOr<std::string> path = c->SaveAttachment(m.id, a.index, dir);
          if (!path.ok()) {
            std::fprintf(stderr, "alliance: %s: %s\n", Printable(a.file_name).c_str(),
                         Printable(std::string(path.status().message())).c_str());
            continue;
          }
          ++saved;
        }
      }
      out.Note(absl::StrCat("Exported to ", f.export_path, ", with ", saved, " file(s) in ", dir));
      return absl::OkStatus();
    }
    out.Note(absl::StrCat("Exported to ", f.export_path));
    return absl::OkStatus();
  }));

  auto* attachments = cli.app.add_subcommand("attachments", "Files sent with messages");
  attachments->require_subcommand(1);
  auto* get = attachments->add_subcommand(
      "get", "Fetch, check and decrypt a message's files (all, or the one numbered)");
  get->add_option("message", f.message, "Message id (as `alliance history` shows it)")->required();
  get->add_option("number", f.attachment_index, "Which file of the message, from 0");
  get->add_option("--to", f.to_dir, "Directory to save into (default: the current one)");
  get->callback(cli.Run([&g, &out]() -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(auto c, OpenClient(g));
    ALLIANCE_RETURN_IF_ERROR(SyncTolerant(*c));
    return GetAttachments(*c, out, f.message, f.attachment_index, f.to_dir);
  }));
}

}  // namespace alliance::cli

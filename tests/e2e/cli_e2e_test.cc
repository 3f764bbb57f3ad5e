// End to end with the real binaries: one alliance-relay process, several `alliance` profile
// directories, everything over 127.0.0.1.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_fixture.h"

namespace alliance::e2e {
namespace {

class CliE2eTest : public E2eFixture {
 protected:
  json History(const std::string& who, const std::string& contact) {
    Result r = MustRun(who, {"--json", "history", contact});
    return json::parse(r.out);
  }
};

TEST_F(CliE2eTest, ConversationBothWaysWithMatchingSafetyNumbers) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "Can we talk about Tuesday?"});
  json t = History("therapist", "client");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]["body"], "Can we talk about Tuesday?");
  EXPECT_EQ(t[0]["contact_name"], "Sam Client");
  MustRun("therapist", {"send", "Sam Client", "Yes, first thing."});
  json c = History("client", "therapist");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0]["state"], "delivered");
  EXPECT_EQ(c[1]["body"], "Yes, first thing.");
  json a = json::parse(MustRun("client", {"--json", "safety-number", "therapist"}).out);
  json b = json::parse(MustRun("therapist", {"--json", "safety-number", "client"}).out);
  EXPECT_EQ(a["safety_number"], b["safety_number"]);
  EXPECT_EQ(a["safety_number"].get<std::string>().size(), 60u);
  // Verifying binds the key: a part of the number (here the first half, which may be the
  // user's own) is refused in one line; the whole number, as shown in groups, is accepted.
  const std::string number = a["safety_number"];
  Result part = Run("client", {"verify", "therapist", "--confirm", number.substr(0, 30)});
  EXPECT_EQ(part.exit_code, 1);
  EXPECT_EQ(Lines(part.err), 1) << part.err;
  EXPECT_NE(part.err.find("whole 60-digit"), std::string::npos) << part.err;
  std::string grouped;
  for (size_t i = 0; i < number.size(); i += 5) grouped += number.substr(i, 5) + " ";
  MustRun("client", {"verify", "therapist", "--confirm", grouped});
  json verified = json::parse(MustRun("client", {"--json", "safety-number", "therapist"}).out);
  EXPECT_TRUE(verified["verified"].get<bool>());
  // `send` says who the message goes to: role and id before the name the contact chose.
  Result to = MustRun("therapist", {"send", "client", "Noted."});
  EXPECT_EQ(to.out.rfind("Sent to client ", 0), 0u) << to.out;
  EXPECT_NE(to.out.find("\"Sam Client\""), std::string::npos) << to.out;
  // Text from stdin.
  Result piped = RunCommand(As("client", {"send", "therapist"}), {}, "from stdin\n");
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(History("therapist", "client").back()["body"], "from stdin");
}

TEST_F(CliE2eTest, RecipientOfflineThenOnlineGetsEverythingInOrder) {
  BuildClinic();
  for (int i = 0; i < 12; ++i)
    MustRun("client", {"send", "therapist", "note " + std::to_string(i)});
  json got = json::parse(MustRun("therapist", {"--json", "sync"}).out);
  ASSERT_EQ(got.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(got[i]["body"], "note " + std::to_string(i));
  EXPECT_EQ(json::parse(MustRun("therapist", {"--json", "sync"}).out).size(), 0u);
}

TEST_F(CliE2eTest, RelayRestartMidConversation) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "before"});
  EXPECT_EQ(StopRelay(), 0);  // SIGTERM: clean exit.
  Result down = Run("client", {"send", "therapist", "while the relay is down"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_EQ(Lines(down.err), 1);
  EXPECT_EQ(down.err.rfind("alliance: cannot reach relay " + Address() + ": connection refused", 0),
            0u)
      << down.err;
  StartRelay();
  MustRun("client", {"send", "therapist", "after"});
  json t = History("therapist", "client");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0]["body"], "before");
  EXPECT_EQ(t[1]["body"], "while the relay is down");
  EXPECT_EQ(t[2]["body"], "after");
}

TEST_F(CliE2eTest, WrongPassphraseIsOneClearLine) {
  BuildClinic();
  std::ofstream(dir_ / "wrong.pass") << "not it\n";
  Result r = RunCommand({kCli, "--profile", (dir_ / "client").string(), "--passphrase-file",
                         (dir_ / "wrong.pass").string(), "inbox"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "alliance: wrong passphrase or damaged key file\n");
  Result no_pass = RunCommand({kCli, "--profile", (dir_ / "client").string(), "inbox"});
  EXPECT_EQ(no_pass.exit_code, 1);
  EXPECT_EQ(Lines(no_pass.err), 1);
  Result usage = Run("client", {"send"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_EQ(Lines(usage.err), 1);
}

TEST_F(CliE2eTest, CorruptedLocalStoreGivesAnErrorNotACrash) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "history to lose"});
  for (const auto& f : fs::directory_iterator(dir_ / "client" / "db")) {
    const std::string name = f.path().filename().string();
    if (name.find(".log") == std::string::npos && name.find(".sst") == std::string::npos &&
        name.find("MANIFEST") == std::string::npos) {
      continue;
    }
    std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(0, std::ios::end);
    const std::streamoff size = io.tellg();
    for (std::streamoff pos = 3; pos < size; pos += 61) {
      io.seekp(pos);
      io.put('\x77');
    }
  }
  Result r = Run("client", {"history", "therapist"});
  EXPECT_EQ(r.signal, 0) << "crashed";
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("alliance: ", 0), 0u);
}

TEST_F(CliE2eTest, KilledBetweenReceiveAndAckGetsMessageExactlyOnce) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "exactly once please"});
  Result crashed = Run("therapist", {"sync"}, {{"ALLIANCE_TEST_CRASH_BEFORE_ACK", "1"}});
  EXPECT_EQ(crashed.exit_code, 137);
  json again = json::parse(MustRun("therapist", {"--json", "sync"}).out);
  EXPECT_EQ(again.size(), 0u);  // Redelivered, recognized as already stored.
  json t = History("therapist", "client");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]["body"], "exactly once please");
}

TEST_F(CliE2eTest, WatchAndSendShareOneProfile) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "opening message"});
  const std::string watch_out = (dir_ / "watch.out").string();
  Background watch(As("therapist", {"--json", "watch"}), watch_out);
  auto wait_for = [&](const std::string& text) { return WaitForText(watch_out, text, 300); };
  EXPECT_TRUE(wait_for("opening message")) << ReadFile(watch_out);
  MustRun("client", {"send", "therapist", "live while watching"});
  EXPECT_TRUE(wait_for("live while watching")) << ReadFile(watch_out);
  // The therapist answers from another terminal on the same profile while watch runs.
  MustRun("therapist", {"send", "client", "answer from the second terminal"});
  json c = History("client", "therapist");
  EXPECT_EQ(c.back()["body"], "answer from the second terminal");
  EXPECT_EQ(watch.Stop(SIGTERM), 0);
}

TEST_F(CliE2eTest, NoPlaintextOrNamesInRelayFilesOrProfiles) {
  BuildClinic();
  const std::string marker = "E2E-PLAINTEXT-MARKER-93af17";
  MustRun("client", {"send", "therapist", marker});
  MustRun("therapist", {"history", "client"});
  MustRun("therapist", {"send", "client", marker + " reply"});
  MustRun("client", {"history", "therapist"});
  EXPECT_EQ(StopRelay(), 0);
  for (const std::string& secret : {marker, std::string("Dr. Rivera"), std::string("Sam Client")}) {
    EXPECT_FALSE(TreeContains(dir_ / "relay", secret)) << secret;
    EXPECT_FALSE(TreeContains(dir_ / "relay.log", secret)) << secret;
    EXPECT_FALSE(TreeContains(dir_ / "relay.out", secret)) << secret;
    for (const char* profile : {"admin", "therapist", "client"}) {
      EXPECT_FALSE(TreeContains(dir_ / profile, secret)) << profile << " " << secret;
    }
  }
  // The relay did write something: the scan looked at real files.
  EXPECT_GT(ReadFile((dir_ / "relay.log").string()).size(), 0u);
}

TEST_F(CliE2eTest, AWorksheetGoesOutWithSendFileAndComesBackWithAttachmentsGet) {
  BuildClinic();
  const std::string marker = "WORKSHEET-PLAINTEXT-MARKER-7c2e";
  std::string pdf = "%PDF-1.4\n";
  while (pdf.size() < 300'000) pdf += marker + " thought record, week 3\n";
  std::ofstream(dir_ / "thought-record-week3.pdf", std::ios::binary) << pdf;
  Result sent = MustRun("therapist", {"send", "client", "--file",
                                      (dir_ / "thought-record-week3.pdf").string(), "Here it is"});
  EXPECT_EQ(sent.out.rfind("Sent to client", 0), 0u) << sent.out;

  // The client sees the file in its history, with the command that saves it.
  Result shown = MustRun("client", {"history", "therapist"});
  EXPECT_NE(shown.out.find("[file] thought-record-week3.pdf (300 KB)"), std::string::npos)
      << shown.out;
  json h = History("client", "therapist");
  ASSERT_FALSE(h.empty());
  ASSERT_EQ(h.back()["attachments"].size(), 1u);
  EXPECT_EQ(h.back()["attachments"][0]["file_name"], "thought-record-week3.pdf");
  EXPECT_EQ(h.back()["attachments"][0]["media_type"], "application/pdf");
  EXPECT_EQ(h.back()["attachments"][0]["size"], pdf.size());
  const std::string id = h.back()["id"];

  fs::create_directories(dir_ / "downloads");
  Result got = MustRun("client", {"attachments", "get", id.substr(0, 8), "--to",
                                  (dir_ / "downloads").string()});
  EXPECT_NE(got.out.find("Saved "), std::string::npos) << got.out;
  EXPECT_EQ(ReadFile((dir_ / "downloads" / "thought-record-week3.pdf").string()), pdf);

  // A reply with a photo, saved again and exported with its files.
  std::string png("\x89PNG\r\n\x1a\n", 8);
  png += std::string(5000, 'p');
  std::ofstream(dir_ / "diary.png", std::ios::binary) << png;
  MustRun("client", {"send", "therapist", "--file", (dir_ / "diary.png").string()});
  json t = History("therapist", "client");
  ASSERT_FALSE(t.empty());
  ASSERT_EQ(t.back()["attachments"].size(), 1u);
  EXPECT_EQ(t.back()["attachments"][0]["has_thumbnail"], true);
  EXPECT_EQ(t.back()["body"], "");
  Result exported = MustRun("therapist", {"export", "client", (dir_ / "export.json").string(),
                                          "--with-files"});
  EXPECT_NE(exported.out.find("with 2 file(s)"), std::string::npos) << exported.out;
  EXPECT_EQ(ReadFile((dir_ / "export.json.files" / "diary.png").string()), png);
  json doc = json::parse(ReadFile((dir_ / "export.json").string()));
  EXPECT_EQ(doc["messages"].back()["attachments"][0]["file_name"], "diary.png");
  EXPECT_EQ(ReadFile((dir_ / "export.json").string()).find("\"key\""), std::string::npos);

  // Error paths: one line, non-zero exit.
  Result missing = Run("client", {"send", "therapist", "--file", (dir_ / "nope.pdf").string()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_EQ(Lines(missing.err), 1) << missing.err;
  Result bad_id = Run("client", {"attachments", "get", "xyz"});
  EXPECT_EQ(bad_id.exit_code, 1);
  EXPECT_EQ(Lines(bad_id.err), 1) << bad_id.err;
  Result unknown = Run("client", {"attachments", "get", "0123456789ab"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(Lines(unknown.err), 1) << unknown.err;

  // The relay's files never held the worksheet's text or name.
  EXPECT_EQ(StopRelay(), 0);
  EXPECT_FALSE(TreeContains(dir_ / "relay", marker));
  EXPECT_FALSE(TreeContains(dir_ / "relay", "thought-record-week3"));
  EXPECT_FALSE(TreeContains(dir_ / "relay.log", "thought-record-week3"));
}

TEST_F(CliE2eTest, TerminalControlCharactersFromPeersAreNeutralized) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "hello\x1b[8m concealed\r\x1b[2Kfake line"});
  Result shown = MustRun("therapist", {"history", "client"});
  EXPECT_EQ(shown.out.find('\x1b'), std::string::npos) << shown.out;
  EXPECT_EQ(shown.out.find('\r'), std::string::npos);
  EXPECT_NE(shown.out.find("concealed"), std::string::npos);
}

TEST_F(CliE2eTest, RefusesPlaintextToARemoteRelay) {
  std::ofstream(dir_ / "x.pass") << "passphrase of x\n";
  MustRun("x", {"init", "--passphrase-cost", "interactive"});
  Result r = Run("x", {"--relay", "192.0.2.10:7443", "register", bootstrap_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("alliance: refusing plaintext to 192.0.2.10:7443", 0), 0u) << r.err;
  EXPECT_EQ(Lines(r.err), 1);
}

TEST_F(CliE2eTest, AdminSeesMembersAndAuditButNoContent) {
  BuildClinic();
  json members = json::parse(MustRun("admin", {"--json", "admin", "members"}).out);
  EXPECT_EQ(members.size(), 3u);
  json audit = json::parse(MustRun("admin", {"--json", "admin", "audit"}).out);
  EXPECT_GE(audit.size(), 3u);
  Result denied = Run("client", {"admin", "members"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_EQ(Lines(denied.err), 1);
}

TEST_F(CliE2eTest, GlobalOptionsWorkAfterTheSubcommandAsTheReadmeWritesThem) {
  std::ofstream(dir_ / "sam.pass") << "passphrase of sam\n";
  // `alliance init --profile DIR --passphrase-file F`, all after the subcommand.
  const std::string profile = (dir_ / "profiles" / "sam").string();
  Result init = RunCommand({kCli, "init", "--passphrase-cost", "interactive", "--profile", profile,
                            "--passphrase-file", (dir_ / "sam.pass").string()});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  // The README's form: `alliance register <invite> --relay HOST:PORT --name "Sam"`.
  Result reg = RunCommand({kCli, "register", bootstrap_, "--relay",
                           "127.0.0.1:" + std::to_string(port_), "--name", "Sam", "--profile",
                           profile, "--passphrase-file", (dir_ / "sam.pass").string(), "--json"});
  ASSERT_EQ(reg.exit_code, 0) << reg.err;
  EXPECT_EQ(json::parse(reg.out)["role"], "admin");
}

TEST_F(CliE2eTest, ExportWritesAPrivateFileAndNeverFollowsALink) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "for the record"});
  const fs::path path = dir_ / "export.json";
  MustRun("client", {"export", "therapist", path.string()});
  const std::string doc = ReadFile(path.string());
  EXPECT_NE(doc.find("for the record"), std::string::npos);
  EXPECT_NE(doc.find("alliance-export/1"), std::string::npos);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // A link planted where the export goes is refused, not written through.
  const fs::path target = dir_ / "elsewhere.txt";
  std::ofstream(target) << "untouched";
  fs::create_symlink(target, dir_ / "link.json");
  Result r = Run("client", {"export", "therapist", (dir_ / "link.json").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_EQ(ReadFile(target.string()), "untouched");
}

// The admin flow a clinic runs when a client leaves or a phone is lost: members, deactivate,
// then the audit trail, whose hash chain the admin's CLI verifies. Revocation is immediate (the
// HIPAA proposed rule allows an hour): the client's very next command is refused.
TEST_F(CliE2eTest, AdminDeactivationStopsTheAccountAtOnceAndTheVerifiedAuditShowsIt) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "before"});
  json members = json::parse(MustRun("admin", {"--json", "admin", "members"}).out);
  std::string client_id;
  for (const json& m : members) {
    if (m["role"] == "client") client_id = m["id"];
  }
  ASSERT_EQ(client_id.size(), 32u);
  const auto requested = std::chrono::steady_clock::now();
  MustRun("admin", {"admin", "deactivate", client_id});
  Result refused = Run("client", {"send", "therapist", "after"});
  const auto refused_after = std::chrono::steady_clock::now() - requested;
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(Lines(refused.err), 1) << refused.err;
  EXPECT_LT(refused_after, std::chrono::minutes(1));

  members = json::parse(MustRun("admin", {"--json", "admin", "members"}).out);
  bool shown_deactivated = false;
  for (const json& m : members) {
    if (m["id"] == client_id) shown_deactivated = m["state"] == "deactivated";
  }
  EXPECT_TRUE(shown_deactivated);

  Result audit = MustRun("admin", {"admin", "audit"});
  EXPECT_NE(audit.out.find("Hash chain verified over "), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("AUDIT_EVENT_ACCOUNT_DEACTIVATED"), std::string::npos) << audit.out;
  json security = json::parse(MustRun("admin", {"admin", "audit", "--security", "--json"}).out);
  bool found = false;
  for (const json& e : security) {
    found |= e["event"] == "AUDIT_EVENT_ACCOUNT_DEACTIVATED" && e["subject"] == client_id;
  }
  EXPECT_TRUE(found);
  // The relay's own check of the whole chain on disk agrees (run on a stopped relay).
  relay_->Stop(SIGTERM);
  relay_.reset();
  Result check = RunCommand({kRelay, "check", "--data", (dir_ / "relay").string()});
  EXPECT_EQ(check.exit_code, 0) << check.err;
}

TEST_F(CliE2eTest, AdminAuditSecurityShowsOnlySecurityEvents) {
  BuildClinic();
  json audit = json::parse(MustRun("admin", {"admin", "audit", "--security", "--json"}).out);
  ASSERT_FALSE(audit.empty());
  for (const json& e : audit) {
    EXPECT_NE(e["event"], "AUDIT_EVENT_LOGIN_OK");
    EXPECT_NE(e["event"], "AUDIT_EVENT_INVITE_CREATED");
  }
}

// A relay serving TLS with a certificate from a test CA (openssl, made at test time).
class TlsE2eTest : public E2eFixture {
 protected:
  void PrepareRelay() override {
    const std::string d = dir_.string();
    const std::string script =
        "set -e; cd '" + d +
        "';"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "  -subj /CN=alliance-test-ca -keyout ca.key -out ca.pem 2>/dev/null;"
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "  -subj /CN=localhost -keyout relay.key -out relay.csr 2>/dev/null;"
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext;"
        "openssl x509 -req -in relay.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "  -extfile san.ext -out relay.pem 2>/dev/null;"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "  -subj /CN=other-ca -keyout other.key -out other.pem 2>/dev/null";
    Result r = RunCommand({"/bin/sh", "-c", script});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    relay_flags_ = {"--tls-cert", d + "/relay.pem", "--tls-key", d + "/relay.key"};
  }
};

TEST_F(TlsE2eTest, ClientTalksToTlsRelayWithItsCaAndRefusesAnother) {
  const std::string ca = (dir_ / "ca.pem").string();
  std::ofstream(dir_ / "admin.pass") << "passphrase of admin\n";
  MustRun("admin", {"init", "--passphrase-cost", "interactive"});
  // A CA that did not sign the relay's certificate: refused, one clear line.
  Result wrong = Run("admin", {"--relay", Address(), "--ca-file", (dir_ / "other.pem").string(),
                               "register", bootstrap_});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_EQ(Lines(wrong.err), 1) << wrong.err;
  EXPECT_EQ(wrong.err.rfind("alliance: cannot reach relay " + Address(), 0), 0u) << wrong.err;
  // Plaintext against a TLS relay fails too.
  Result plain = Run("admin", {"--relay", Address(), "register", bootstrap_});
  EXPECT_EQ(plain.exit_code, 1) << plain.out << plain.err;
  EXPECT_EQ(Lines(plain.err), 1) << plain.err;
  // The right CA: registration, and later commands reuse the CA given at registration.
  MustRun("admin", {"--relay", Address(), "--ca-file", ca, "register", bootstrap_});
  json invite = json::parse(MustRun("admin", {"--json", "admin", "invite"}).out);
  EXPECT_EQ(invite["role"], "therapist");
}

}  // namespace
}  // namespace alliance::e2e

namespace alliance::e2e {
namespace {

TEST_F(CliE2eTest, ASecondDeviceLinksWithACodeGetsEverythingAndIsRemovedAtOnce) {
  BuildClinic();
  MustRun("client", {"send", "therapist", "from the phone"});
  std::ofstream(dir_ / "laptop.pass") << "passphrase of laptop\n";
  MustRun("laptop", {"init", "--passphrase-cost", "interactive"});
  const std::string link_out = (dir_ / "link.out").string();
  Background link(As("laptop", {"--relay", Address(), "devices", "link", "--wait", "60"}),
                  link_out);
  ASSERT_TRUE(WaitForText(link_out, "Waiting...", 500)) << ReadFile(link_out);
  const std::string shown = ReadFile(link_out);
  const size_t at = shown.find("devices approve ") + std::string("devices approve ").size();
  const std::string code = shown.substr(at, shown.find(' ', at) - at);
  ASSERT_EQ(code.size(), 64u) << shown;  // 52 symbols in groups of 4

  // A typo is one clear line; the real code links the laptop.
  Result typo = Run("client", {"devices", "approve", "abcd", "--name", "Laptop"});
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_EQ(Lines(typo.err), 1) << typo.err;
  MustRun("client", {"devices", "approve", code, "--name", "Laptop"});
  ASSERT_TRUE(WaitForText(link_out, "Linked:", 500)) << ReadFile(link_out);
  EXPECT_EQ(link.Wait(10), 0) << ReadFile(link_out);  // It exits by itself once linked.
  Result reused = Run("client", {"devices", "approve", code, "--name", "Again"});
  EXPECT_EQ(reused.exit_code, 1) << reused.out;

  json devices = json::parse(MustRun("client", {"--json", "devices"}).out);
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[1]["name"], "Laptop");
  EXPECT_TRUE(devices[0]["this_device"].get<bool>());

  // The therapist's message reaches both; the laptop's reaches the therapist and shows on the
  // phone as sent.
  MustRun("therapist", {"send", "client", "to both of your devices"});
  EXPECT_EQ(History("client", "therapist").back()["body"], "to both of your devices");
  EXPECT_EQ(History("laptop", "therapist").back()["body"], "to both of your devices");
  MustRun("laptop", {"send", "therapist", "from the laptop"});
  EXPECT_EQ(History("therapist", "client").back()["body"], "from the laptop");
  MustRun("client", {"sync"});
  json phone = History("client", "therapist");
  EXPECT_EQ(phone.back()["body"], "from the laptop");
  EXPECT_EQ(phone.back()["direction"], "sent");

  // The relay saw only ciphertext, the provisioning message included.
  EXPECT_FALSE(TreeContains(dir_ / "relay", "from the laptop"));
  EXPECT_FALSE(TreeContains(dir_ / "relay", "Sam Client"));
  EXPECT_FALSE(TreeContains(dir_ / "relay", "Laptop"));

  // A lost laptop: removed, it is refused at once; the conversation goes on.
  MustRun("client", {"devices", "remove", "2"});
  Result cut = Run("laptop", {"sync"});
  EXPECT_EQ(cut.exit_code, 1);
  EXPECT_EQ(Lines(cut.err), 1) << cut.err;
  MustRun("therapist", {"send", "client", "after the removal"});
  EXPECT_EQ(History("client", "therapist").back()["body"], "after the removal");
  Result self = Run("client", {"devices", "remove", "1"});
  EXPECT_EQ(self.exit_code, 1);
  EXPECT_NE(self.err.find("device you are using"), std::string::npos) << self.err;
}

}  // namespace
}  // namespace alliance::e2e

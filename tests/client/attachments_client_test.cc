// Attachments through the client library and a real relay on 127.0.0.1: every size that
// matters round trips, tampering fails with one clear error and leaves nothing under the real
// name, broken transfers resume, limits hold, names from a sender are made safe, and the
// relay's disk never holds the file's bytes or name.
#include <sodium.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "client/attachment_files.h"
#include "client/client.h"
#include "tests/client/client_fixture.h"
#include "wire/protocol.h"

namespace alliance::client::testing {
namespace {

namespace fs = std::filesystem;

// Deterministic content of `size` bytes containing `marker` wherever it fits.
std::string Content(size_t size, const std::string& marker) {
  std::string s;
  s.reserve(size);
  uint32_t x = 12345;
  while (s.size() < size) {
    if (s.size() % 4096 == 0 && s.size() + marker.size() <= size) {
      s += marker;
      continue;
    }
    x = x * 1103515245 + 12345;
    s.push_back(static_cast<char>(x >> 24));
  }
  return s;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool TreeContains(const fs::path& root, const std::string& needle) {
  if (fs::is_regular_file(root)) return ReadAll(root).find(needle) != std::string::npos;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    if (ReadAll(e.path()).find(needle) != std::string::npos) return true;
  }
  return false;
}

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class AttachmentsClientTest : public ClientFixture {
 protected:
  fs::path WriteFile(const std::string& name, const std::string& bytes) {
    fs::path p = root_ / "outbox-files" / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  fs::path NewDir(const std::string& name) {
    fs::path d = root_ / name;
    fs::create_directories(d);
    return d;
  }

  // The client sends `bytes` as `name` to the therapist; the therapist syncs and returns the
  // message it got.
  MessageView SendToTherapist(const std::string& name, const std::string& bytes,
                              const std::string& text = "Here it is") {
    SendOptions so;
    so.attachments.push_back({.path = WriteFile(name, bytes).string()});
    auto sent = client_->SendText("therapist", text, so);
    EXPECT_TRUE(sent.ok()) << sent.status();
    EXPECT_TRUE(sent.ok() && sent->sent);
    auto got = therapist_->Sync();
    EXPECT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->size(), 1u);
    return got->empty() ? MessageView() : got->back();
  }

  // The one file of the client's attachment cache.
  fs::path CachedCiphertext(const std::string& profile) {
    fs::path dir = root_ / profile / "attachments";
    for (const auto& e : fs::directory_iterator(dir)) return e.path();
    return {};
  }
};

TEST_F(AttachmentsClientTest, FilesOfEverySizeThatMattersRoundTrip) {
  BuildClinic();
  const size_t k = wire::kAttachmentChunkSize;
  for (size_t size : {size_t{0}, size_t{1}, k - 1, k, k + 1, size_t{10} << 20, size_t{50} << 20}) {
    SCOPED_TRACE(size);
    const std::string bytes = Content(size, "round-trip");
    MessageView m = SendToTherapist("file-" + std::to_string(size) + ".bin", bytes);
    ASSERT_EQ(m.attachments.size(), 1u);
    EXPECT_EQ(m.attachments[0].size, size);
    EXPECT_EQ(m.attachments[0].file_name, "file-" + std::to_string(size) + ".bin");
    EXPECT_EQ(m.attachments[0].media_type, "application/octet-stream");
    const fs::path dir = NewDir("got-" + std::to_string(size));
    auto path = therapist_->SaveAttachment(m.id, 0, dir.string());
    ASSERT_TRUE(path.ok()) << path.status();
    EXPECT_EQ(fs::path(*path).filename(), m.attachments[0].file_name);
    EXPECT_TRUE(ReadAll(*path) == bytes);
    EXPECT_EQ(fs::status(*path).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(Names(dir).size(), 1u);  // no temporary file left behind
  }
}

TEST_F(AttachmentsClientTest, TheRelaysDiskNeverHoldsTheFilesBytesOrName) {
  BuildClinic();
  const std::string marker = "ATTACHMENT-PLAINTEXT-MARKER-5d1e9c";
  const std::string name = "mood-diary-week3-c41a.pdf";
  MessageView m = SendToTherapist(name, Content(200'000, marker), "diary attached");
  EXPECT_EQ(m.attachments[0].media_type, "application/pdf");
  // The sender's other view: its own history lists the file too.
  auto mine = client_->History("therapist");
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->back().attachments.size(), 1u);
  EXPECT_EQ(mine->back().attachments[0].file_name, name);
  auto path = therapist_->SaveAttachment(m.id.substr(0, 8), 0, NewDir("saved").string());
  ASSERT_TRUE(path.ok()) << path.status();
  StopRelay();  // flushes everything to disk
  EXPECT_FALSE(TreeContains(relay_dir_, marker));
  EXPECT_FALSE(TreeContains(relay_dir_, name));
  EXPECT_FALSE(TreeContains(root_ / "relay.log", name));
  // The profiles hold ciphertext only (the cache) and the sealed store.
  EXPECT_FALSE(TreeContains(root_ / "Rivera", marker));
  EXPECT_FALSE(TreeContains(root_ / "Sam", marker));
}

TEST_F(AttachmentsClientTest, AlteredCiphertextFailsWithOneClearErrorAndLeavesNoFile) {
  BuildClinic();
  const size_t k = wire::kAttachmentChunkSize + wire::kAttachmentChunkOverhead;
  const std::string bytes = Content(3 * wire::kAttachmentChunkSize + 10, "tamper");
  MessageView m = SendToTherapist("worksheet.pdf", bytes);
  // Fetch once (the relay then deletes its copy) and keep the good ciphertext.
  ASSERT_TRUE(therapist_->SaveAttachment(m.id, 0, NewDir("first").string()).ok());
  const fs::path cache = CachedCiphertext("Rivera");
  const std::string good = ReadAll(cache);
  ASSERT_EQ(good.size(), wire::AttachmentCipherSize(bytes.size()));

  std::string flipped = good;
  flipped[24 + k + 100] ^= 0x04;
  std::string swapped = good;
  std::copy(good.begin() + 24, good.begin() + 24 + k, swapped.begin() + 24 + k);
  std::copy(good.begin() + 24 + k, good.begin() + 24 + 2 * k, swapped.begin() + 24);
  std::string truncated = good.substr(0, good.size() - 5);
  for (const auto& [what, bad] : std::vector<std::pair<std::string, std::string>>{
           {"flipped", flipped}, {"swapped", swapped}, {"truncated", truncated}}) {
    SCOPED_TRACE(what);
    std::ofstream(cache, std::ios::binary | std::ios::trunc) << bad;
    const fs::path dir = NewDir("tampered-" + what);
    auto path = therapist_->SaveAttachment(m.id, 0, dir.string());
    ASSERT_FALSE(path.ok());
    if (what == "truncated") {
      // A short copy is taken for an unfinished download; the relay no longer has the rest.
      EXPECT_TRUE(absl::IsDataLoss(path.status()) || absl::IsNotFound(path.status()))
          << path.status();
    } else {
      EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
      EXPECT_EQ(path.status().message(),
                "worksheet.pdf is damaged or was altered; nothing was saved");
    }
    EXPECT_TRUE(Names(dir).empty()) << Names(dir).size();
  }
}

TEST_F(AttachmentsClientTest, BrokenTransfersResumeWhereTheyStopped) {
  BuildClinic();
  const std::string bytes = Content(3 << 20, "resume");
  std::vector<uint64_t> upload_offsets;
  bool cut_upload = false;
  ClientOptions o = Options("Sam");
  o.transfer_fault = [&](uint64_t offset) {
    upload_offsets.push_back(offset);
    if (!cut_upload && offset >= (1 << 20)) {
      // Let the relay take in what was already sent, then drop the stream.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      cut_upload = true;
      return true;
    }
    return false;
  };
  client_.reset();
  auto sam = Client::Open(o, Pass("pw-Sam"));
  ASSERT_TRUE(sam.ok()) << sam.status();
  SendOptions so;
  so.attachments.push_back({.path = WriteFile("scan.png", bytes).string()});
  auto sent = (*sam)->SendText("therapist", "", so);
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_TRUE(cut_upload);
  // After the cut, the next piece started where the relay's stored bytes ended, not at 0.
  auto cut = std::find_if(upload_offsets.begin(), upload_offsets.end(),
                          [](uint64_t x) { return x >= (1 << 20); });
  ASSERT_NE(cut + 1, upload_offsets.end());
  EXPECT_GT(*(cut + 1), 0u);
  EXPECT_LE(*(cut + 1), *cut);

  std::vector<uint64_t> download_offsets;
  bool cut_download = false;
  ClientOptions t = Options("Rivera");
  t.transfer_fault = [&](uint64_t offset) {
    download_offsets.push_back(offset);
    if (!cut_download && offset >= (2 << 20)) {
      cut_download = true;
      return true;
    }
    return false;
  };
  therapist_.reset();
  auto rivera = Client::Open(t, Pass("pw-Rivera"));
  ASSERT_TRUE(rivera.ok()) << rivera.status();
  auto got = (*rivera)->Sync();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->back().attachments[0].media_type, "image/png");
  auto path = (*rivera)->SaveAttachment(got->back().id, 0, NewDir("resumed").string());
  ASSERT_TRUE(path.ok()) << path.status();
  ASSERT_TRUE(cut_download);
  auto dcut = std::find_if(download_offsets.begin(), download_offsets.end(),
                           [](uint64_t x) { return x >= (2 << 20); });
  ASSERT_NE(dcut + 1, download_offsets.end());
  EXPECT_EQ(*(dcut + 1), *dcut);  // resumed at the bytes held, not from 0
  EXPECT_TRUE(ReadAll(*path) == bytes);
}

TEST_F(AttachmentsClientTest, AFileOverTheRelaysLimitIsRefusedAndNothingIsQueued) {
  limits_.max_attachment_bytes = 1 << 20;
  limits_.max_attachment_bytes_per_account = 2 << 20;
  RestartRelay();
  BuildClinic();
  SendOptions so;
  so.attachments.push_back({.path = WriteFile("big.pdf", Content((1 << 20) + 1, "big")).string()});
  auto sent = client_->SendText("therapist", "too big?", so);
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(sent.status().message().find("big.pdf"), std::string::npos) << sent.status();
  EXPECT_NE(sent.status().message().find("1 MiB"), std::string::npos) << sent.status();
  auto history = client_->History("therapist");
  ASSERT_TRUE(history.ok());
  EXPECT_TRUE(history->empty());
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());

  // Exactly at the limit works.
  so.attachments[0].path = WriteFile("fits.pdf", Content(1 << 20, "fits")).string();
  auto ok = client_->SendText("therapist", "", so);
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST_F(AttachmentsClientTest, WithTheRelayDownAFileIsNotSentAndNothingIsQueued) {
  BuildClinic();
  ASSERT_TRUE(client_->Contacts().ok());  // the therapist is known on this device
  StopRelay();
  SendOptions so;
  so.attachments.push_back({.path = WriteFile("form.pdf", "filled in").string()});
  auto sent = client_->SendText("therapist", "the form", so);
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kUnavailable) << sent.status();
  EXPECT_EQ(sent.status().message().rfind("form.pdf: ", 0), 0u) << sent.status();
  auto history = client_->History("therapist");
  ASSERT_TRUE(history.ok());
  EXPECT_TRUE(history->empty());
  // Back up: the same call goes through.
  RestartRelay();
  auto again = client_->SendText("therapist", "the form", so);
  EXPECT_TRUE(again.ok() && again->sent) << again.status();
}

TEST_F(AttachmentsClientTest, ASendersNameCannotEscapeTheChosenDirectory) {
  BuildClinic();
  SendOptions so;
  so.attachments.push_back({.path = WriteFile("plain.txt", "hello").string(),
                            .file_name = "../../.bashrc\x1b[31m",
                            .media_type = "text/html; <script>"});
  ASSERT_TRUE(client_->SendText("therapist", "", so).ok());
  auto got = therapist_->Sync();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  const AttachmentView& a = got->back().attachments[0];
  EXPECT_EQ(a.file_name, "bashrc[31m");
  EXPECT_EQ(a.media_type, "application/octet-stream");
  const fs::path dir = NewDir("safe");
  auto first = therapist_->SaveAttachment(got->back().id, 0, dir.string());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(fs::path(*first).parent_path(), dir);
  // A second save never replaces the first (and works from the cache after the relay let go).
  auto second = therapist_->SaveAttachment(got->back().id, 0, dir.string());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(fs::path(*second).filename(), "bashrc[31m (1)");
  EXPECT_EQ(ReadAll(*second), "hello");
  // Bad ids and indexes get one clear error.
  EXPECT_EQ(therapist_->SaveAttachment("zz", 0, dir.string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(therapist_->SaveAttachment(got->back().id, 1, dir.string()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(therapist_->SaveAttachment(got->back().id, 0, (dir / "missing").string())
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(AttachmentsClientTest, FilesSentWithoutTextAreNamedInTheTherapistsDueList) {
  BuildClinic();
  SendOptions so;
  so.attachments.push_back({.path = WriteFile("sleep-log.pdf", "week 1").string()});
  so.attachments.push_back({.path = WriteFile("mood.png", "not really a png").string()});
  ASSERT_TRUE(client_->SendText("therapist", "", so).ok());
  ASSERT_TRUE(therapist_->Sync().ok());
  auto due = therapist_->DueList();
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ(due->at(0).body, "Sent 2 files: sleep-log.pdf, mood.png");
  // A non-image is never its own thumbnail, whatever its name says.
  auto history = therapist_->History("client");
  ASSERT_TRUE(history.ok());
  EXPECT_TRUE(history->back().attachments[1].thumbnail.empty());
}

TEST(AttachmentFilesTest, SafeFileNameKeepsOnlyAHarmlessBaseName) {
  EXPECT_EQ(SafeFileName("worksheet.pdf"), "worksheet.pdf");
  EXPECT_EQ(SafeFileName("/etc/passwd"), "passwd");
  EXPECT_EQ(SafeFileName("..\\..\\win.ini"), "win.ini");
  EXPECT_EQ(SafeFileName(".."), "attachment");
  EXPECT_EQ(SafeFileName(""), "attachment");
  EXPECT_EQ(SafeFileName("a\nb\tc"), "abc");
  EXPECT_EQ(SafeFileName("what?.txt"), "what_.txt");
  EXPECT_EQ(SafeFileName("caf\xc3\xa9.txt"), "caf\xc3\xa9.txt");
  EXPECT_EQ(SafeFileName("bad\xff.txt"), "bad_.txt");
  // U+202E (right-to-left override) would show "report\u202Efdp.exe" as "reportexe.pdf".
  EXPECT_EQ(SafeFileName("report\xe2\x80\xae" "fdp.exe"), "reportfdp.exe");
  EXPECT_EQ(SafeFileName("a\xc2\x85" "b\xe2\x80\x8b" "c"), "abc");
  const std::string longer = SafeFileName(std::string(400, 'x') + ".pdf");
  EXPECT_EQ(longer.size(), 255u);
  EXPECT_EQ(longer.substr(251), ".pdf");
  EXPECT_EQ(GuessMediaType("Scan.JPG"), "image/jpeg");
  EXPECT_EQ(SafeMediaType("application/pdf"), "application/pdf");
  EXPECT_EQ(SafeMediaType("text/html\r\nX: y"), "application/octet-stream");
  EXPECT_EQ(FormatFileSize(0), "0 B");
  EXPECT_EQ(FormatFileSize(64 * 1024), "66 KB");
  EXPECT_EQ(FormatFileSize(50u << 20), "52 MB");
}

}  // namespace
}  // namespace alliance::client::testing

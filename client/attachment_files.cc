#include "client/attachment_files.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace alliance::client {
namespace {

constexpr size_t kMaxName = 255;

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not a valid one.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  if (n == 2 && c < 0xc2) return 0;  // overlong
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  }
  return n;
}

// Unicode control (C1) and format characters (bidirectional overrides and isolates, zero-width
// characters, soft hyphen, byte-order mark): they can make a name display differently from
// what it is ("cod.exe" shown as "exe.doc").
bool InvisibleOrControl(std::string_view utf8) {
  uint32_t cp = 0;
  const auto b = [&](size_t i) { return static_cast<unsigned char>(utf8[i]); };
  if (utf8.size() == 2) cp = ((b(0) & 0x1fu) << 6) | (b(1) & 0x3fu);
  if (utf8.size() == 3) cp = ((b(0) & 0x0fu) << 12) | ((b(1) & 0x3fu) << 6) | (b(2) & 0x3fu);
  if (utf8.size() == 4) {
    cp = ((b(0) & 0x07u) << 18) | ((b(1) & 0x3fu) << 12) | ((b(2) & 0x3fu) << 6) | (b(3) & 0x3fu);
  }
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0xad || cp == 0x61c || cp == 0x180e ||
         (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
         (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
         (cp >= 0xe0000 && cp <= 0xe007f);
}

bool Hostile(unsigned char c) {
  return c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == ':' || c == '*' || c == '?' ||
         c == '"' || c == '<' || c == '>' || c == '|';
}

// Cuts `s` to at most `max` bytes at a character boundary.
std::string CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) >> 6) == 0x2) --end;
  return std::string(s.substr(0, end));
}

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
}

}  // namespace

std::string SafeFileName(std::string_view name) {
  const size_t slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::string out;
  for (size_t i = 0; i < name.size();) {
    const size_t n = Utf8Length(name, i);
    if (n == 0) {
      out.push_back('_');
      ++i;
      continue;
    }
    if (n == 1 && Hostile(static_cast<unsigned char>(name[i]))) {
      if (static_cast<unsigned char>(name[i]) >= 0x20) out.push_back('_');
    } else if (n > 1 && InvisibleOrControl(name.substr(i, n))) {
      // dropped
    } else {
      out.append(name.substr(i, n));
    }
    i += n;
  }
  size_t start = 0;
  while (start < out.size() && (out[start] == '.' || out[start] == ' ')) ++start;
  size_t end = out.size();
  while (end > start && (out[end - 1] == '.' || out[end - 1] == ' ')) --end;
  out = out.substr(start, end - start);
  if (out.size() > kMaxName) {
    const size_t dot = out.find_last_of('.');
    const std::string ext =
        dot != std::string::npos && out.size() - dot <= 16 ? out.substr(dot) : std::string();
    out = CutUtf8(out, kMaxName - ext.size()) + ext;
  }
  return out.empty() ? "attachment" : out;
}

std::string GuessMediaType(std::string_view file_name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 19> kTypes = {{
      {"pdf", "application/pdf"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"heic", "image/heic"},
      {"txt", "text/plain"},
      {"csv", "text/csv"},
      {"doc", "application/msword"},
      {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {"odt", "application/vnd.oasis.opendocument.text"},
      {"rtf", "application/rtf"},
      {"xls", "application/vnd.ms-excel"},
      {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {"mp3", "audio/mpeg"},
      {"m4a", "audio/mp4"},
      {"mp4", "video/mp4"},
      {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
  }};
  const size_t dot = file_name.find_last_of('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  const std::string ext = absl::AsciiStrToLower(std::string(file_name.substr(dot + 1)));
  for (const auto& [e, type] : kTypes) {
    if (e == ext) return std::string(type);
  }
  return "application/octet-stream";
}

std::string SafeMediaType(std::string_view media_type) {
  const size_t slash = media_type.find('/');
  const bool ok = media_type.size() <= 127 && slash != std::string_view::npos && slash > 0 &&
                  slash + 1 < media_type.size() &&
                  std::all_of(media_type.begin(), media_type.end(),
                              [](char c) { return c == '/' || IsTokenChar(c); }) &&
                  media_type.find('/', slash + 1) == std::string_view::npos;
  return ok ? absl::AsciiStrToLower(std::string(media_type)) : "application/octet-stream";
}

std::string ImageTypeOf(std::string_view b) {
  if (b.size() >= 8 && b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) {
    return "image/png";
  }
  if (b.size() >= 3 && b.substr(0, 3) == "\xff\xd8\xff") return "image/jpeg";
  if (b.size() >= 6 && (b.substr(0, 6) == "GIF87a" || b.substr(0, 6) == "GIF89a")) {
    return "image/gif";
  }
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return "image/webp";
  return "";
}

std::string FormatFileSize(uint64_t bytes) {
  if (bytes < 1000) return absl::StrFormat("%d B", bytes);
  if (bytes < 1000 * 1000) return absl::StrFormat("%d KB", (bytes + 500) / 1000);
  if (bytes < 10ull * 1000 * 1000) return absl::StrFormat("%.1f MB", bytes / 1e6);
  if (bytes < 1000ull * 1000 * 1000) return absl::StrFormat("%d MB", (bytes + 500'000) / 1'000'000);
  return absl::StrFormat("%.1f GB", bytes / 1e9);
}

}  // namespace alliance::client

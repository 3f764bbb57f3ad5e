// Names and types of attachments, for the library and its front ends. A file name or media type
// in a message is chosen by the sender: it is shown, and made safe before it names a file.
#ifndef ALLIANCE_CLIENT_ATTACHMENT_FILES_H_
#define ALLIANCE_CLIENT_ATTACHMENT_FILES_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace alliance::client {

// A name that is safe to create in a directory of the user's choosing: the last path component
// only, without control characters (C0, C1), invisible format characters (bidirectional
// overrides, zero-width characters), shell-hostile characters (/ \ : * ? " < > |), leading dots or
// trailing dots and spaces, invalid UTF-8 replaced by '_', at most 255 bytes (cut at a
// character boundary, keeping the extension when it is short). "attachment" when nothing is
// left.
std::string SafeFileName(std::string_view name);

// The media type for a file name's extension (pdf, png, jpg/jpeg, gif, webp, heic, txt, csv,
// doc/docx, odt, rtf, xls/xlsx, mp3, m4a, mp4): "application/octet-stream" otherwise.
std::string GuessMediaType(std::string_view file_name);

// A media type as received: kept when it is "type/subtype" of token characters (at most 127
// bytes), else "application/octet-stream".
std::string SafeMediaType(std::string_view media_type);

// "image/png", "image/jpeg", "image/gif" or "image/webp" when `bytes` start like one, else "".
std::string ImageTypeOf(std::string_view bytes);

// "0 B", "950 B", "12 KB", "3.4 MB" (decimal units, as file managers show them).
std::string FormatFileSize(uint64_t bytes);

}  // namespace alliance::client

#endif  // ALLIANCE_CLIENT_ATTACHMENT_FILES_H_

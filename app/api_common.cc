#include "app/api.h"

#include <qrencode.h>

#include <cctype>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace alliance::app {
namespace {

constexpr char kLocked[] = "Alliance is locked. Unlock it to continue.";

void Run(AppSession& session, const httplib::Request& req, httplib::Response& res,
         const ClientHandler& h) {
  session.Touch();
  absl::StatusOr<std::shared_ptr<client::Client>> c = session.Client();
  if (!c.ok()) return FailWith(res, 423, kLocked);
  Json out = Json::object();
  absl::Status s = h(req, **c, out);
  if (!s.ok()) return Fail(res, s);
  if (res.body.empty()) res.set_content(Dump(out), "application/json");
}

void RunSession(AppSession& session, const httplib::Request& req, httplib::Response& res,
                const SessionHandler& h) {
  session.Touch();
  Json out = Json::object();
  absl::Status s = h(req, session, out);
  if (!s.ok()) return Fail(res, s);
  res.set_content(Dump(out), "application/json");
}

// Reads and drops the rest of a request body, so that the connection can carry the next request.
void Drain(const httplib::Request& req, const httplib::ContentReader& reader) {
  if (req.is_multipart_form_data()) {
    reader([](const httplib::MultipartFormData&) { return true; },
           [](const char*, size_t) { return true; });
  } else {
    reader([](const char*, size_t) { return true; });
  }
}

void RunStreamed(AppSession& session, const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader, const StreamedHandler& h) {
  session.Touch();
  absl::StatusOr<std::shared_ptr<client::Client>> c = session.Client();
  if (!c.ok()) {
    Drain(req, reader);
    return FailWith(res, 423, kLocked);
  }
  Json out = Json::object();
  absl::Status s = h(req, reader, session, **c, out);
  session.Touch();  // A long upload is use of the page, not idleness.
  if (!s.ok()) return Fail(res, s);
  res.set_content(Dump(out), "application/json");
}

}  // namespace

std::string Sentence(absl::string_view message) {
  std::string s(message);
  if (s.empty()) return "That request could not be read.";
  s[0] = static_cast<char>(absl::ascii_toupper(static_cast<unsigned char>(s[0])));
  if (s.back() != '.' && s.back() != '?' && s.back() != ')') s += '.';
  return s;
}

void Routes::PostStreamed(const std::string& pattern, StreamedHandler h) {
  server_.Post(pattern, [&session = session_, h](const httplib::Request& req,
                                                 httplib::Response& res,
                                                 const httplib::ContentReader& reader) {
    RunStreamed(session, req, res, reader, h);
  });
}

void Routes::Get(const std::string& pattern, ClientHandler h) {
  server_.Get(pattern, [&session = session_, h](const httplib::Request& req, httplib::Response& res) {
    Run(session, req, res, h);
  });
}

void Routes::Post(const std::string& pattern, ClientHandler h) {
  server_.Post(pattern, [&session = session_, h](const httplib::Request& req, httplib::Response& res) {
    Run(session, req, res, h);
  });
}

void Routes::GetSession(const std::string& pattern, SessionHandler h) {
  server_.Get(pattern, [&session = session_, h](const httplib::Request& req, httplib::Response& res) {
    RunSession(session, req, res, h);
  });
}

void Routes::PostSession(const std::string& pattern, SessionHandler h) {
  server_.Post(pattern, [&session = session_, h](const httplib::Request& req, httplib::Response& res) {
    RunSession(session, req, res, h);
  });
}

std::string Dump(const Json& j) {
  // Text from other people is valid UTF-8 (protobuf checks it), but a damaged record must not
  // turn into an exception: invalid bytes become U+FFFD.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void FailWith(httplib::Response& res, int http_status, const std::string& sentence) {
  res.status = http_status;
  res.set_content(Dump(Json{{"error", sentence}}), "application/json");
}

void Fail(httplib::Response& res, const absl::Status& status) {
  const absl::string_view m = status.message();
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return FailWith(res, 400, Sentence(m));
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return FailWith(res, 503,
                      "Can't reach the clinic's server right now. Please try again when it's "
                      "back.");
    case absl::StatusCode::kNotFound:
      if (absl::StrContains(m, "invite")) {
        return FailWith(res, 404, "That invite code is not known. Check it with your clinic.");
      }
      return FailWith(res, 404, "That could not be found.");
    case absl::StatusCode::kPermissionDenied:
      if (absl::StrContains(m, "passphrase")) {
        return FailWith(res, 403, "That passphrase is not right.");
      }
      return FailWith(res, 403, "Your account is not allowed to do that.");
    case absl::StatusCode::kFailedPrecondition:
      if (m == "locked") return FailWith(res, 423, kLocked);
      if (absl::StrContains(m, "identity key")) {
        return FailWith(res, 409,
                        "Their safety number has changed. Compare the new numbers before you "
                        "write again.");
      }
      if (absl::StrContains(m, "invite")) {
        return FailWith(res, 409, "That invite has been used or has expired. Ask your clinic "
                                  "for a new one.");
      }
      return FailWith(res, 409, Sentence(m));
    case absl::StatusCode::kAlreadyExists:
      return FailWith(res, 409, Sentence(m));
    case absl::StatusCode::kResourceExhausted:
      return FailWith(res, 429, "Too many attempts just now. Please wait a little and try again.");
    case absl::StatusCode::kUnauthenticated:
      return FailWith(res, 403, "The clinic's server did not accept this device's login.");
    case absl::StatusCode::kDataLoss:
      return FailWith(res, 500, "Something on this device is damaged. Your clinic can help.");
    default:
      return FailWith(res, 500, "Something went wrong on this device. Please try again.");
  }
}

absl::StatusOr<Json> Body(const httplib::Request& req) {
  Json body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return absl::InvalidArgumentError("that request could not be read");
  return body;
}

absl::StatusOr<std::string> Str(const Json& body, const char* key, size_t max, const char* what,
                                bool required) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat(what, " is missing"));
    return std::string();
  }
  if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat(what, " is not text"));
  std::string s = it->get<std::string>();
  if (required && s.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is missing"));
  if (s.size() > max) return absl::InvalidArgumentError(absl::StrCat(what, " is too long"));
  return s;
}

absl::StatusOr<int64_t> Int(const Json& body, const char* key, int64_t lo, int64_t hi,
                            const char* what) {
  auto it = body.find(key);
  if (it == body.end() || !it->is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a whole number"));
  }
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be between ", lo, " and ", hi));
  }
  return v;
}

bool Flag(const Json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && it->is_boolean() && it->get<bool>();
}

std::string TimeText(absl::Time t) {
  // %e pads the day with a space ("Sun  6 Dec"); people write "Sun 6 Dec".
  return absl::StrReplaceAll(absl::FormatTime("%a %e %b %H:%M", t, absl::LocalTimeZone()),
                             {{"  ", " "}});
}

int64_t Millis(absl::Time t) { return absl::ToUnixMillis(t); }

Json QrJson(const std::string& text) {
  std::unique_ptr<QRcode, void (*)(QRcode*)> qr(
      QRcode_encodeString8bit(text.c_str(), 0, QR_ECLEVEL_M), QRcode_free);
  Json rows = Json::array();
  if (qr == nullptr) return Json{{"size", 0}, {"rows", rows}};
  for (int y = 0; y < qr->width; ++y) {
    std::string row(static_cast<size_t>(qr->width), '0');
    for (int x = 0; x < qr->width; ++x) {
      if (qr->data[y * qr->width + x] & 1) row[static_cast<size_t>(x)] = '1';
    }
    rows.push_back(row);
  }
  return Json{{"size", qr->width}, {"rows", rows}};
}

std::string ContactId(const httplib::Request& req) {
  return req.matches.size() > 1 ? std::string(req.matches[1]) : std::string();
}

}  // namespace alliance::app

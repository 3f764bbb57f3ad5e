// The body of `POST /api/contacts/ID/send` (app/API.md), read as it arrives. Either JSON
// {"body","intent","urgent","crisis_acknowledged"}, or multipart/form-data with the same text
// fields ("urgent" and "crisis_acknowledged" as "1" or "true"), up to
// wire::kMaxAttachmentsPerMessage parts named "file", and for the i-th file (from 0) an optional
// part "thumbnail_i": a JPEG or PNG preview the page drew, at most wire::kMaxThumbnailSize bytes.
//
// Files go straight to disk in a StagingDir of their own (named 0, 1, ...; mode 0600), removed
// with the SendForm: nothing larger than a text field or a preview is held in memory.
//
//   ALLIANCE_ASSIGN_OR_RETURN(SendForm form, ReadSendForm(req, reader, session.profile_dir()));
//   options.attachments = form.files;
//   ... c.SendText(...);  // The files are removed when `form` goes away.
#ifndef ALLIANCE_APP_SEND_FORM_H_
#define ALLIANCE_APP_SEND_FORM_H_

#include <httplib.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "app/staging_dir.h"
#include "client/views.h"

namespace alliance::app {

struct SendForm {
  std::string body;
  std::string intent;  // May be empty (needs a reply).
  bool urgent = false;
  bool crisis_acknowledged = false;
  // `path` inside the staging directory, `file_name` as the page named it, `media_type` as the
  // browser declared it (empty when it did not know: the library then guesses from the name),
  // `thumbnail` when the page sent one.
  std::vector<client::AttachmentSource> files;
  // Holds `files` (multipart only); removes them when the form goes away.
  std::optional<StagingDir> staging;
};

// Reads the whole request body, even after a problem (so that the connection can carry the next
// request), then reports the first problem: INVALID_ARGUMENT ("that request could not be read",
// "the message is too long", "you can send up to 8 files with one message", "a preview image is
// too large"), FAILED_PRECONDITION (the disk is full), INTERNAL (another write error). Files of
// a failed read are removed before it returns.
[[nodiscard]] absl::StatusOr<SendForm> ReadSendForm(const httplib::Request& req,
                                                    const httplib::ContentReader& reader,
                                                    const std::string& profile_dir);

}  // namespace alliance::app

#endif  // ALLIANCE_APP_SEND_FORM_H_

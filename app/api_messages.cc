// Routes for conversations: contacts, threads, compose preview, export, safety numbers, the
// therapist's due list and digest (app/API.md). Sending is in api_send.cc.
#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "app/api.h"
#include "base/status_macros.h"
#include "care/window_text.h"
#include "client/attachment_files.h"

namespace alliance::app {
namespace {

constexpr char kContact[] = "/api/contacts/([0-9a-f]{32})";

const char* IntentName(v1::Intent intent) {
  switch (intent) {
    case v1::INTENT_FOR_NEXT_SESSION:
      return "next_session";
    case v1::INTENT_JUST_LETTING_YOU_KNOW:
      return "fyi";
    default:
      return "needs_reply";
  }
}

Json AttachmentJson(const client::AttachmentView& a) {
  Json j{{"index", a.index},
         {"file_name", a.file_name},
         {"media_type", a.media_type},
         {"size", a.size},
         {"size_text", client::FormatFileSize(a.size)},
         {"thumbnail", nullptr}};
  // Only types every browser shows and the page's CSP allows as data: URLs; the bytes come from
  // the sender, so the type is the one the library found in them, not the declared one.
  if (!a.thumbnail.empty() &&
      (a.thumbnail_type == "image/png" || a.thumbnail_type == "image/jpeg")) {
    j["thumbnail"] = absl::StrCat("data:", a.thumbnail_type, ";base64,",
                                  absl::Base64Escape(a.thumbnail));
  }
  return j;
}

Json ContactJson(const client::ContactView& c) {
  return Json{{"id", c.id},
              {"role", client::RoleName(c.role)},
              {"name", c.display_name},
              {"verified", c.verified},
              {"identity_changed", c.identity_changed},
              {"unread", c.unread},
              {"messages", c.messages},
              {"missing", c.missing_messages},
              {"missing_before_text",
               c.missing_before ? Json(TimeText(*c.missing_before)) : Json(nullptr)},
              {"due", nullptr}};
}

Json PreviewJson(const client::ComposePreview& p) {
  Json j{{"lines", p.notice},
         {"reply_due_text", nullptr},
         // Always shown to a client: the agreement's notice, or the default one without an
         // agreement (e.g. right after a key change, before the therapist signs again).
         {"emergency_notice", p.emergency_notice}};
  if (p.reply_due.has_value()) j["reply_due_text"] = TimeText(*p.reply_due);
  return j;
}

Json AgreementSummary(const client::AgreementView& a, absl::Time now) {
  if (!a.in_force.has_value()) return nullptr;
  const v1::CareAgreement& g = *a.in_force;
  Json hours = Json::array();
  for (const v1::ResponseWindow& w : g.windows()) hours.push_back(care::FormatResponseWindow(w));
  Json ooo = nullptr;
  for (const v1::OutOfOffice& p : a.out_of_office) {
    const absl::Time start = absl::FromUnixSeconds(p.start_unix());
    const absl::Time end = absl::FromUnixSeconds(p.end_unix());
    if (start <= now && now < end) ooo = Json{{"notice", p.notice()}, {"until_text", TimeText(end)}};
  }
  return Json{{"hours", hours},
              {"time_zone", g.time_zone()},
              {"reply_within_hours", g.reply_within_working_hours()},
              {"emergency_notice", g.emergency_notice()},
              {"out_of_office", ooo}};
}

Json DueJson(const client::DueView& d) {
  Json j{{"contact_id", d.contact_id},   {"contact_name", d.contact_name},
         {"message_id", d.message_id},   {"body", d.body},
         {"time_text", TimeText(d.arrived_at)}, {"due_text", nullptr},
         {"due_at", nullptr},            {"overdue", d.overdue},
         {"urgent", d.urgent},           {"waiting", d.waiting}};
  if (d.due_at.has_value()) {
    j["due_text"] = TimeText(*d.due_at);
    j["due_at"] = Millis(*d.due_at);
  }
  return j;
}

}  // namespace

absl::StatusOr<v1::Intent> ParseIntent(const std::string& s) {
  if (s.empty() || s == "needs_reply") return v1::INTENT_NEEDS_REPLY;
  if (s == "next_session") return v1::INTENT_FOR_NEXT_SESSION;
  if (s == "fyi") return v1::INTENT_JUST_LETTING_YOU_KNOW;
  return absl::InvalidArgumentError("choose what the message is for");
}

Json MessageJson(const client::MessageView& m) {
  Json j{{"id", m.id},
         {"direction", m.device_added                          ? "event"
                       : m.direction == v1::DIRECTION_OUTGOING ? "out"
                                                               : "in"},
         {"sent_at", Millis(m.sent_at)},
         {"time_text", TimeText(m.sent_at)},
         {"state", client::DeliveryStateName(m.state)},
         {"body", m.body},
         {"intent", IntentName(m.intent)},
         {"urgent", m.urgent},
         {"unverified", m.identity_unverified},
         {"undecryptable", m.undecryptable},
         {"notice", m.notice},
         {"reply_due_text", nullptr},
         {"attachments", Json::array()}};
  if (m.reply_due.has_value()) j["reply_due_text"] = TimeText(*m.reply_due);
  for (const client::AttachmentView& a : m.attachments) j["attachments"].push_back(AttachmentJson(a));
  return j;
}

void AddMessageRoutes(Routes& r) {
  r.Get("/api/contacts", [](const httplib::Request&, client::Client& c, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(client::AccountView me, c.Account());
    // Refresh from the relay when it is there; the list still shows when it is not.
    absl::StatusOr<std::vector<client::ContactView>> contacts = c.Contacts(true);
    if (!contacts.ok()) contacts = c.Contacts(false);
    ALLIANCE_RETURN_IF_ERROR(contacts.status());
    std::vector<client::DueView> due;
    if (me.role == v1::ROLE_THERAPIST) {
      absl::StatusOr<std::vector<client::DueView>> d = c.DueList();
      if (d.ok()) due = *std::move(d);
    }
    out = Json::array();
    for (const client::ContactView& contact : *contacts) {
      Json j = ContactJson(contact);
      for (const client::DueView& d : due) {
        if (d.contact_id != contact.id) continue;
        j["due"] = DueJson(d);
        break;
      }
      out.push_back(j);
    }
    return absl::OkStatus();
  });

  r.Get(absl::StrCat(kContact, "/thread"),
        [](const httplib::Request& req, client::Client& c, Json& out) -> absl::Status {
          ALLIANCE_ASSIGN_OR_RETURN(client::ContactView contact, c.ResolveContact(ContactId(req)));
          ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::MessageView> messages,
                                    c.History(contact.id, /*mark_read=*/true));
          ALLIANCE_ASSIGN_OR_RETURN(client::ComposePreview preview, c.Preview(contact.id));
          out["contact"] = ContactJson(contact);
          out["contact"]["unread"] = 0;
          out["messages"] = Json::array();
          for (const client::MessageView& m : messages) out["messages"].push_back(MessageJson(m));
          out["compose"] = PreviewJson(preview);
          out["agreement"] = nullptr;
          out["pending_agreement"] = false;
          if (contact.role == v1::ROLE_THERAPIST || contact.role == v1::ROLE_CLIENT) {
            absl::StatusOr<client::AgreementView> a = c.Agreement(contact.id);
            if (a.ok()) {
              out["agreement"] = AgreementSummary(*a, absl::Now());
              out["pending_agreement"] = a->pending.has_value();
            }
          }
          return absl::OkStatus();
        });

  r.Get(absl::StrCat(kContact, "/preview"),
        [](const httplib::Request& req, client::Client& c, Json& out) -> absl::Status {
          client::SendOptions o;
          ALLIANCE_ASSIGN_OR_RETURN(o.intent, ParseIntent(req.get_param_value("intent")));
          o.urgent = req.get_param_value("urgent") == "1";
          ALLIANCE_ASSIGN_OR_RETURN(client::ComposePreview p, c.Preview(ContactId(req), o));
          out = PreviewJson(p);
          return absl::OkStatus();
        });

  r.server().Get(absl::StrCat(kContact, "/export"),
                 [&session = r.session()](const httplib::Request& req, httplib::Response& res) {
                   session.Touch();
                   absl::StatusOr<std::shared_ptr<client::Client>> c = session.Client();
                   if (!c.ok()) return FailWith(res, 423, "Alliance is locked. Unlock it to "
                                                          "continue.");
                   absl::StatusOr<std::string> json = (*c)->ExportJson(ContactId(req));
                   if (!json.ok()) return Fail(res, json.status());
                   res.set_header("Content-Disposition",
                                  "attachment; filename=\"alliance-conversation.json\"");
                   res.set_content(*json, "application/json");
                 });

  r.Get(absl::StrCat(kContact, "/safety"),
        [](const httplib::Request& req, client::Client& c, Json& out) -> absl::Status {
          ALLIANCE_ASSIGN_OR_RETURN(client::ContactView contact, c.ResolveContact(ContactId(req)));
          ALLIANCE_ASSIGN_OR_RETURN(client::SafetyNumberView n, c.SafetyNumber(contact.id));
          Json groups = Json::array();
          for (size_t i = 0; i + 5 <= n.digits.size(); i += 5) groups.push_back(n.digits.substr(i, 5));
          out = Json{{"digits", n.digits},
                     {"groups", groups},
                     {"verified", n.verified},
                     {"identity_changed", contact.identity_changed},
                     {"qr", QrJson(n.qr_payload)}};
          return absl::OkStatus();
        });

  r.Post(absl::StrCat(kContact, "/verify"),
         [](const httplib::Request& req, client::Client& c, Json&) -> absl::Status {
           ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
           ALLIANCE_ASSIGN_OR_RETURN(std::string digits, Str(body, "digits", 200, "the number"));
           return c.Verify(ContactId(req), digits);
         });

  r.Post(absl::StrCat(kContact, "/accept"),
         [](const httplib::Request& req, client::Client& c, Json&) -> absl::Status {
           ALLIANCE_ASSIGN_OR_RETURN(Json body, Body(req));
           ALLIANCE_ASSIGN_OR_RETURN(std::string digits, Str(body, "digits", 200, "the number"));
           return c.AcceptKey(ContactId(req), digits);
         });

  r.Get("/api/due", [](const httplib::Request&, client::Client& c, Json& out) -> absl::Status {
    ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::DueView> due, c.DueList());
    std::stable_sort(due.begin(), due.end(), [](const client::DueView& a, const client::DueView& b) {
      return a.due_at.value_or(absl::InfiniteFuture()) < b.due_at.value_or(absl::InfiniteFuture());
    });
    out = Json::array();
    for (const client::DueView& d : due) out.push_back(DueJson(d));
    return absl::OkStatus();
  });

  r.Get(absl::StrCat(kContact, "/digest"),
        [](const httplib::Request& req, client::Client& c, Json& out) -> absl::Status {
          ALLIANCE_ASSIGN_OR_RETURN(std::vector<client::DueView> items, c.Digest(ContactId(req)));
          out = Json::array();
          for (const client::DueView& d : items) out.push_back(DueJson(d));
          return absl::OkStatus();
        });
}

}  // namespace alliance::app

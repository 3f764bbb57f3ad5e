// On-device crisis check of a message before it is sent (issue 5, "Crisis prompt").
//
// The text is compared with a small built-in list of crisis phrases plus the phrases the clinic
// added to the care agreement. Matching is on whole words: both the text and each phrase are
// split into words (runs of ASCII letters and digits, and any non-ASCII UTF-8 bytes), ASCII
// letters are folded to lower case, and a phrase matches when its words appear consecutively in
// the text. So "Kill-myself" matches "kill myself", while "skill myself" or "I could kill for a
// coffee" do not.
//
// The check is a pure function: it never blocks the message, stores nothing, logs nothing and
// touches no network. The caller shows the emergency notice and asks for confirmation on a
// match; the relay is never told.
//
//   CrisisCheck check = CheckForCrisis(body, &agreement_in_force);
//   if (check.matched) { /* show agreement.emergency_notice(), ask "send anyway?" */ }
//
// Thread safety: all functions are pure and may be called concurrently.
#ifndef ALLIANCE_CARE_CRISIS_H_
#define ALLIANCE_CARE_CRISIS_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alliance/v1/care.pb.h"

namespace alliance::care {

// Bounds for the clinic's extra phrases (enforced by ValidateAgreement).
inline constexpr size_t kMaxCrisisPhrases = 64;
inline constexpr size_t kMaxCrisisPhraseBytes = 100;

struct CrisisCheck {
  // True when at least one phrase matched.
  bool matched = false;
  // The first phrase that matched (as written in the list), for display on this device only.
  std::string phrase;
};

// The built-in phrases (English), in the order they are tried.
std::span<const std::string_view> BuiltInCrisisPhrases();

// Splits `text` into the lower-cased words matching works on (see the file comment).
// Exposed for tests and for validating phrases.
std::vector<std::string> CrisisWords(std::string_view text);

// True when `phrase` is usable as an extra crisis phrase: at most kMaxCrisisPhraseBytes bytes
// and at least one word.
[[nodiscard]] bool IsValidCrisisPhrase(std::string_view phrase);

// Checks `text` against the built-in phrases and `extra_phrases` (phrases without a word are
// skipped). Never fails; the result depends only on the arguments.
[[nodiscard]] CrisisCheck CheckForCrisis(std::string_view text,
                                         std::span<const std::string> extra_phrases = {});

// As above with the extra phrases of `agreement` (nullptr: built-in phrases only). `agreement`
// is only read during the call.
[[nodiscard]] CrisisCheck CheckForCrisis(std::string_view text, const v1::CareAgreement* agreement);

}  // namespace alliance::care

#endif  // ALLIANCE_CARE_CRISIS_H_

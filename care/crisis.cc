// Word-boundary phrase matching for the on-device crisis check.
#include "care/crisis.h"

#include <algorithm>
#include <array>

namespace alliance::care {
namespace {

// Deliberately small and specific: multi-word phrases avoid matching everyday speech.
constexpr std::array<std::string_view, 18> kBuiltIn = {
    "kill myself",    "killing myself",     "end my life",
    "ending my life", "take my own life",   "want to die",
    "wanna die",      "better off dead",    "suicide",
    "suicidal",       "hurt myself",        "hurting myself",
    "self harm",      "harm myself",        "no reason to live",
    "end it all",     "don't want to live", "do not want to live",
};

bool IsAsciiWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Length of a UTF-8 sequence that separates words like punctuation does: U+2019 (right single
// quotation mark, the typographic apostrophe), U+2018, U+2013/U+2014 (dashes) and U+00A0
// (no-break space). 0 when `text` does not start with one.
size_t SeparatorSequenceLength(std::string_view text) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xE2 &&
      static_cast<unsigned char>(text[1]) == 0x80) {
    unsigned char c = static_cast<unsigned char>(text[2]);
    if (c == 0x98 || c == 0x99 || c == 0x93 || c == 0x94) return 3;
  }
  if (text.size() >= 2 && static_cast<unsigned char>(text[0]) == 0xC2 &&
      static_cast<unsigned char>(text[1]) == 0xA0) {
    return 2;
  }
  return 0;
}

// True when `needle` occurs as consecutive words in `haystack`.
bool ContainsWords(const std::vector<std::string>& haystack,
                   const std::vector<std::string>& needle) {
  if (needle.empty() || needle.size() > haystack.size()) return false;
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

}  // namespace

std::span<const std::string_view> BuiltInCrisisPhrases() { return kBuiltIn; }

std::vector<std::string> CrisisWords(std::string_view text) {
  std::vector<std::string> words;
  std::string current;
  size_t i = 0;
  while (i < text.size()) {
    if (size_t sep = SeparatorSequenceLength(text.substr(i)); sep > 0) {
      if (!current.empty()) words.push_back(std::move(current));
      current.clear();
      i += sep;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (IsAsciiWordByte(c) || c >= 0x80) {
      current.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a')
                                             : static_cast<char>(c));
    } else if (!current.empty()) {
      words.push_back(std::move(current));
      current.clear();
    }
    ++i;
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
}

bool IsValidCrisisPhrase(std::string_view phrase) {
  return phrase.size() <= kMaxCrisisPhraseBytes && !CrisisWords(phrase).empty();
}

CrisisCheck CheckForCrisis(std::string_view text, std::span<const std::string> extra_phrases) {
  const std::vector<std::string> words = CrisisWords(text);
  CrisisCheck result;
  auto try_phrase = [&](std::string_view phrase) {
    if (phrase.size() > kMaxCrisisPhraseBytes) return false;
    if (!ContainsWords(words, CrisisWords(phrase))) return false;
    result.matched = true;
    result.phrase = std::string(phrase);
    return true;
  };
  for (std::string_view phrase : kBuiltIn) {
    if (try_phrase(phrase)) return result;
  }
  for (const std::string& phrase : extra_phrases) {
    if (try_phrase(phrase)) return result;
  }
  return result;
}

CrisisCheck CheckForCrisis(std::string_view text, const v1::CareAgreement* agreement) {
  if (agreement == nullptr) return CheckForCrisis(text, std::span<const std::string>{});
  std::vector<std::string> extra(agreement->crisis_phrases().begin(),
                                 agreement->crisis_phrases().end());
  return CheckForCrisis(text, extra);
}

}  // namespace alliance::care

// Tests for client/care/crisis.h: whole-word, case-insensitive phrase matching on the device.
#include "care/crisis.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/care/care_test_util.h"

namespace alliance::care {
namespace {

TEST(CrisisTest, MatchesBuiltInPhraseIgnoringCase) {
  CrisisCheck c = CheckForCrisis("Some nights I think I will KILL   Myself.");
  EXPECT_TRUE(c.matched);
  EXPECT_EQ(c.phrase, "kill myself");
}

TEST(CrisisTest, MatchesAcrossPunctuationAndTypographicApostrophe) {
  EXPECT_TRUE(CheckForCrisis("honestly i don\xE2\x80\x99t want to live anymore").matched);
  EXPECT_TRUE(CheckForCrisis("thinking about self-harm again").matched);
  EXPECT_TRUE(CheckForCrisis("Suicidal.").matched);
}

TEST(CrisisTest, NearMissesDoNotMatch) {
  for (const char* text : {
           "I could kill for a coffee after that meeting",
           "Trying to skill myself up for the new job",
           "I want to diet before the summer",
           "The deadline is killing me",
           "my suicidesquad poster arrived",
           "",
       }) {
    EXPECT_FALSE(CheckForCrisis(text).matched) << text;
  }
}

TEST(CrisisTest, MatchesClinicPhrasesFromAgreement) {
  v1::CareAgreement a = testing::OfficeHours("Europe/Berlin");
  a.add_crisis_phrases("Nicht mehr leben");
  a.add_crisis_phrases("jump off the bridge");
  CrisisCheck c = CheckForCrisis("ich will nicht mehr leben", &a);
  EXPECT_TRUE(c.matched);
  EXPECT_EQ(c.phrase, "Nicht mehr leben");
  EXPECT_TRUE(CheckForCrisis("I keep thinking I'll jump off the bridge", &a).matched);
  // Without the agreement only the built-in list applies.
  EXPECT_FALSE(CheckForCrisis("ich will nicht mehr leben", nullptr).matched);
  EXPECT_FALSE(CheckForCrisis("ich will nicht mehr leben").matched);
}

TEST(CrisisTest, ClinicPhraseNearMissDoesNotMatch) {
  const std::vector<std::string> extra = {"jump off the bridge"};
  EXPECT_TRUE(CheckForCrisis("I could jump off the bridge", extra).matched);
  EXPECT_FALSE(CheckForCrisis("in the film he jumped off the bridge", extra).matched);
  EXPECT_FALSE(CheckForCrisis("jump off the bridges of Paris tour", extra).matched);
}

TEST(CrisisTest, CheckHasNoSideEffects) {
  v1::CareAgreement a = testing::OfficeHours("Europe/Berlin");
  a.add_crisis_phrases("end things");
  const std::string before = a.SerializeAsString();
  const std::string text = "I want to end things";
  const std::string text_before = text;
  const CrisisCheck first = CheckForCrisis(text, &a);
  for (int i = 0; i < 3; ++i) {
    const CrisisCheck again = CheckForCrisis(text, &a);
    EXPECT_EQ(again.matched, first.matched);
    EXPECT_EQ(again.phrase, first.phrase);
  }
  EXPECT_TRUE(first.matched);
  EXPECT_EQ(a.SerializeAsString(), before);  // The agreement is only read.
  EXPECT_EQ(text, text_before);
  // The result carries nothing but the verdict and the phrase from the list; never the text.
  EXPECT_EQ(first.phrase, "end things");
}

TEST(CrisisTest, WordsAreLowerCasedAndSplitOnNonWordBytes) {
  EXPECT_EQ(CrisisWords("Don't  STOP-now!"), (std::vector<std::string>{"don", "t", "stop", "now"}));
  EXPECT_EQ(CrisisWords("Selbstmord\xC2\xA0gedanken"),
            (std::vector<std::string>{"selbstmord", "gedanken"}));
  EXPECT_EQ(CrisisWords("Übermorgen"), (std::vector<std::string>{"\xC3\x9C"
                                                                 "bermorgen"}));
  EXPECT_TRUE(CrisisWords(" ,.;! ").empty());
}

TEST(CrisisTest, ValidPhraseNeedsAWordAndBoundedLength) {
  EXPECT_TRUE(IsValidCrisisPhrase("end it all"));
  EXPECT_FALSE(IsValidCrisisPhrase(""));
  EXPECT_FALSE(IsValidCrisisPhrase("?!"));
  EXPECT_FALSE(IsValidCrisisPhrase(std::string(kMaxCrisisPhraseBytes + 1, 'a')));
}

TEST(CrisisTest, BuiltInPhrasesAreAllValidAndMatchThemselves) {
  ASSERT_FALSE(BuiltInCrisisPhrases().empty());
  for (std::string_view phrase : BuiltInCrisisPhrases()) {
    EXPECT_TRUE(IsValidCrisisPhrase(phrase)) << phrase;
    EXPECT_TRUE(CheckForCrisis(std::string("well, ") + std::string(phrase) + ".").matched)
        << phrase;
  }
}

}  // namespace
}  // namespace alliance::care

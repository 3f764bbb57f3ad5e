// The propagation macros: errors pass through unchanged unless a caller adds context.
#include "base/status_macros.h"

#include "gtest/gtest.h"

namespace alliance::base {
namespace {

absl::Status Fail() { return absl::NotFoundError("no such contact"); }
absl::StatusOr<int> Value(bool ok) {
  if (!ok) return absl::UnavailableError("relay down");
  return 7;
}

absl::Status Plain() {
  ALLIANCE_RETURN_IF_ERROR(Fail());
  return absl::OkStatus();
}
absl::Status WithContext() {
  ALLIANCE_RETURN_IF_ERROR(Fail()) << "while resolving " << 3 << " names";
  return absl::OkStatus();
}
absl::StatusOr<int> IntoStatusOr() {
  ALLIANCE_RETURN_IF_ERROR(Fail()) << "while sending";
  return 1;
}
absl::Status UnbracedIfElse(bool fail, bool* else_ran) {
  if (fail)
    ALLIANCE_RETURN_IF_ERROR(Fail());
  else
    *else_ran = true;
  return absl::OkStatus();
}
absl::StatusOr<int> Assign(bool ok) {
  ALLIANCE_ASSIGN_OR_RETURN(int v, Value(ok));
  return v + 1;
}

TEST(StatusMacrosTest, ReturnIfErrorPassesTheStatusThrough) {
  EXPECT_EQ(Plain(), absl::NotFoundError("no such contact"));
}

TEST(StatusMacrosTest, ContextKeepsTheCodeAndPrefixesTheMessage) {
  absl::Status s = WithContext();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "while resolving 3 names: no such contact");
  EXPECT_EQ(IntoStatusOr().status(), absl::NotFoundError("while sending: no such contact"));
}

TEST(StatusMacrosTest, AssignOrReturnMovesTheValueOrReturnsTheError) {
  EXPECT_EQ(*Assign(true), 8);
  EXPECT_EQ(Assign(false).status().code(), absl::StatusCode::kUnavailable);
}

TEST(StatusMacrosTest, AnUnbracedElseStillBindsToTheCallersIf) {
  bool else_ran = false;
  EXPECT_FALSE(UnbracedIfElse(true, &else_ran).ok());
  EXPECT_FALSE(else_ran);
  EXPECT_TRUE(UnbracedIfElse(false, &else_ran).ok());
  EXPECT_TRUE(else_ran);
}

}  // namespace
}  // namespace alliance::base

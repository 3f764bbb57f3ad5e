// `alliance-relay --version` and `status` against a real relay process.
#include <signal.h>

#include "tests/e2e/e2e_fixture.h"

namespace alliance::e2e {
namespace {

class RelayStatusE2eTest : public E2eFixture {};

TEST_F(RelayStatusE2eTest, VersionComesFromTheBuild) {
  Result r = RunCommand({kRelay, "--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("alliance-relay ") + ALLIANCE_VERSION + "\n");
}

TEST_F(RelayStatusE2eTest, ServingThenUnreachable) {
  Result serving = RunCommand({kRelay, "status", "--address", Address()});
  EXPECT_EQ(serving.exit_code, 0) << serving.err;
  EXPECT_EQ(serving.out, "SERVING\n");
  EXPECT_EQ(serving.err, "");

  EXPECT_EQ(StopRelay(), 0);
  Result down = RunCommand({kRelay, "status", "--address", Address(), "--timeout", "2"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_EQ(down.out, "");
  EXPECT_EQ(down.err, "alliance-relay: cannot reach relay " + Address() + ": connection refused\n");

  // Bad input: no address (usage error), an unreadable CA file (one line).
  Result no_address = RunCommand({kRelay, "status"});
  EXPECT_NE(no_address.exit_code, 0);
  EXPECT_EQ(no_address.out, "");
  Result no_ca = RunCommand(
      {kRelay, "status", "--address", Address(), "--ca-file", (dir_ / "missing.pem").string()});
  EXPECT_EQ(no_ca.exit_code, 1);
  EXPECT_EQ(Lines(no_ca.err), 1) << no_ca.err;
  EXPECT_NE(no_ca.err.find("cannot read CA file"), std::string::npos);
}

}  // namespace
}  // namespace alliance::e2e

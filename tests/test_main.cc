// GoogleTest entry point for every Alliance test: initialises libsodium once, as each main() must.
#include <sodium.h>

#include <cstdio>

#include "gtest/gtest.h"

int main(int argc, char** argv) {
  if (sodium_init() < 0) {
    std::fprintf(stderr, "alliance tests: libsodium failed to initialise\n");
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

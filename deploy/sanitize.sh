#!/usr/bin/env bash
# ThreadSanitizer run of the relay's concurrent suites (issue 11). AddressSanitizer and
# UndefinedBehaviorSanitizer run in .ci/run already (deploy/test.sh, the clang build); TSan
# needs a build of its own, so it lives here.
#
#   ./deploy/sanitize.sh            build build-tsan (clang-14, -fsanitize=thread) and run the
#                                   relay's in-process suites (tests/server) and the client
#                                   suites, which run a relay in the same process
#   ALLIANCE_TSAN_SUITES="server"   only those test directories
#
# Debian's gRPC, protobuf, abseil and RocksDB are not instrumented: TSan sees our code's
# accesses and the locks we take, not races inside those libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
jobs="${ALLIANCE_JOBS:-$(nproc)}"
suites="${ALLIANCE_TSAN_SUITES:-server;client}"
CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DALLIANCE_BUILD_TESTS=ON -DALLIANCE_TEST_SUBSET="$suites" -DALLIANCE_BUILD_BENCHMARKS=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread"
cmake --build build-tsan -j "$jobs"
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/deploy/tsan.supp" \
  ctest --test-dir build-tsan --output-on-failure -j "$jobs" --timeout 900

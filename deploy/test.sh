#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test (CTest).
# Usage: ./deploy/test.sh            (build dirs: ./build, and ./build-clang for the clang checks)
#
# Environment:
#   ALLIANCE_JOBS            parallel jobs (default: nproc)
#   ALLIANCE_FUZZ_SECONDS    seconds per fuzz target in the bounded run (default 25; six
#                            targets, so about 2.5 minutes in all)
#   ALLIANCE_TEST_ONLY=fuzz  only the clang build and its fuzz tests (skips the gcc build and
#                            its tests; for working on tests/fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
jobs="${ALLIANCE_JOBS:-$(nproc)}"
export ALLIANCE_FUZZ_SECONDS="${ALLIANCE_FUZZ_SECONDS:-25}"

# One clang-14 build for two checks:
#  * thread safety: -Wthread-safety -Werror over every library and program, so the
#    ABSL_GUARDED_BY and *_LOCKS_REQUIRED annotations are enforced, not just written;
#  * fuzzing: ALLIANCE_FUZZ compiles the libraries with -fsanitize=fuzzer-no-link,address,undefined
#    and links the libFuzzer targets of tests/fuzz.
# Other tests and benchmarks are left to the main build.
CC=clang CXX=clang++ cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DALLIANCE_BUILD_TESTS=OFF -DALLIANCE_BUILD_BENCHMARKS=OFF -DALLIANCE_FUZZ=ON \
  -DCMAKE_CXX_FLAGS="-Wthread-safety -Wthread-safety-beta"
cmake --build build-clang -j "$jobs"

if [ "${ALLIANCE_TEST_ONLY:-}" != "fuzz" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build build -j "$jobs"
  ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600
fi

# Every fuzz target replays its checked-in seeds and regressions, then fuzzes for
# ALLIANCE_FUZZ_SECONDS; one at a time, as each keeps a core busy. A crash fails the command.
ctest --test-dir build-clang -L fuzz --output-on-failure -j 1
cat build-clang/tests/fuzz/fuzz-work/*/summary.txt

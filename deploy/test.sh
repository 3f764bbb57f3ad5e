#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test (CTest).
# Usage: ./deploy/test.sh            (build dirs: ./build, and ./build-clang for the clang checks)
#
# Environment:
#   ALLIANCE_JOBS            parallel jobs (default: nproc)
#   ALLIANCE_FUZZ_SECONDS    seconds per fuzz target in the bounded run (default 25; six
#                            targets, so about 2.5 minutes in all)
#   ALLIANCE_TEST_ONLY=fuzz  only the clang build and its tests (sanitized suites and fuzz
#                            targets; skips the gcc build and its tests)
#   ALLIANCE_SANITIZED_SUITES  tests/ directories built and run under ASan + UBSan in the clang
#                            build (default: base;wire;crypto;care;server;client)
#   ALLIANCE_SKIP_TSAN=1     skip the ThreadSanitizer subset (./build-tsan-ci)
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
jobs="${ALLIANCE_JOBS:-$(nproc)}"
export ALLIANCE_FUZZ_SECONDS="${ALLIANCE_FUZZ_SECONDS:-25}"

# One clang-14 build for three checks:
#  * thread safety: -Wthread-safety -Werror over every library and program, so the
#    ABSL_GUARDED_BY and *_LOCKS_REQUIRED annotations are enforced, not just written;
#  * fuzzing: ALLIANCE_FUZZ compiles the libraries with -fsanitize=fuzzer-no-link,address,undefined
#    and links the libFuzzer targets of tests/fuzz;
#  * sanitizers: the in-process suites (ALLIANCE_SANITIZED_SUITES) are built against those
#    ASan + UBSan libraries and run below; any report fails the test (halt_on_error, and UBSan
#    does not recover). The end-to-end, browser and benchmark tests run in the main build only.
sanitized_suites="${ALLIANCE_SANITIZED_SUITES:-base;wire;crypto;care;server;client}"
CC=clang CXX=clang++ cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DALLIANCE_BUILD_TESTS=ON -DALLIANCE_TEST_SUBSET="$sanitized_suites" \
  -DALLIANCE_BUILD_BENCHMARKS=OFF -DALLIANCE_FUZZ=ON \
  -DCMAKE_CXX_FLAGS="-Wthread-safety -Wthread-safety-beta"
cmake --build build-clang -j "$jobs"

if [ "${ALLIANCE_TEST_ONLY:-}" != "fuzz" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build build -j "$jobs"
  ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600
fi

# The in-process suites under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer
# included). detect_leaks stays on: a leak in our code fails the test.
ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_string_checks=1" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  ctest --test-dir build-clang -LE fuzz --output-on-failure -j "$jobs" --timeout 900

# ThreadSanitizer over the relay's stores and lock-heavy parts, in a build of its own. These
# suites drive the stores, the commit pool, the rate limiters and the authenticator from many
# threads without a gRPC server in between: Debian's gRPC is not built with TSan, so the
# suites that serve gRPC in-process drown in reports TSan cannot attribute (deploy/sanitize.sh
# runs them, informational). Our locks are base::Mutex (std::mutex underneath), which TSan sees.
if [ "${ALLIANCE_SKIP_TSAN:-}" != 1 ]; then
  tsan_targets=(base/base_mutex_test server/relay_store_test server/relay_auth_test
                server/relay_storage_test server/relay_migrate_test server/relay_config_test)
  CC=clang CXX=clang++ cmake -S . -B build-tsan-ci -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DALLIANCE_BUILD_TESTS=ON -DALLIANCE_TEST_SUBSET="base;server" -DALLIANCE_BUILD_BENCHMARKS=OFF \
    -DALLIANCE_BUILD_CLIENT=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread"
  cmake --build build-tsan-ci -j "$jobs" --target "${tsan_targets[@]##*/}"
  # Left out: CommitPoolTest.EveryBatchIsWritten... has eight threads write at once (and
  # MailboxTest.NoSendRacingAnErasure... four, racing an erasure), and RocksDB's write group
  # lets one writer thread write another's batch; that hand-off is inside uninstrumented
  # RocksDB, so TSan reports the batch as raced.
  for t in "${tsan_targets[@]}"; do
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/deploy/tsan.supp" \
      "build-tsan-ci/tests/$t" --gtest_brief=1 \
      --gtest_filter=-CommitPoolTest.EveryBatchIsWrittenAndEveryCompletionRunsOnce:MailboxTest.NoSendRacingAnErasureOutlivesIt
  done
fi

# Every fuzz target replays its checked-in seeds and regressions, then fuzzes for
# ALLIANCE_FUZZ_SECONDS; one at a time, as each keeps a core busy. A crash fails the command.
ctest --test-dir build-clang -L fuzz --output-on-failure -j 1
cat build-clang/tests/fuzz/fuzz-work/*/summary.txt

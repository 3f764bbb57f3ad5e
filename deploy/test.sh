#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test (CTest).
# Usage: ./deploy/test.sh            (build dirs: ./build, and ./build-tsa for the clang check)
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
jobs="${ALLIANCE_JOBS:-$(nproc)}"

# The thread-safety check: clang-14 with -Wthread-safety -Werror over every library and
# program (tests and benchmarks are left to the main build), so the ABSL_GUARDED_BY and
# *_LOCKS_REQUIRED annotations are enforced, not just written.
CC=clang CXX=clang++ cmake -S . -B build-tsa -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DALLIANCE_BUILD_TESTS=OFF -DALLIANCE_BUILD_BENCHMARKS=OFF \
  -DCMAKE_CXX_FLAGS="-Wthread-safety -Wthread-safety-beta"
cmake --build build-tsa -j "$jobs"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600

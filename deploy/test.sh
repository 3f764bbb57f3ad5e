#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test (CTest).
# Usage: ./deploy/test.sh            (build dir: ./build)
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
jobs="${ALLIANCE_JOBS:-$(nproc)}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600

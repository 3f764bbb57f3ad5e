#!/usr/bin/env bash
# Long fuzzing runs: the same libFuzzer targets, corpora and checks as the bounded run in
# deploy/test.sh, for longer. Builds ./build-clang as deploy/test.sh does, then runs each target
# in turn (one at a time: each keeps a core busy) and prints exec/s, cov and ft from libFuzzer's
# final stats per target. A crash stops the script with the input's path.
#
# Usage: ./deploy/fuzz.sh [TARGET...]     (default: every target)
# Environment:
#   ALLIANCE_FUZZ_SECONDS  seconds per target (default 600)
#   ALLIANCE_FUZZ_WORK     where new corpus entries and crashes go
#                          (default build-clang/tests/fuzz/fuzz-work; kept between runs, so a
#                          later run continues from what an earlier one found)
#   ALLIANCE_JOBS          build jobs (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
export ALLIANCE_FUZZ_SECONDS="${ALLIANCE_FUZZ_SECONDS:-600}"
jobs="${ALLIANCE_JOBS:-$(nproc)}"
all=(ratchet_decrypt prekey sealed_store care_documents relay_config relay_requests)
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then targets=("${all[@]}"); fi

./deploy/install-deps.sh
CC=clang CXX=clang++ cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DALLIANCE_BUILD_TESTS=OFF -DALLIANCE_BUILD_BENCHMARKS=OFF -DALLIANCE_FUZZ=ON \
  -DCMAKE_CXX_FLAGS="-Wthread-safety -Wthread-safety-beta" > /dev/null
cmake --build build-clang -j "$jobs"

echo "fuzzing ${#targets[@]} target(s), ${ALLIANCE_FUZZ_SECONDS}s each"
for t in "${targets[@]}"; do
  tests/fuzz/run_target.sh fuzz "build-clang/tests/fuzz/fuzz_$t" "$t"
done

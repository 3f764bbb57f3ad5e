#!/usr/bin/env bash
# Runs one libFuzzer target of tests/fuzz (called by CTest and deploy/fuzz.sh).
#
# Usage: run_target.sh fuzz|replay BINARY NAME
#   fuzz    fuzzes for ALLIANCE_FUZZ_SECONDS (default 25) from corpus/NAME and regressions/NAME;
#           new inputs go to $ALLIANCE_FUZZ_WORK/NAME (default: BINARY's dir/fuzz-work), crashes
#           to .../NAME/artifacts. Prints one summary line: exec/s, cov, ft, corpus size.
#   replay  runs every file of corpus/NAME and regressions/NAME once.
# Exit status: non-zero on any crash, leak, sanitizer report or broken invariant.
set -euo pipefail
mode="$1" bin="$2" name="$3"
here="$(cd "$(dirname "$0")" && pwd)"
seeds="$here/corpus/$name"
regressions="$here/regressions/$name"
dirs=("$seeds")
if [ -d "$regressions" ]; then dirs+=("$regressions"); fi

case "$mode" in
  replay)
    files=()
    for d in "${dirs[@]}"; do
      for f in "$d"/*; do [ -f "$f" ] && files+=("$f"); done
    done
    log="$(mktemp)"
    if ! "$bin" "${files[@]}" > "$log" 2>&1; then
      cat "$log"; rm -f "$log"; exit 1
    fi
    rm -f "$log"
    echo "replay $name: ${#files[@]} inputs, no crash"
    ;;
  fuzz)
    seconds="${ALLIANCE_FUZZ_SECONDS:-25}"
    work="${ALLIANCE_FUZZ_WORK:-$(dirname "$bin")/fuzz-work}/$name"
    mkdir -p "$work/corpus" "$work/artifacts"
    log="$work/last-run.log"
    status=0
    "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=3072 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/" "$work/corpus" "${dirs[@]}" > "$log" 2>&1 || status=$?
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
    execs="$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -n 1)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$done_line")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$done_line")"
    corp="$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<< "$done_line")"
    runs="$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)"
    if [ "$status" -ne 0 ]; then
      tail -n 80 "$log"
      echo "fuzz $name: FAILED (exit $status); input saved under $work/artifacts/ —" \
           "check it in under tests/fuzz/regressions/$name/ once fixed"
      exit "$status"
    fi
    echo "fuzz $name: ${seconds}s, ${runs:-?} runs, exec/s ${execs:-?}, cov ${cov:-?}," \
         "ft ${ft:-?}, corpus ${corp:-?}" | tee "$work/summary.txt"
    ;;
  *)
    echo "usage: $0 fuzz|replay BINARY NAME" >&2
    exit 2
    ;;
esac

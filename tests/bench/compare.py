#!/usr/bin/env python3
"""Turns `crypto_bench --benchmark_format=json` output into the issue-2 comparison table.

Usage:
  crypto_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
      --benchmark_format=json > bench.json
  python3 tests/bench/compare.py bench.json      # or: ... | python3 tests/bench/compare.py

For every case (session_setup, steady_1KiB, alternating_1KiB) it prints the time per iteration
in microseconds for alliance, olm and signal, the ratio alliance / faster peer and PASS when that
ratio is at most 0.5 (FAIL otherwise; "-" where alliance rows are missing), then the floor rows.
Times are medians: the `_median` aggregate when the run had repetitions, else the median of the
plain rows. CPU time by default (steadier on a shared machine); --real-time for wall time.
Exit status: 0, or 1 with --strict when any case fails or lacks alliance rows, 2 on bad input.
Python 3 standard library only.
"""

import argparse
import json
import statistics
import sys

CASES = ("session_setup", "steady_1KiB", "alternating_1KiB")
IMPLS = ("alliance", "olm", "signal")
PEERS = ("olm", "signal")
TARGET_RATIO = 0.5
TO_MICROS = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def load_rows(stream):
    try:
        document = json.load(stream)
    except json.JSONDecodeError as err:
        raise SystemExit(f"compare.py: input is not benchmark JSON: {err}") from None
    rows = document.get("benchmarks") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise SystemExit("compare.py: input has no 'benchmarks' list")
    return rows


def median_micros(rows, time_key):
    """Maps each benchmark name to its median time in µs; names of failed runs map to None."""
    medians, samples, failed = {}, {}, set()
    for row in rows:
        name = row.get("run_name") or row.get("name")
        if row.get("error_occurred"):
            failed.add(name)
            continue
        micros = row[time_key] * TO_MICROS[row.get("time_unit", "ns")]
        if row.get("run_type") == "aggregate":
            if row.get("aggregate_name") == "median":
                medians[name] = micros
        else:
            samples.setdefault(name, []).append(micros)
    for name, values in samples.items():
        medians.setdefault(name, statistics.median(values))
    for name in failed:
        medians[name] = None
    return medians


def fmt(micros):
    if micros is None:
        return "-"
    return f"{micros:.2f}" if micros < 100 else f"{micros:.0f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_file", nargs="?", help="benchmark JSON (default: stdin)")
    parser.add_argument("--real-time", action="store_true", help="use wall time, not CPU time")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless every case passes")
    args = parser.parse_args()

    if args.json_file:
        with open(args.json_file, encoding="utf-8") as stream:
            rows = load_rows(stream)
    else:
        rows = load_rows(sys.stdin)
    times = median_micros(rows, "real_time" if args.real_time else "cpu_time")

    header = ("case", "alliance µs", "olm µs", "signal µs", "alliance/faster", "target", "result")
    table = []
    all_pass = True
    for case in CASES:
        alliance, olm, signal = (times.get(f"{case}/{impl}") for impl in IMPLS)
        peers = [t for t in (olm, signal) if t is not None]
        if alliance is None or not peers:
            ratio_text, result = "-", "-"
            all_pass = False
        else:
            ratio = alliance / min(peers)
            ratio_text = f"{ratio:.2f}"
            result = "PASS" if ratio <= TARGET_RATIO else "FAIL"
            all_pass = all_pass and result == "PASS"
        table.append((case, fmt(alliance), fmt(olm), fmt(signal), ratio_text,
                      f"<= {TARGET_RATIO}", result))

    widths = [max(len(r[i]) for r in [header] + table) for i in range(len(header))]
    for i, row in enumerate([header] + table):
        print("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w)
                        for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))

    floor = sorted(name for name in times if name.startswith("floor/"))
    if floor:
        print()
        width = max(len(name) for name in floor)
        print(f"{'floor (libsodium)'.ljust(width)}  µs")
        for name in floor:
            print(f"{name.ljust(width)}  {fmt(times[name])}")

    return 1 if args.strict and not all_pass else 0


if __name__ == "__main__":
    sys.exit(main())

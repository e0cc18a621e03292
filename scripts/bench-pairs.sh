#!/usr/bin/env bash
# Runs two fluvius-bench invocations alternately, N pairs, and prints each pair's figures, then
# the median of the paired ratios (B over A) for throughput and the median p99 of each side.
# Pairs run back to back, so a machine that slows down for a while slows both sides of a pair.
#
#   scripts/bench-pairs.sh N "<flags of A>" "<flags of B>"
#
# Example, HTTP against in-process on PostgreSQL:
#   scripts/bench-pairs.sh 9 \
#     "--backend postgres --workload bank --accounts 1000 --deposits 9 --concurrency 16" \
#     "--backend postgres --workload bank --accounts 1000 --deposits 9 --concurrency 16 --transport http"
#
# BENCH names the binary (default target/release/fluvius-bench, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 3 ]; then
  echo "usage: $0 N \"<flags of A>\" \"<flags of B>\"" >&2
  exit 2
fi
N="$1"; A="$2"; B="$3"
BENCH="${BENCH:-target/release/fluvius-bench}"
[ -x "$BENCH" ] || cargo build --release -p fluvius-bench
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
for i in $(seq 1 "$N"); do
  # shellcheck disable=SC2086 # the flags are meant to split
  a=$("$BENCH" $A)
  # shellcheck disable=SC2086
  b=$("$BENCH" $B)
  printf '%s\t%s\n' "$a" "$b" >>"$OUT"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
pairs = [tuple(json.loads(p) for p in line.rstrip("\n").split("\t")) for line in open(sys.argv[1])]
print("pair  A cmds/s  B cmds/s  B/A    A p99 us  B p99 us")
for i, (a, b) in enumerate(pairs, 1):
    print(f"{i:>4}  {a['cmds_per_sec']:>8.0f}  {b['cmds_per_sec']:>8.0f}  "
          f"{b['cmds_per_sec'] / a['cmds_per_sec']:.3f}  {a['p99_us']:>8}  {b['p99_us']:>8}")
ratios = [b["cmds_per_sec"] / a["cmds_per_sec"] for a, b in pairs]
print(f"median B/A {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
      f"median p99 A {statistics.median(a['p99_us'] for a, _ in pairs):.0f} us, "
      f"B {statistics.median(b['p99_us'] for _, b in pairs):.0f} us; "
      f"median of the paired p99 differences "
      f"{statistics.median(b['p99_us'] - a['p99_us'] for a, b in pairs):.0f} us")
PY

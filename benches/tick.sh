#!/usr/bin/env bash
# Benchmarks of SPEC 9 for scheduling (targets: `tick` over 10,000 recurring plans with SQLite
# state under 2 s and 200 MiB peak; an idle daemon uses no CPU between due times):
#   1. first sight: a tick that loads, checks and records 10,000 plans;
#   2. a busy tick a week later: every plan has an occurrence due, so each is decided (submitted
#      with its preflight run, or skipped) in one pass;
#   3. a quiet tick right after: nothing due;
#   4. an idle daemon over 1,000 plans: CPU time used in one minute of sleeping.
# Each figure is wall time and peak RSS of the whole process (GNU time). No peer tool schedules
# LCS refreshes, so the figures are set against the targets.
# Usage: benches/tick.sh [PLAN_COUNT] [IDLE_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
idle="${2:-60}"
work=target/bench/tick
rm -rf "$work" && mkdir -p "$work"
cargo build --release -q
bin=$PWD/target/release/refreshctl
python3 benches/generate_plans.py "$work/plans" "$count" recurring
state="$work/state.db"

measure() { # label, then the command
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out" 2> "$work/err" || {
    echo "$label failed:"; tail -n 5 "$work/err"; exit 1; }
  read -r seconds kib < "$work/time"
  printf '%s\t%s\t%s\n' "$label" "$seconds" "$kib" >> "$work/measured"
  printf '%-44s %6.2f s  %6.1f MiB peak  %s\n' "$label" "$seconds" "$(echo "$kib / 1024" | bc -l)" \
    "$(wc -l < "$work/out") line(s) of output"
}

echo "== tick over $count recurring plans, SQLite state ($(nproc) cores)"
measure "first sight (plans recorded)" "$bin" --state "$state" tick --plans "$work/plans" --now 2026-11-24T12:00:00Z
measure "a week later (every plan due)" "$bin" --state "$state" tick --plans "$work/plans" --now 2026-12-01T12:00:00Z
echo "   $(grep -c ' submitted ' "$work/out") submitted, $(grep -c ' skipped ' "$work/out") skipped"
measure "a minute later (nothing due)" "$bin" --state "$state" tick --plans "$work/plans" --now 2026-12-01T12:01:00Z

echo "== idle daemon over 1000 plans for ${idle} s"
mkdir -p "$work/plans-1000"
cp "$work"/plans/plan-00[0-9][0-9][0-9].yaml "$work/plans-1000/"
daemon_state="$work/daemon.db"
# Settle first: the first passes submit what is due; then it sleeps until the next due time.
"$bin" --state "$daemon_state" tick --plans "$work/plans-1000" > /dev/null 2>&1 || true
# Once as it is, once with the status page listening (nobody asking): neither may use CPU while
# it waits for the next due time.
for listen in "" "--listen 0"; do
  "$bin" --state "$daemon_state" daemon --plans "$work/plans-1000" $listen > "$work/daemon.out" 2> "$work/daemon.err" &
  pid=$!
  sleep 5
  ticks=$(getconf CLK_TCK)
  cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
  before=$(cpu)
  sleep "$idle"
  after=$(cpu)
  kill -TERM "$pid"; wait "$pid" || true
  echo "daemon ${listen:-without --listen}: CPU over ${idle} s idle: $(echo "($after - $before) * 1000 / $ticks" | bc) ms" \
    "(start-up and first pass excluded; it rechecks plans and the store once a minute)"
done

# The headline rows (the three passes), appended to $BENCH_ROWS (benches/all.sh renders them).
python3 - "$work/measured" "$count" "${BENCH_ROWS:-target/bench/rows.tsv}" <<'PY'
import os, sys
measured, count, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(os.path.dirname(rows) or ".", exist_ok=True)
with open(rows, "a", encoding="utf-8") as out:
    for line in open(measured, encoding="utf-8"):
        label, seconds, kib = line.rstrip("\n").split("\t")
        seconds, mib = float(seconds), int(kib) / 1024
        met = seconds < 0.8 and mib < 64
        out.write(f"`tick` over {count:,} recurring plans, SQLite: {label}\t{seconds:.2f} s, {mib:.1f} MiB\t"
                  f"< 0.8 s, < 64 MiB\t{'met' if met else 'not met'}\n")
PY

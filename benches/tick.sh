#!/usr/bin/env bash
# Benchmarks of SPEC 9 for scheduling (issue 17's targets: each pass of `tick` over 10,000
# recurring plans with SQLite state under 0.8 s and 64 MiB peak; an idle daemon uses no CPU
# between due times):
#   1. first sight: a tick that loads, checks and records 10,000 plans;
#   2. a busy tick a week later: every plan has an occurrence due, so each is decided (submitted
#      with its preflight run, or skipped) in one pass;
#   3. a quiet tick right after: nothing due;
#   4. an idle daemon over 1,000 plans: CPU time used while it sleeps.
# Each pass runs once to warm up, then REPS times (at least 5), every time from a copy of the
# state it starts from, so every repetition does the same work. Each figure is the median wall
# time (and user + system CPU time, which a busy shared machine disturbs less) and the median peak
# RSS of the whole process (GNU time), with the range. No peer tool
# schedules LCS refreshes, so the figures are set against the targets. Headline rows are appended
# to $BENCH_ROWS (default target/bench/rows.tsv): measure, figure, target, verdict.
# Usage: benches/tick.sh [PLAN_COUNT] [IDLE_SECONDS]   (REPS=7 benches/tick.sh for more runs)
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
idle="${2:-60}"
reps="${REPS:-5}"
if (( reps < 5 )); then reps=5; fi
rows="${BENCH_ROWS:-target/bench/rows.tsv}"
mkdir -p "$(dirname "$rows")"
work=target/bench/tick
rm -rf "$work" && mkdir -p "$work"
cargo build --release -q
bin=$PWD/target/release/refreshctl
python3 benches/generate_plans.py "$work/plans" "$count" recurring > /dev/null
state="$work/state.db"
target_seconds=0.8
target_mib=64

# A state file and its WAL companions, copied or removed together.
copy_state() { # from, to ("" as from: no state)
  rm -f "$2" "$2-wal" "$2-shm"
  if [[ -n $1 ]]; then
    for suffix in "" -wal -shm; do
      if [[ -e $1$suffix ]]; then cp "$1$suffix" "$2$suffix"; fi
    done
  fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One pass: a warm-up, then $reps measured runs, each from a copy of the state `from` names;
# the state it leaves is kept as `$work/after-LABEL.db`.
pass() { # key, label, from ("" for none), then --now TIME
  local key=$1 label=$2 from=$3; shift 3
  local start="$work/before-$key.db"
  copy_state "$from" "$start"
  : > "$work/$key.times"
  for run in $(seq 0 "$reps"); do
    copy_state "$start" "$state"
    /usr/bin/time -f "%e %M %U %S" -o "$work/time" "$bin" --state "$state" tick --plans "$work/plans" "$@" \
      > "$work/$key.out" 2> "$work/$key.err" || {
      echo "$label failed:"; tail -n 5 "$work/$key.err"; exit 1; }
    if (( run > 0 )); then cat "$work/time" >> "$work/$key.times"; fi
  done
  copy_state "$state" "$work/after-$key.db"
  local seconds mib low high low_mib high_mib cpu
  cpu=$(awk '{ print $3 + $4 }' "$work/$key.times" | median)
  seconds=$(awk '{ print $1 }' "$work/$key.times" | median)
  mib=$(awk '{ print $2 / 1024 }' "$work/$key.times" | median)
  low=$(awk '{ print $1 }' "$work/$key.times" | sort -g | head -n 1)
  high=$(awk '{ print $1 }' "$work/$key.times" | sort -g | tail -n 1)
  low_mib=$(awk '{ print $2 / 1024 }' "$work/$key.times" | sort -g | head -n 1)
  high_mib=$(awk '{ print $2 / 1024 }' "$work/$key.times" | sort -g | tail -n 1)
  local submitted skipped rejected
  submitted=$(grep -c ' submitted ' "$work/$key.out" || true)
  skipped=$(grep -c ' skipped ' "$work/$key.out" || true)
  rejected=$(grep -c ' rejected ' "$work/$key.out" || true)
  printf '%-32s median %5.2f s (%.2f-%.2f), CPU %.2f s  %6.1f MiB peak (%.1f-%.1f)  %s submitted, %s skipped, %s rejected\n' \
    "$label" "$seconds" "$low" "$high" "$cpu" "$mib" "$low_mib" "$high_mib" "$submitted" "$skipped" "$rejected"
  local verdict="not met"
  if awk -v s="$seconds" -v m="$mib" -v ts="$target_seconds" -v tm="$target_mib" \
    'BEGIN { exit !(s < ts && m < tm) }'; then verdict=met; fi
  printf '%s\t%s\t%s\t%s\n' \
    "tick over $count plans, SQLite: $label" \
    "$(printf '%.2f s (CPU %.2f s), %.1f MiB (median of %d)' "$seconds" "$cpu" "$mib" "$reps")" \
    "< $target_seconds s, < $target_mib MiB" "$verdict" >> "$rows"
}

echo "== tick over $count recurring plans, SQLite state ($(nproc) cores, median of $reps runs after a warm-up)"
pass first "first sight" "" --now 2026-11-24T12:00:00Z
pass busy "a week later (every plan due)" "$work/after-first.db" --now 2026-12-01T12:00:00Z
pass quiet "a minute later (nothing due)" "$work/after-busy.db" --now 2026-12-01T12:01:00Z

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
  used=$(echo "($after - $before) * 1000 / $ticks" | bc)
  echo "daemon ${listen:-without --listen}: CPU over ${idle} s idle: $used ms" \
    "(start-up and first pass excluded; it rechecks plans and the store once a minute)"
  verdict="not met"
  if (( used == 0 )); then verdict=met; fi
  printf '%s\t%s\t%s\t%s\n' "idle daemon over 1,000 plans${listen:+, --listen}" \
    "$used ms CPU in $idle s" "0 ms CPU between due times" "$verdict" >> "$rows"
done

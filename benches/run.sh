#!/usr/bin/env bash
# Benchmarks of SPEC 9 for running plans, in one go:
#   - `apply` on the simulator of a plan with every step kind (the weekly example: reprovision,
#     reset-financial-reporting, deploy, command, manual): target under 100 ms wall, median;
#   - `runs` over a state file holding 10,000 finished runs: target under 100 ms; and the state
#     file's size per run.
# Installs hyperfine (Debian) if it is missing. Usage: benches/run.sh [RUN_COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
work=target/bench-run
rm -rf "$work" && mkdir -p "$work"
if ! command -v hyperfine >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq hyperfine) >/dev/null
fi
cargo build --release -q --bin refreshctl --example fill_state
bin=$PWD/target/release/refreshctl

echo "== apply on the simulator, a plan with every step kind (fresh rehearsal state each run)"
hyperfine --warmup 3 --runs 30 --export-json "$work/apply.json" \
  --prepare "rm -rf $work/apply-state" \
  --command-name "refreshctl apply --yes (weekly example)" \
  "XDG_STATE_HOME=$work/apply-state XDG_CACHE_HOME=$work/cache $bin apply --yes plans/contoso-uat-weekly.yaml 2>/dev/null"

echo "== runs over $count finished runs"
state="$work/runs.db"
"$bin" --state "$state" apply --yes plans/contoso-uat-weekly.yaml >/dev/null 2>&1
target/release/examples/fill_state "$state" "$count"
echo "state file: $(du -b "$state" | cut -f1) bytes for $((count + 1)) runs (WAL checkpointed: $(du -b "$state"-wal 2>/dev/null | cut -f1 || echo 0) bytes of WAL)"
hyperfine --warmup 3 --runs 20 --export-json "$work/runs.json" \
  --command-name "refreshctl runs (table)" "$bin --state $state runs > /dev/null" \
  --command-name "refreshctl runs --format json" "$bin --state $state runs --format json > /dev/null"
python3 - "$work/apply.json" "$work/runs.json" "$state" "$count" <<'PY'
import json, os, sys
apply = json.load(open(sys.argv[1]))["results"][0]
print(f"{apply['command']:<40} median {apply['median']*1000:6.1f} ms (target under 100 ms: {'met' if apply['median'] < 0.1 else 'MISSED'})")
# Targets: `runs` (the table) under 100 ms (SPEC 9); `runs --format json` under 100 ms is issue
# 17's. A figure is said to meet or miss only the target it has.
targets = {"refreshctl runs (table)": ("SPEC 9", 0.1), "refreshctl runs --format json": ("issue 17", 0.1)}
for result in json.load(open(sys.argv[2]))["results"]:
    source, target = targets[result["command"]]
    verdict = "met" if result["median"] < target else "not met"
    print(f"{result['command']:<40} median {result['median']*1000:6.1f} ms (target under {target*1000:.0f} ms, {source}: {verdict})")
size = os.path.getsize(sys.argv[3]) + (os.path.getsize(sys.argv[3] + "-wal") if os.path.exists(sys.argv[3] + "-wal") else 0)
print(f"state size per run (with its steps and events): {size / (int(sys.argv[4]) + 1):.0f} bytes")
PY

# The headline rows, appended to $BENCH_ROWS (benches/all.sh renders them).
python3 - "$work/apply.json" "$work/runs.json" "$state" "$count" "${BENCH_ROWS:-target/bench/rows.tsv}" <<'PY'
import json, os, sys
apply_path, runs_path, state, count, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
os.makedirs(os.path.dirname(rows) or ".", exist_ok=True)
verdict = lambda ok: "met" if ok else "not met"
with open(rows, "a", encoding="utf-8") as out:
    apply = json.load(open(apply_path))["results"][0]["median"] * 1000
    out.write(f"`apply --yes` of the weekly example on the simulator\tmedian {apply:.0f} ms\tunder 100 ms\t{verdict(apply < 100)}\n")
    names = {"refreshctl runs (table)": "`runs`", "refreshctl runs --format json": "`runs --format json`"}
    for result in json.load(open(runs_path))["results"]:
        median = result["median"] * 1000
        out.write(f"{names[result['command']]} over {count + 1:,} finished runs\tmedian {median:.0f} ms\tunder 100 ms\t{verdict(median < 100)}\n")
    size = os.path.getsize(state) + (os.path.getsize(state + "-wal") if os.path.exists(state + "-wal") else 0)
    per_run = size / (count + 1)
    out.write(f"state per finished run (run, steps, events)\t{per_run / 1000:.1f} KB\t< 2 KB\t{verdict(per_run < 2000)}\n")
PY

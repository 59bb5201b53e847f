#!/usr/bin/env bash
# Benchmarks of SPEC 9 and issue 17 for running plans, in one go:
#   - `apply` on the simulator of a plan with every step kind (the weekly example: reprovision,
#     reset-financial-reporting, deploy, command, manual): target under 100 ms wall, median;
#   - `runs` (table, SPEC 9) and `runs --format json` (issue 17) over a state file holding
#     10,000 copies of that finished run: each under 100 ms, run in turns by benches/alternate.py
#     (7 counted rounds after a warm-up, medians); and the state file's size per run (issue 17:
#     under 2 KB), WAL included.
# The copies are made by examples/fill_state.rs through the store's own API: each is one run
# with its steps and its whole log, as a real finished run leaves them. The simulator's model
# (the rehearsed LCS: environments, operations, calls) belongs to the one rehearsal that made
# the first run, not to the runs; it is in the file once, and its share is printed apart.
# Appends its rows to $BENCH_ROWS (default target/bench/rows.tsv): measure, figure, target,
# verdict, tab separated. Installs hyperfine (Debian) if it is missing.
# Usage: benches/run.sh [RUN_COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
rows="${BENCH_ROWS:-target/bench/rows.tsv}"
mkdir -p "$(dirname "$rows")"
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

echo "== runs over $((count + 1)) finished runs"
state="$work/runs.db"
"$bin" --state "$state" apply --yes plans/contoso-uat-weekly.yaml >/dev/null 2>&1
target/release/examples/fill_state "$state" "$count"
python3 benches/alternate.py --runs 7 --warmup 1 \
  "refreshctl runs (table)" "$bin --state $state runs > /dev/null" \
  "refreshctl runs --format json" "$bin --state $state runs --format json > /dev/null" \
  | tee "$work/runs.txt"
python3 - "$work/apply.json" "$work/runs.txt" "$state" "$count" "$rows" <<'PY'
import json, os, re, sqlite3, sys
apply_json, runs_txt, state, count, rows = sys.argv[1:]
runs = int(count) + 1
out = open(rows, "a")

def row(measure, figure, target, met):
    verdict = "-" if met is None else ("met" if met else "not met")
    out.write(f"{measure}\t{figure}\t{target}\t{verdict}\n")

apply = json.load(open(apply_json))["results"][0]
median = apply["median"] * 1000
print(f"{apply['command']:<40} median {median:6.1f} ms (target under 100 ms, SPEC 9: {'met' if median < 100 else 'not met'})")
row("`apply --yes` of the weekly example on the simulator (every step kind)", f"median {median:.0f} ms", "under 100 ms (SPEC 9)", median < 100)

# alternate.py's lines: NAME, median, min, peak RSS.
medians = {}
for line in open(runs_txt):
    match = re.match(r"(refreshctl runs.*?)\s+(\d+)ms\s+(\d+)ms\s+([\d.]+)MiB", line)
    if match:
        medians[match.group(1)] = (int(match.group(2)), float(match.group(4)))
targets = {"refreshctl runs (table)": ("SPEC 9", "`runs`"), "refreshctl runs --format json": ("issue 17", "`runs --format json`")}
for name, (source, measure) in targets.items():
    if name not in medians:
        sys.exit(f"alternate.py printed no median for {name}")
    median, peak = medians[name]
    met = median < 100
    print(f"{name:<40} median {median:4d} ms, {peak:.1f} MiB (target under 100 ms, {source}: {'met' if met else 'not met'})")
    row(f"{measure} over {runs:,} finished runs (7 rounds in turns)", f"median {median} ms, {peak:.1f} MiB", f"under 100 ms ({source})", met)

size = os.path.getsize(state) + (os.path.getsize(state + "-wal") if os.path.exists(state + "-wal") else 0)
per_run = size / runs
# The simulator's model, in the file once (its pages, where SQLite can count them).
model = None
try:
    connection = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    model = connection.execute(
        "SELECT sum(pgsize) FROM dbstat WHERE name IN ('models', 'model_rows', "
        "'sqlite_autoindex_models_1', 'sqlite_autoindex_model_rows_1', 'model_rows_by_version')"
    ).fetchone()[0]
except sqlite3.Error:
    pass
note = f"; the simulator's model: {model:,} bytes once, {model / runs:.1f} per run" if model else ""
print(f"state size per finished run (run, steps, log; file with WAL / runs): {per_run:,.0f} bytes ({size:,} bytes for {runs:,} runs{note})")
row(f"state per finished run of the weekly example ({runs:,} runs, file with WAL / runs)", f"{per_run:,.0f} bytes", "under 2 KB (issue 17)", per_run < 2048)
PY


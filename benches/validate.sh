#!/usr/bin/env bash
# Benchmarks of SPEC 9 for validation, side by side with check-jsonschema, in one run:
#   - `refreshctl validate` over 10,000 generated plans beside `cat` of the same files (issue 17:
#     at most 1.5x, under 48 MiB) and beside `check-jsonschema` validating them against
#     schemas/refresh-plan.schema.json (SPEC 9: under 1 s; at least 5x faster), each pair run in
#     turns by benches/alternate.py;
#   - the same over 50,000 plans beside `cat` of those files (issue 17: linear in time, which is
#     read as the ratio to `cat` staying within 25% of the 10,000-plan one, and under 96 MiB);
#   - start-up: `refreshctl --version` (under 5 ms) and `validate` of one plan (under 15 ms).
# Installs what it needs: hyperfine (Debian) and check-jsonschema (PyPI, in a venv under target/).
# Appends its headline rows to $BENCH_ROWS (default target/bench/rows.tsv), tab separated:
# measure, figure, target, verdict (`met`, `not met`, or `-` without a target).
# Usage: benches/validate.sh [PLAN_COUNT [LARGE_PLAN_COUNT]]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
large="${2:-50000}"
work=target/bench
mkdir -p "$work"
rows="${BENCH_ROWS:-$work/rows.tsv}"
mkdir -p "$(dirname "$rows")"

# Reads what benches/alternate.py printed (FILE) and prints, tab separated, the median
# milliseconds and MiB of the command NAME and, with OTHER, the median ratio NAME / OTHER.
figures() {
  python3 - "$@" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
name = sys.argv[2]
line = next(l for l in text.splitlines() if l[:36].rstrip() == name and "ms" in l)
ms, _, mib = re.findall(r"([0-9.]+)(?:ms|MiB)", line[len(name):])
out = [ms, mib]
if len(sys.argv) > 3:
    ratio = re.search(re.escape(f"{name} / {sys.argv[3]}: median of the pairwise time ratios ") + r"([0-9.]+)", text)
    out.append(ratio.group(1))
print("\t".join(out))
PY
}
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$rows"; }
thousands() { python3 -c "import sys; print(f'{int(sys.argv[1]):,}')" "$1"; }

if ! command -v hyperfine >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq hyperfine) >/dev/null
fi
if [ ! -x "$work/venv/bin/check-jsonschema" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q check-jsonschema
fi
cargo build --release -q
bin=target/release/refreshctl

rm -rf "$work/plans"
python3 benches/generate_plans.py "$work/plans" "$count"
now=2026-11-24T12:00:00Z

echo "== correctness: both tools accept all $count plans"
"$bin" validate --now "$now" "$work/plans" | tail -n 1
"$work/venv/bin/check-jsonschema" --schemafile schemas/refresh-plan.schema.json "$work"/plans/*.yaml | tail -n 1

echo "== validate $count plans beside cat of the same files, alternating ($(nproc) cores)"
# The two are run in turns (A B C, B C A, ...), so a busy machine slows each alike; the ratio
# to quote is the median of each round's ratio (issue 17: at most 1.5x cat, under 48 MiB).
python3 benches/alternate.py --runs 7 --warmup 1 \
  "refreshctl validate" "$bin validate --now $now --format json $work/plans > /dev/null" \
  "cat (the same files)" "cat $work/plans/*.yaml > /dev/null" \
  "refreshctl validate (1 thread)" "taskset -c 0 $bin validate --now $now --format json $work/plans > /dev/null" \
  | tee "$work/validate-alternate.txt"
IFS=$'\t' read -r ms mib ratio < <(figures "$work/validate-alternate.txt" "refreshctl validate" "cat (the same files)")
IFS=$'\t' read -r ms1 mib1 < <(figures "$work/validate-alternate.txt" "refreshctl validate (1 thread)")
verdict=$(python3 -c "import sys; print('met' if float(sys.argv[1]) <= 1.5 and float(sys.argv[2]) < 48 else 'not met')" "$ratio" "$mib")
row "validate $(thousands "$count") plans, 2 threads" "$ms ms, $mib MiB, ${ratio}× cat" "≤ 1.5× cat, < 48 MiB" "$verdict"
row "validate $(thousands "$count") plans, 1 thread" "$ms1 ms, $mib1 MiB" "-" "-"

echo "== validate $large plans beside cat of the same files, alternating (linear in time, under 96 MiB)"
rm -rf "$work/plans-large"
python3 benches/generate_plans.py "$work/plans-large" "$large"
"$bin" validate --now "$now" "$work/plans-large" | tail -n 1
# From inside the directory: $large full paths would not fit on one command line.
python3 benches/alternate.py --runs 5 --warmup 1 \
  "refreshctl validate" "$bin validate --now $now --format json $work/plans-large > /dev/null" \
  "cat (the same files)" "cd $work/plans-large && cat -- *.yaml > /dev/null" \
  | tee "$work/validate-large-alternate.txt"
IFS=$'\t' read -r ms_large mib_large ratio_large < <(figures "$work/validate-large-alternate.txt" "refreshctl validate" "cat (the same files)")
# Linear: the time per plan, measured against cat of the same files, grows by at most 25% from
# $count plans to $large.
growth=$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$ratio_large" "$ratio")
verdict=$(python3 -c "import sys; print('met' if float(sys.argv[1]) <= 1.25 and float(sys.argv[2]) < 96 else 'not met')" "$growth" "$mib_large")
echo "ratio to cat at $large plans / at $count plans: $growth (linear: at most 1.25)"
row "validate $(thousands "$large") plans, 2 threads" "$ms_large ms, $mib_large MiB, ${ratio_large}× cat (${growth}× the ratio at $(thousands "$count"))" "linear in time, < 96 MiB" "$verdict"
rm -rf "$work/plans-large"

echo "== beside check-jsonschema (the schema alone), alternating (SPEC 9: at least 5x faster)"
python3 benches/alternate.py --runs 3 --warmup 0 \
  "refreshctl validate" "$bin validate --now $now --format json $work/plans > /dev/null" \
  "check-jsonschema" "$work/venv/bin/check-jsonschema --schemafile schemas/refresh-plan.schema.json $work/plans/*.yaml > /dev/null" \
  | tee "$work/validate-jsonschema.txt"
IFS=$'\t' read -r ms_ours _ < <(figures "$work/validate-jsonschema.txt" "refreshctl validate")
# How many times faster: the ratio the other way, as printed (the ratio itself, to two places,
# is 0.00 once check-jsonschema takes over 200 times as long).
faster=$(python3 - "$work/validate-jsonschema.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
found = re.search(r"refreshctl validate / check-jsonschema: median of the pairwise time ratios [0-9.]+ \(([0-9.]+)x the other way\)", text)
print(f"{float(found.group(1)):.0f}")
PY
)
verdict=$(python3 -c "import sys; print('met' if float(sys.argv[1]) < 1000 and float(sys.argv[2]) >= 5 else 'not met')" "$ms_ours" "$faster")
row "validate $(thousands "$count") plans beside check-jsonschema" "$ms_ours ms, ${faster}× faster" "< 1 s, ≥ 5× faster" "$verdict"

echo "== start-up"
hyperfine --warmup 20 --runs 200 -N --export-json "$work/startup.json" \
  --command-name "refreshctl --version" "$bin --version" \
  --command-name "refreshctl validate (one plan)" "$bin validate --now $now plans/contoso-uat-weekly.yaml"
python3 - "$work/startup.json" "$rows" <<'PY'
import json, sys
targets = {"refreshctl --version": 5, "refreshctl validate (one plan)": 15}
with open(sys.argv[2], "a") as rows:
    for result in json.load(open(sys.argv[1]))["results"]:
        median = result["median"] * 1000
        target = targets[result["command"]]
        print(f"{result['command']:<34} median {median:6.2f} ms (target under {target} ms: {'met' if median < target else 'not met'})")
        verdict = "met" if median < target else "not met"
        rows.write(f"{result['command']}\t{median:.2f} ms\t< {target} ms\t{verdict}\n")
PY

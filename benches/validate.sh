#!/usr/bin/env bash
# Benchmarks of SPEC 9 for validation, side by side with check-jsonschema, in one run:
#   - `refreshctl validate` over 10,000 generated plans beside `cat` of the same files (issue 17:
#     at most 1.5x, under 48 MiB) and beside `check-jsonschema` validating them against
#     schemas/refresh-plan.schema.json (SPEC 9: under 1 s; at least 5x faster), each pair run in
#     turns by benches/alternate.py;
#   - start-up: `refreshctl --version` (under 5 ms) and `validate` of one plan (under 15 ms).
# Installs what it needs: hyperfine (Debian) and check-jsonschema (PyPI, in a venv under target/).
# Usage: benches/validate.sh [PLAN_COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
work=target/bench
mkdir -p "$work"

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
  "refreshctl validate (1 thread)" "taskset -c 0 $bin validate --now $now --format json $work/plans > /dev/null" |
  tee "$work/beside-cat.txt"

echo "== beside check-jsonschema (the schema alone), alternating (SPEC 9: at least 5x faster)"
python3 benches/alternate.py --runs 3 --warmup 0 \
  "refreshctl validate" "$bin validate --now $now --format json $work/plans > /dev/null" \
  "check-jsonschema" "$work/venv/bin/check-jsonschema --schemafile schemas/refresh-plan.schema.json $work/plans/*.yaml > /dev/null" |
  tee "$work/beside-check-jsonschema.txt"

echo "== start-up"
hyperfine --warmup 20 --runs 200 -N --export-json "$work/startup.json" \
  --command-name "refreshctl --version" "$bin --version" \
  --command-name "refreshctl validate (one plan)" "$bin validate --now $now plans/contoso-uat-weekly.yaml"
python3 - "$work/startup.json" <<'PY'
import json, sys
targets = {"refreshctl --version": 5, "refreshctl validate (one plan)": 15}
for result in json.load(open(sys.argv[1]))["results"]:
    median = result["median"] * 1000
    target = targets[result["command"]]
    print(f"{result['command']:<34} median {median:6.2f} ms (target under {target} ms: {'met' if median < target else 'MISSED'})")
PY

# The headline rows, appended to $BENCH_ROWS (benches/all.sh renders them).
python3 - "$work" "$count" "${BENCH_ROWS:-target/bench/rows.tsv}" <<'PY'
import json, os, re, sys
work, count, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(os.path.dirname(rows) or ".", exist_ok=True)
def alternated(path):
    medians, ratios = {}, {}
    for line in open(path, encoding="utf-8"):
        if match := re.match(r"(.+?)\s+([\d.]+)ms\s+([\d.]+)ms\s+([\d.]+)MiB$", line.rstrip()):
            medians[match[1]] = (float(match[2]), float(match[4]))
        elif match := re.match(r"(.+?) / (.+?): median of the pairwise time ratios ([\d.]+)", line):
            ratios[match[2]] = float(match[3])
    return medians, ratios
medians, ratios = alternated(f"{work}/beside-cat.txt")
ms, mib = medians["refreshctl validate"]
ratio = ratios["cat (the same files)"]
met = ratio <= 1.5 and mib < 48
with open(rows, "a", encoding="utf-8") as out:
    out.write(f"`validate` {count:,} plans, 2 threads\tmedian {ms:,.0f} ms, {mib:.1f} MiB, {ratio:.2f}× `cat` of the same files\t"
              f"≤ 1.5× `cat`, < 48 MiB\t{'met' if met else 'not met'}\n")
    one_ms, one_mib = medians["refreshctl validate (1 thread)"]
    out.write(f"`validate` {count:,} plans, 1 thread\tmedian {one_ms:,.0f} ms, {one_mib:.1f} MiB\t-\t-\n")
    medians, ratios = alternated(f"{work}/beside-check-jsonschema.txt")
    ms, _ = medians["refreshctl validate"]
    faster = 1 / ratios["check-jsonschema"]
    met = ms < 1000 and faster >= 5
    out.write(f"`validate` {count:,} plans beside `check-jsonschema`\tmedian {ms:,.0f} ms; {faster:.0f}× faster than `check-jsonschema`\t"
              f"under 1 s, at least 5× faster\t{'met' if met else 'not met'}\n")
    targets = {"refreshctl --version": 5, "refreshctl validate (one plan)": 15}
    for result in json.load(open(f"{work}/startup.json"))["results"]:
        median = result["median"] * 1000
        target = targets[result["command"]]
        name = result["command"].removeprefix("refreshctl ")
        out.write(f"`{name}`\tmedian {median:.2f} ms\tunder {target} ms\t{'met' if median < target else 'not met'}\n")
PY

#!/usr/bin/env bash
# Benchmarks of SPEC 9 for validation, side by side with check-jsonschema, in one run:
#   - `refreshctl validate` over 10,000 generated plans vs `check-jsonschema` validating the same
#     files against schemas/refresh-plan.schema.json (targets: under 1 s; at least 5x faster);
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

echo "== validate $count plans ($(nproc) cores)"
hyperfine --warmup 1 --runs 10 --export-json "$work/validate.json" \
  --command-name "refreshctl validate" "$bin validate --now $now --format json $work/plans > /dev/null" \
  --command-name "refreshctl validate (1 thread)" "taskset -c 0 $bin validate --now $now --format json $work/plans > /dev/null"
hyperfine --warmup 0 --runs 3 --export-json "$work/check-jsonschema.json" \
  --command-name "check-jsonschema" "$work/venv/bin/check-jsonschema --schemafile schemas/refresh-plan.schema.json $work/plans/*.yaml > /dev/null"
python3 - "$work/validate.json" "$work/check-jsonschema.json" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))["results"]
theirs = json.load(open(sys.argv[2]))["results"][0]
print(f"{'tool':<34}{'median':>10}{'min':>10}")
for result in ours + [theirs]:
    print(f"{result['command']:<34}{result['median']*1000:>8.0f}ms{result['min']*1000:>8.0f}ms")
ratio = theirs["median"] / ours[0]["median"]
print(f"refreshctl is {ratio:.1f}x faster than check-jsonschema (target: at least 5x); "
      f"{'meets' if ours[0]['median'] < 1.0 else 'MISSES'} the 1 s target")
PY

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

#!/usr/bin/env bash
# Runs every benchmark of benches/ in one go (validate.sh, run.sh, tick.sh, upload.sh,
# lcs_calls.sh), each appending its headline rows to one file, $BENCH_ROWS
# (target/bench/rows.tsv, emptied first: `measure<TAB>figure<TAB>target<TAB>verdict`, verdict
# `met`, `not met` or `-` for a row without a target), then renders them as
# target/bench/performance.md: a markdown table headed by the date, the machine (cores, CPU
# model, memory), the load average at the start and at the end, and the git commit.
# `python3 benches/readme_table.py` then puts that file into the README's Performance section.
# Each script's own output goes to target/bench/NAME.log as well as the terminal. A script that
# fails is named in the file and makes this one exit 1; the others still run.
# Usage: benches/all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/target/bench
mkdir -p "$out"
export BENCH_ROWS=$out/rows.tsv
: >"$BENCH_ROWS"
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD || commit="$commit (with uncommitted changes)"
failed=()
for script in validate.sh run.sh tick.sh upload.sh lcs_calls.sh; do
  echo "=== benches/$script"
  if ! bash "benches/$script" 2>&1 | tee "$out/${script%.sh}.log"; then
    failed+=("$script")
  fi
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
memory=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
python3 - "$BENCH_ROWS" "$out/performance.md" "$started" "$(nproc)" "$cpu" "$memory" \
  "$load_start" "$load_end" "$commit" "${failed[*]:-}" <<'PY'
import sys
rows, out, started, cores, cpu, memory, load_start, load_end, commit, failed = sys.argv[1:]
cell = lambda text: text.replace("|", "\\|").strip()
lines = [
    f"Run by `benches/all.sh` on {started}, commit {commit}: {cores} cores ({cpu}), "
    f"{memory} of memory; load average {load_start} at the start, {load_end} at the end.",
    "",
    "| measure | figure | target | verdict |",
    "| --- | --- | --- | --- |",
]
for number, line in enumerate(open(rows, encoding="utf-8"), 1):
    line = line.rstrip("\n")
    if not line:
        continue
    fields = line.split("\t")
    if len(fields) != 4 or fields[3] not in ("met", "not met", "-"):
        sys.exit(f"{rows}:{number}: not measure<TAB>figure<TAB>target<TAB>verdict (met, not met or -): {line!r}")
    lines.append("| " + " | ".join(cell(field) for field in fields) + " |")
if failed:
    lines += ["", "These scripts failed, and their rows are missing: "
              + ", ".join(f"`benches/{name}`" for name in failed.split()) + "."]
open(out, "w", encoding="utf-8").write("\n".join(lines) + "\n")
print(f"wrote {out}")
PY
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi

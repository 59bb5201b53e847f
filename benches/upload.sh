#!/usr/bin/env bash
# Issue 17 (and SPEC 9): a 1 GiB package uploaded by `refreshctl apply --adapter lcs` to the
# emulator, beside curl doing the same work to the same emulator: the same block size and the
# same number of blocks in flight as refreshctl (read from src/executor/steps/upload.rs), through
# Put Block (`?comp=block&blockid=...`) and Put Block List (`?comp=blocklist`, the XML body)
# against a SAS location of the emulator. Target: refreshctl's peak RSS under 24 MiB at 95 % or
# more of curl's throughput.
#
# What is timed, on both sides, is the upload as refreshctl's `deploy.upload` step does it up to
# its first validation answer: create the asset, put every block, put the block list, commit the
# asset, ask for its validation status. refreshctl's time comes from its own JSON log (from the
# step's `step-started` to its first `polled` event, or `step-succeeded` when validation is done
# at once), so the refresh before it and the polls after it are left out; its peak RSS is that of
# the whole process (GNU time). curl's time is wall time around its calls: one curl for
# CreateFileAsset, N curls at once putting the block files (split from the package on /dev/shm
# before the timed part; each its share of the blocks over one connection; `Expect:` off, so no
# wait for `100 Continue`), one for the block list, the commit and the status (`--next`).
#
# The two run in turns, who goes first rotating each round, after a warm-up round; the figures
# are the medians of the counted rounds and the median of the pairwise ratios (curl's time over
# refreshctl's in the same round: refreshctl's share of curl's throughput).
# Appends its rows to $BENCH_ROWS (default target/bench/rows.tsv).
# Usage: [REFRESHCTL_BIN=path] benches/upload.sh [SIZE_MIB] [ROUNDS] [WARMUP_ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-1024}"
# Nine rounds by default: on a shared 2-core machine single rounds ranged from 79 to 183 % of
# curl, and the median of five moved by a tenth from one run to the next.
rounds="${2:-9}"
warmup="${3:-1}"
rows="${BENCH_ROWS:-target/bench/rows.tsv}"
mkdir -p "$(dirname "$rows")"
work=$PWD/target/bench-upload
# The package, the block files and the emulator's blobs are in memory-backed /dev/shm where there
# is one, so the disk's noise does not decide which client looks faster.
shm=/dev/shm/refreshctl-bench-upload
[ -d /dev/shm ] || shm=$work/shm
rm -rf "$work" "$shm" && mkdir -p "$work" "$shm/blobs" "$shm/blocks"
# REFRESHCTL_BIN measures another build (an older one, say) against the same curl.
if [ -n "${REFRESHCTL_BIN:-}" ]; then
  bin=$REFRESHCTL_BIN
else
  cargo build --release -q --bin refreshctl
  bin=$PWD/target/release/refreshctl
fi

# The block protocol refreshctl speaks, from its source, so that curl does the same.
constant() { # NAME: the value of `const NAME: usize = ...;` in the upload step
  local text
  text=$(sed -n "s/^\(pub \)\{0,1\}const $1: usize = \(.*\);$/\2/p" src/executor/steps/upload.rs)
  [ -n "$text" ] || { echo "cannot read $1 from src/executor/steps/upload.rs" >&2; exit 1; }
  echo $((${text//_/}))
}
block_size=$(constant BLOCK_SIZE)
in_flight=$(constant BLOCKS_IN_FLIGHT)
size=$((size_mib * 1024 * 1024))
block_count=$(((size + block_size - 1) / block_size))
echo "== a ${size_mib} MiB package: $block_count blocks of $((block_size / 1024)) KiB, $in_flight in flight ($(nproc) cores)"
head -c "$size" /dev/urandom >"$shm/package.zip"
split -b "$block_size" -a 6 -d "$shm/package.zip" "$shm/blocks/block-"
# refreshctl's block ids: base64 of the block's number in eight digits; in a query, `=` is %3D.
python3 - "$block_count" "$shm" <<'PY'
import base64, sys, urllib.parse
count, shm = int(sys.argv[1]), sys.argv[2]
ids = [base64.b64encode(b"%08d" % n).decode() for n in range(count)]
with open(f"{shm}/ids", "w") as out:
    out.write("".join(urllib.parse.quote(i, safe="") + "\n" for i in ids))
with open(f"{shm}/blocklist.xml", "w") as out:
    out.write('<?xml version="1.0" encoding="utf-8"?><BlockList>')
    out.write("".join(f"<Latest>{i}</Latest>" for i in ids) + "</BlockList>")
PY
mapfile -t ids <"$shm/ids"
cat >"$shm/plan.yaml" <<'YAML'
version: 1
name: upload-bench
project: 1234567
environment: {name: bench-uat, type: sandbox, release: "10.0.41"}
source: {name: bench-prod, type: production, release: "10.0.41"}
window: {cron: "0 22 * * SAT", timezone: UTC, duration: 6h}
acknowledge: [target-database-erased, target-unavailable]
post_steps:
  - deploy: {file: package.zip, name: Upload benchmark}
YAML
cat >"$work/inventory.yaml" <<'YAML'
- {project: 1234567, name: bench-prod, type: production, release: "10.0.41"}
- {project: 1234567, name: bench-uat, type: sandbox, release: "10.0.41"}
YAML

"$bin" emulator --listen 127.0.0.1:0 --speed 100000 --inventory "$work/inventory.yaml" \
  --metadata-per-minute 0 --data-dir "$shm/blobs" >"$work/emulator.out" 2>"$work/emulator.err" &
emulator=$!
trap 'kill $emulator 2>/dev/null || true; rm -rf "$shm"' EXIT
url=
for _ in $(seq 1 100); do
  url=$(head -1 "$work/emulator.out" 2>/dev/null | awk '{print $NF}')
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the emulator did not start:"; cat "$work/emulator.err"; exit 1; }
export LCS_API_URL=$url LCS_AUTH_URL=$url/common/oauth2/token LCS_CLIENT_ID=bench \
  LCS_USERNAME=bench@contoso.com LCS_PASSWORD=emulator XDG_CACHE_HOME=$work/cache
token=$(curl -sf -X POST "$url/common/oauth2/token" -d grant_type=password -d client_id=bench \
  -d username=bench -d password=emulator -d resource=x |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

results=$work/results.tsv
: >"$results"

run_refreshctl() { # ROUND: a whole apply in a process of its own, fresh state
  local round=$1 state="$work/state-$1.db"
  /usr/bin/time -f '%M' -o "$work/rss" \
    "$bin" --adapter lcs --state "$state" --log-format json apply --yes --start-now \
    --reason benchmark --poll-interval 20ms "$shm/plan.yaml" >/dev/null 2>"$work/apply.err" || {
    echo "refreshctl failed:"; tail -n 5 "$work/apply.err"; exit 1; }
  local id
  id=$("$bin" --adapter lcs --state "$state" runs --format json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  "$bin" --adapter lcs --state "$state" status "$id" --format json >"$work/status.json"
  python3 - "$work/status.json" "$work/apply.err" "$block_count" <<'PY' >>"$results.seconds"
import json, sys
from datetime import datetime
status = json.load(open(sys.argv[1]))
assert status["state"] == "succeeded", status["state"]
step = next(s for s in status["steps"] if s["id"] == "deploy.upload")
assert len(step["remote"]["blocks"]) == int(sys.argv[3]), len(step["remote"]["blocks"])
events = [json.loads(line) for line in open(sys.argv[2]) if line.startswith("{")]
ours = [e for e in events if e.get("step") == "deploy.upload"]
start = next(e for e in ours if e["kind"] == "step-started")
end = next(e for e in ours if e["kind"] in ("polled", "step-succeeded"))
at = lambda e: datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
print((at(end) - at(start)).total_seconds())
PY
  printf '%s\trefreshctl\t%s\t%s\n' "$round" "$(tail -n 1 "$results.seconds")" \
    "$(tail -n 1 "$work/rss")" >>"$results"
  rm -f "$state"*
}

run_curl() { # ROUND: the same calls, timed from the asset's creation to the validation answer
  local round=$1 started answer id location config=$shm/curl.config
  started=$EPOCHREALTIME
  answer=$(curl -sf -X POST "$url/box/fileasset/CreateFileAsset/1234567" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"Name":"curl","FileName":"package.zip","SizeByte":0,"FileType":10}')
  [[ $answer =~ \"Id\":\"([^\"]+)\" ]] && id=${BASH_REMATCH[1]}
  [[ $answer =~ \"FileLocation\":\"([^\"]+)\" ]] && location=${BASH_REMATCH[1]}
  # N curls at once, each putting its share of the blocks in turn over one connection: a little
  # faster here than one `curl --parallel --parallel-max N` (which was tried).
  local k pids=()
  for ((k = 0; k < in_flight; k++)); do
    for ((n = k; n < block_count; n += in_flight)); do
      printf 'url = "%s&comp=block&blockid=%s"\nupload-file = "%s/blocks/block-%06d"\n' \
        "$location" "${ids[n]}" "$shm" "$n"
    done >"$config.$k"
    /usr/bin/time -f '%M' -o "$work/rss.$k" curl -sf --no-progress-meter -H 'Expect:' \
      -H 'x-ms-version: 2019-12-12' -K "$config.$k" >/dev/null &
    pids+=($!)
  done
  for k in "${pids[@]}"; do
    wait "$k" || { echo "curl's Put Block failed"; exit 1; }
  done
  curl -sf -X PUT -H 'x-ms-version: 2019-12-12' --data-binary "@$shm/blocklist.xml" \
    -o /dev/null "$location&comp=blocklist" \
    --next -sf -X POST -H "Authorization: Bearer $token" -d '' -o /dev/null \
    "$url/box/fileasset/CommitFileAsset/1234567?assetId=$id" \
    --next -sf -H "Authorization: Bearer $token" -o /dev/null \
    "$url/box/fileasset/GetFileAssetValidationStatus/1234567?assetId=$id" ||
    { echo "curl's Put Block List or commit failed"; exit 1; }
  # Its memory: the most of one of the N (each holds its own buffers).
  printf '%s\tcurl\t%s\t%s\n' "$round" "$(echo "$EPOCHREALTIME - $started" | bc)" \
    "$(tail -q -n 1 "$work"/rss.* | sort -n | tail -n 1)" >>"$results"
}

for ((round = 1 - warmup; round <= rounds; round++)); do
  # Rounds up to 0 are the warm-up; who goes first rotates.
  if (((round + warmup) % 2 == 0)); then order="refreshctl curl"; else order="curl refreshctl"; fi
  for who in $order; do
    "run_$who" "$round"
    rm -rf "${shm:?}/blobs/"*
  done
done

python3 - "$results" "$size_mib" "$block_count" "$block_size" "$in_flight" "$rows" <<'PY'
import statistics, sys
path, mib, count, block, in_flight, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
runs = {}
for line in open(path):
    round_, who, seconds, kib = line.split("\t")
    if int(round_) >= 1:
        runs.setdefault(int(round_), {})[who] = (float(seconds), int(kib) / 1024)
for round_, pair in sorted(runs.items()):
    (ours, our_rss), (theirs, their_rss) = pair["refreshctl"], pair["curl"]
    print(f"round {round_}: refreshctl {mib / ours:7.1f} MiB/s ({ours:.3f} s, {our_rss:.1f} MiB peak), "
          f"curl {mib / theirs:7.1f} MiB/s ({theirs:.3f} s, {their_rss:.1f} MiB peak): {theirs / ours * 100:5.1f} % of curl")
median = lambda who, i: statistics.median(pair[who][i] for pair in runs.values())
ratio = statistics.median(pair["curl"][0] / pair["refreshctl"][0] for pair in runs.values())
ours, theirs = median("refreshctl", 0), median("curl", 0)
our_rss, their_rss = median("refreshctl", 1), median("curl", 1)
most_rss = max(pair["refreshctl"][1] for pair in runs.values())
met = most_rss < 24 and ratio >= 0.95
size = f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"
protocol = f"{count} blocks of {block // (1024 * 1024)} MiB, {in_flight} in flight" if block % (1024 * 1024) == 0 else f"{count} blocks of {block // 1024} KiB, {in_flight} in flight"
print(f"refreshctl: median {mib / ours:.1f} MiB/s ({ours:.3f} s), peak RSS median {our_rss:.1f} MiB (most {most_rss:.1f} MiB)")
print(f"curl:       median {mib / theirs:.1f} MiB/s ({theirs:.3f} s), peak RSS median {their_rss:.1f} MiB (each of the {in_flight})")
print(f"refreshctl's share of curl's throughput, median of the {len(runs)} pairwise ratios: {ratio * 100:.1f} % "
      f"(issue 17: under 24 MiB at 95 % or more: {'met' if met else 'not met'})")
with open(rows, "a") as out:
    out.write(f"upload of {size} through LCS ({protocol}), `apply --adapter lcs`\t"
              f"median {mib / ours:,.0f} MiB/s ({ours:.2f} s), {our_rss:.1f} MiB peak RSS (most {most_rss:.1f}); "
              f"{ratio * 100:.0f} % of curl (median of {len(runs)} pairwise ratios)\t"
              f"< 24 MiB at ≥ 95 % of curl\t{'met' if met else 'not met'}\n")
    out.write(f"the same upload by curl ({in_flight} curls at once putting the same blocks, same run)\t"
              f"median {mib / theirs:,.0f} MiB/s ({theirs:.2f} s), {their_rss:.1f} MiB peak RSS (each of the {in_flight})\t-\t-\n")
PY

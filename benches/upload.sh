#!/usr/bin/env bash
# SPEC 9: upload of a 1 GiB package to the emulator. refreshctl's peak memory must stay under
# 64 MiB and its throughput reach at least 70 % of curl putting the same file to the same
# endpoint, side by side in one run.
#
# refreshctl runs a whole `apply --adapter lcs` of a plan whose one post step deploys the file;
# its upload is the `deploy.upload` step (create asset, 256 Put Blocks of 4 MiB, Put Block List,
# commit, validation), timed from the run's own step record. Its peak RSS is that of the whole
# process. curl puts the same file with one Put Blob to a SAS location of the same emulator.
# Usage: benches/upload.sh [SIZE_MIB] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-1024}"
rounds="${2:-3}"
work=$PWD/target/bench-upload
# The emulator keeps blobs in memory-backed /dev/shm where there is one, so the disk's noise does
# not decide which client looks faster (both write through the same emulator either way).
data=/dev/shm/refreshctl-bench-upload
[ -d /dev/shm ] || data=$work/data
rm -rf "$work" "$data" && mkdir -p "$work" "$data"
cargo build --release -q --bin refreshctl
bin=$PWD/target/release/refreshctl

echo "== a ${size_mib} MiB package"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/package.zip"
cat >"$work/plan.yaml" <<'YAML'
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
  --metadata-per-minute 0 --data-dir "$data" >"$work/emulator.out" 2>"$work/emulator.err" &
emulator=$!
trap 'kill $emulator 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  url=$(head -1 "$work/emulator.out" 2>/dev/null | awk '{print $NF}')
  [ -n "$url" ] && break
  sleep 0.1
done
export LCS_API_URL=$url LCS_AUTH_URL=$url/common/oauth2/token LCS_CLIENT_ID=bench \
  LCS_USERNAME=bench@contoso.com LCS_PASSWORD=emulator XDG_CACHE_HOME=$work/cache

token=$(curl -s -X POST "$url/common/oauth2/token" -d grant_type=password -d client_id=bench \
  -d username=bench -d password=emulator -d resource=x |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

for round in $(seq 1 "$rounds"); do
  # curl: one Put Blob of the whole file to a fresh asset's SAS location.
  location=$(curl -s -X POST "$url/box/fileasset/CreateFileAsset/1234567" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"Name":"curl","FileName":"package.zip","SizeByte":0,"FileType":10}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["FileLocation"])')
  curl_seconds=$(curl -s -o /dev/null -w '%{time_total}' -X PUT -T "$work/package.zip" \
    -H 'x-ms-blob-type: BlockBlob' "$location")
  rm -rf "${data:?}"/*

  # refreshctl: the deploy.upload step of a real run, in a process of its own.
  state="$work/state-$round.db"
  /usr/bin/time -f '%M' -o "$work/rss-$round" \
    "$bin" --adapter lcs --state "$state" --log-format json apply --yes --start-now --reason benchmark \
    --poll-interval 20ms "$work/plan.yaml" >/dev/null 2>"$work/apply-$round.err"
  id=$("$bin" --adapter lcs --state "$state" runs --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  "$bin" --adapter lcs --state "$state" status "$id" --format json >"$work/status-$round.json"
  rm -rf "${data:?}"/*
  python3 - "$work/status-$round.json" "$curl_seconds" "$work/rss-$round" "$size_mib" "$round" "$work/apply-$round.err" <<'PY'
import json, sys
from datetime import datetime
status = json.load(open(sys.argv[1]))
assert status["state"] == "succeeded", status["state"]
step = next(s for s in status["steps"] if s["id"] == "deploy.upload")
# The step's times from the run's JSON log (the stored record keeps whole seconds).
events = [json.loads(line) for line in open(sys.argv[6]) if line.startswith("{")]
at = {e["kind"]: e["at"] for e in events if e.get("step") == "deploy.upload" and e["kind"] in ("step-started", "step-succeeded")}
parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")[:26] + "+00:00" if "." in t else t.replace("Z", "+00:00"))
ours = (parse(at["step-succeeded"]) - parse(at["step-started"])).total_seconds()
theirs = float(sys.argv[2])
rss_mib = int(open(sys.argv[3]).read().split()[-1]) / 1024
mib = int(sys.argv[4])
print(f"round {sys.argv[5]}: refreshctl {mib / ours:7.1f} MiB/s ({ours:.2f} s, {len(step['remote']['blocks'])} blocks), "
      f"curl {mib / theirs:7.1f} MiB/s ({theirs:.2f} s): {theirs / ours * 100:5.1f} % of curl (target 70 %); "
      f"refreshctl peak RSS {rss_mib:.1f} MiB (target under 64 MiB)")
PY
done

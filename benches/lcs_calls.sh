#!/usr/bin/env bash
# SPEC 9: the LCS calls of one refresh plus reprovisioning, counted by the emulator, against "the
# minimum the protocol needs plus polls that back off". `examples/lcs_calls.rs` runs the real
# executor and `lcs` adapter against the emulator over loopback on simulated time (the default
# poll policy: 60 s, growing by half to 10 min), once with 15-minute operations and once with
# 2-hour ones, and prints each kind of call beside its minimum.
# The verdict is `met` when every call beyond the minimum is a status poll, a token renewal or an
# environment read (preflight reads target and source, and the target again before each
# destructive call), and the polls back off: the refresh is polled at most half as often as a
# fixed 60 s poll would (one a minute over the 2 min queue and the operation: 17 or 122).
# Appends its rows to $BENCH_ROWS (default target/bench/rows.tsv).
# Usage: benches/lcs_calls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${BENCH_ROWS:-target/bench/rows.tsv}"
mkdir -p "$(dirname "$rows")" target/bench
out=target/bench/lcs_calls.out
cargo run --release -q --example lcs_calls | tee "$out"
python3 - "$out" "$rows" <<'PY'
import re, sys
out, rows = sys.argv[1], sys.argv[2]
POLLS = ("refresh status", "validation status", "apply update + deployment status")
scenarios = []
for line in open(out, encoding="utf-8"):
    header = re.match(r"== (.*): refresh (\d+) min, deployment (\d+) min", line)
    if header:
        scenarios.append({"label": header[1], "refresh": int(header[2]), "calls": {}})
        continue
    row = re.match(r"(.+?)\s+(\d+)\s+(\d+)$", line.rstrip())
    if row and scenarios and row[1] != "call":
        scenarios[-1]["calls"][row[1]] = (int(row[2]), int(row[3]))
if len(scenarios) != 2:
    sys.exit(f"{out}: expected two scenarios from examples/lcs_calls.rs")
with open(rows, "a", encoding="utf-8") as file:
    for scenario in scenarios:
        calls = scenario["calls"]
        made, least = calls.pop("total")
        beyond = {call: n - m for call, (n, m) in calls.items() if n != m}
        polls = sum(beyond.get(call, 0) for call in POLLS)
        others = {call: n for call, n in beyond.items() if call not in POLLS + ("token", "environment")}
        fixed = scenario["refresh"] + 2  # one poll a minute over the queue and the operation
        refresh_polls = calls["refresh status"][0]
        backs_off = refresh_polls * 2 <= fixed
        parts = [f"{polls} more status polls"]
        if beyond.get("environment"):
            parts.append(f"{beyond['environment']} environment read{'s' * (beyond['environment'] != 1)}")
        if beyond.get("token"):
            parts.append(f"{beyond['token']} token renewal{'s' * (beyond['token'] != 1)}")
        parts += [f"{n:+d} {call}" for call, n in others.items()]
        figure = (f"{made} calls, {least} the protocol needs; beyond them {', '.join(parts)}; "
                  f"refresh status polled {refresh_polls} times (a fixed 60 s poll: {fixed})")
        verdict = "met" if not others and backs_off else "not met"
        print(f"{scenario['label']}: {figure}: {verdict}")
        file.write(f"LCS calls, one refresh plus reprovisioning, {scenario['refresh']} min operations\t"
                   f"{figure}\tthe minimum the protocol needs plus polls that back off (SPEC 9)\t{verdict}\n")
PY

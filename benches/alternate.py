#!/usr/bin/env python3
"""Runs commands alternately (A B A B ..., who goes first rotating each round) after a warm-up,
so that a noisy, shared machine slows each of them alike, and prints for each its median wall
time and peak memory (GNU time's maximum resident set size), and the median of the pairwise
ratios against the first command: the figure to quote, as it holds from one run to the next.

Usage: alternate.py [--runs N] [--warmup W] NAME COMMAND [NAME COMMAND ...]
Each COMMAND is run by bash. Exit status: 1 if any run of a command failed.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(command: str) -> tuple[float, int]:
    """Wall seconds and peak RSS in KiB of one run."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as memory:
        start = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", memory.name, "bash", "-c", command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"`{command}` failed with exit status {done.returncode}")
        text = memory.read().strip().splitlines()
        return wall, int(text[-1]) if text else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("pairs", nargs="+")
    args = parser.parse_args()
    if len(args.pairs) % 2 or len(args.pairs) < 4:
        sys.exit("give NAME COMMAND pairs, at least two")
    names = args.pairs[0::2]
    commands = args.pairs[1::2]
    for _ in range(args.warmup):
        for command in commands:
            run(command)
    walls = {name: [] for name in names}
    peaks = {name: [] for name in names}
    ratios = {name: [] for name in names[1:]}
    for round_ in range(args.runs):
        order = list(range(len(names)))
        shift = round_ % len(order)
        order = order[shift:] + order[:shift]
        this_round = {}
        for index in order:
            wall, peak = run(commands[index])
            walls[names[index]].append(wall)
            peaks[names[index]].append(peak)
            this_round[names[index]] = wall
        for name in names[1:]:
            ratios[name].append(this_round[names[0]] / this_round[name])
    print(f"{'command':<36}{'median':>10}{'min':>10}{'peak RSS':>12}   ({args.runs} runs each, alternating)")
    for name in names:
        print(
            f"{name:<36}{statistics.median(walls[name]) * 1000:>8.0f}ms"
            f"{min(walls[name]) * 1000:>8.0f}ms{statistics.median(peaks[name]) / 1024:>9.1f}MiB"
        )
    for name in names[1:]:
        ratio = statistics.median(ratios[name])
        print(f"{names[0]} / {name}: median of the pairwise time ratios {ratio:.2f} ({1 / ratio:.1f}x the other way)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes N varied, valid refresh plans into a directory (for benches/validate.sh; with a third
argument `recurring`, every window is recurring, for benches/tick.sh).

Plans vary in window kind (fixed or recurring, several zones), operation (refresh or restore),
releases (with and without the hotfix prerequisites of older ones), post steps and notifications,
so the benchmark exercises every part of the loader and the rules. The plans of a project agree on
its production environment (one release per project), as a real fleet's do. Deterministic for a
given N.
"""
import os
import random
import sys

ZONES = ["UTC", "Europe/Amsterdam", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Europe/London"]
DAYS = ["SAT", "SUN", "FRI", "1", "3"]
RELEASES = [
    ("10.0.41", []),
    ("10.0.40", []),
    ("8.1", []),
    ("July 2017", ["KB4035399", "KB4045801", "KB4091255"]),
    ("1611", ["KB4025631", "KB4035355", "KB4035492", "KB4010947"]),
]


def plan(index: int, rng: random.Random, recurring: bool = False) -> str:
    project = 1_000_000 + index // 50
    # One release per project: its 50 sandboxes copy from its one production environment, so
    # every plan of the project says the same of it (a real fleet; `inconsistent-facts`).
    release, hotfixes = random.Random(project).choice(RELEASES)
    lines = [
        "# yaml-language-server: $schema=../schemas/refresh-plan.schema.json",
        "version: 1",
        f"name: plan-{index:05d}",
        f"description: Generated plan {index} for the validate benchmark",
        f"project: {project}",
        "environment:",
        f"  name: env-{index:05d}",
        "  type: sandbox",
        f'  release: "{release}"',
    ]
    if hotfixes:
        lines.append(f"  hotfixes: [{', '.join(hotfixes)}]")
    lines += ["  channel_database: Default", "  channel_data_group: Default"]
    restore = rng.random() < 0.2
    if not restore:
        lines += ["source:", f"  name: prod-{index // 50:04d}", "  type: production", f'  release: "{release}"']
    else:
        lines.append(f"point_in_time: -{rng.randint(1, 120)}h")
    if rng.random() < 0.5 and not recurring:
        day = rng.randint(1, 28)
        month = rng.randint(1, 12)
        lines += [
            "window:",
            f"  start: 2027-{month:02d}-{day:02d}T{rng.randint(0, 23):02d}:00:00+0{rng.randint(0, 9)}:00",
            f"  duration: {rng.randint(2, 8)}h",
        ]
    else:
        lines += [
            "window:",
            f'  cron: "{rng.randint(0, 59)} {rng.randint(0, 23)} * * {rng.choice(DAYS)}"',
            f"  timezone: {rng.choice(ZONES)}",
            f"  duration: {rng.randint(2, 6)}h {rng.choice([0, 30])}m",
        ]
    lines.append(f"lead_time: {rng.choice([25, 48, 72])}h")
    lines += ["acknowledge:", "  - target-database-erased", "  - target-unavailable", "post_steps:"]
    lines.append("  - reprovision")
    lines.append("  - reset-financial-reporting")
    if rng.random() < 0.5:
        lines += ["  - deploy:", f"      file: packages/build-{index}.zip", f"      name: Build {index}"]
    if rng.random() < 0.5:
        lines += ["  - command:", '      run: ["./anonymize.sh", "{{ environment.name }}", "{{ run.id }}"]', "      timeout: 20m"]
    if rng.random() < 0.3:
        lines += ["  - manual:", "      instructions: Re-activate the POS devices."]
    if rng.random() < 0.5:
        lines += ["notifications:", f"  - url: https://hooks.example.com/refresh/{index}", "    on: [submitted, started, succeeded, failed]"]
    return "\n".join(lines) + "\n"


def main() -> None:
    directory, count = sys.argv[1], int(sys.argv[2])
    recurring = len(sys.argv) > 3 and sys.argv[3] == "recurring"
    os.makedirs(os.path.join(directory, "packages"), exist_ok=True)
    # The files the plans name exist, as in a real repository (`missing-file` checks them).
    script = os.path.join(directory, "anonymize.sh")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    rng = random.Random(20261124)
    for index in range(count):
        text = plan(index, rng, recurring)
        with open(os.path.join(directory, f"plan-{index:05d}.yaml"), "w", encoding="utf-8") as handle:
            handle.write(text)
        if f"packages/build-{index}.zip" in text:
            with open(os.path.join(directory, "packages", f"build-{index}.zip"), "wb") as handle:
                handle.write(b"PK\x05\x06" + bytes(18))


if __name__ == "__main__":
    main()

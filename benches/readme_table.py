#!/usr/bin/env python3
"""Puts the table of the last `benches/all.sh` run into the README: replaces what stands between
the marker comments `<!-- bench:begin -->` and `<!-- bench:end -->` with the file it rendered.

Usage: readme_table.py [TABLE] [README]   (defaults: target/bench/performance.md, README.md)
Exit status 1, with the README unchanged, when the markers are missing, repeated or out of order.
"""
import os
import sys

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    table_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target/bench/performance.md")
    readme_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "README.md")
    with open(table_path, encoding="utf-8") as file:
        table = file.read().strip("\n")
    with open(readme_path, encoding="utf-8") as file:
        readme = file.read()
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        sys.exit(f"{readme_path}: wants one {BEGIN} and one {END}")
    start = readme.index(BEGIN) + len(BEGIN)
    end = readme.index(END)
    if end < start:
        sys.exit(f"{readme_path}: {END} comes before {BEGIN}")
    updated = readme[:start] + "\n" + table + "\n" + readme[end:]
    if updated != readme:
        with open(readme_path, "w", encoding="utf-8") as file:
            file.write(updated)
    print(f"{readme_path}: the table between the markers is now {table_path}")


if __name__ == "__main__":
    main()

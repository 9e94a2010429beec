#!/usr/bin/env python3
"""Whole commands timed side by side, in a fresh random order every round.

    python3 scripts/ab.py [--rounds N] [--settle S] [--seed K] [--as-is] CMD [CMD ...]

Each round runs every command once, in a shuffled order, and prints each command's
median, quartiles and median relative to the first command's. Why shuffled: on this
project's VMs a fixed order (A, B, cjpeg, A, B, cjpeg, ...) favoured the command that
followed another walloc by up to 0.3 ms in a 6 ms encode, more than most changes it was
asked to judge (docs/performance.md, sixteenth session). --settle waits S seconds before
every run, as a user's single command after a pause runs. Output goes nowhere; a command
that fails stops the run. Commands are split like a shell would split them (no pipes).

Each program named by a path (one with a slash, such as ./walloc or target/release/walloc)
is first copied, and the copies are run: a copy made minutes earlier ran slower than one
made now. A 741×500 `walloc encode` took 5.27 ms from a binary copied an hour before and
4.96 from a fresh copy of the same bytes, with 20 more page faults per run (the page
cache of an older file, on this project's VM, had been split into smaller pieces): an
A/B of two builds made at different times measured that age as much as the change
(docs/performance.md, eighteenth session). --as-is runs the programs where they are.
"""

import argparse
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--settle", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-is", action="store_true", help="run programs where they lie")
    parser.add_argument("commands", nargs="+")
    args = parser.parse_args()
    commands = [shlex.split(c) for c in args.commands]
    with tempfile.TemporaryDirectory(prefix="ab-") as copies:
        if not args.as_is:
            for i, command in enumerate(commands):
                if "/" in command[0]:
                    # A folder per command: two builds may share a file name.
                    folder = os.path.join(copies, str(i))
                    os.mkdir(folder)
                    command[0] = shutil.copy2(command[0], folder)
        return run(args, commands)


def run(args: argparse.Namespace, commands: list[list[str]]) -> int:
    times: list[list[float]] = [[] for _ in commands]
    order = list(range(len(commands)))
    shuffle = random.Random(args.seed).shuffle
    for _ in range(args.rounds):
        shuffle(order)
        for i in order:
            if args.settle:
                time.sleep(args.settle)
            start = time.perf_counter()
            done = subprocess.run(commands[i], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[i].append(time.perf_counter() - start)
            if done.returncode != 0:
                print(f"failed ({done.returncode}): {args.commands[i]}", file=sys.stderr)
                return 1
    first = statistics.median(times[0])
    print(f"{args.rounds} rounds, order shuffled each round (seed {args.seed})")
    print("median ms   p25 ms   p75 ms   vs first   command")
    for command, t in zip(args.commands, times):
        t.sort()
        n = len(t)
        median = statistics.median(t)
        print(
            f"{median * 1e3:9.3f} {t[n // 4] * 1e3:8.3f} {t[3 * n // 4] * 1e3:8.3f}"
            f" {median / first:9.2f}×   {command}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

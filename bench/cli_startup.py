"""How long the command line takes to answer before it does any work, against a bare interpreter.

    python bench/cli_startup.py [--repeats 9] [--torch]

Times, as whole processes and in turn (A B A B ..., so a machine whose speed drifts slows both alike):
  bare       python -c "import argparse"              the interpreter and the parser's library
  --help     python -m mnist_core --help              the whole command line's help
  typo       python -m mnist_core tarin               a mistyped command (exit code 2)
  archs      python -m mnist_core archs               the architectures' table (it reads the shipped
                                                      cnn's checkpoint for its width)
  torch      python -c "import torch"                 with --torch, timed after the others (its minutes of
                                                      disk and CPU would disturb them): what they no
                                                      longer wait for
and prints each one's median wall time and CPU time (user + system, which a busy machine disturbs
less than the wall clock) and their ratios to bare (the target for --help: 1.5x or less), with the
machine's load before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "bare": ["-c", "import argparse"],
    "--help": ["-m", "mnist_core", "--help"],
    "typo": ["-m", "mnist_core", "tarin"],
    "archs": ["-m", "mnist_core", "archs"],
}


# as a user runs it: Python keeps the compiled modules (the warm-up writes them), whatever this shell says
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def once(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run as a whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except (AttributeError, OSError):
        return "n/a"
    return f"{one:.2f} (5 min: {five:.2f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--torch", action="store_true", help='add `python -c "import torch"` as a row')
    args = ap.parse_args(argv)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load before {load()}")
    for case in CASES.values():  # warm-up: the file cache and .pyc files
        once(case)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, case in CASES.items():
            runs[name].append(once(case))
    if args.torch:
        runs["torch"] = [once(["-c", "import torch"]) for _ in range(args.repeats)]
    head = f"{'wall ms: median':>16} {'min':>5} {'max':>5} {'x bare':>7}   {'CPU ms: median':>15} {'x bare':>7}"
    print(f"{'command':<8} {head}")
    wall0, cpu0 = (statistics.median(r[i] for r in runs["bare"]) for i in (0, 1))
    for name, rows in runs.items():
        wall, cpu = (statistics.median(r[i] for r in rows) for i in (0, 1))
        lo, hi = min(r[0] for r in rows), max(r[0] for r in rows)
        print(
            f"{name:<8} {1000 * wall:>16.0f} {1000 * lo:>5.0f} {1000 * hi:>5.0f} {wall / wall0:>7.2f}"
            f"   {1000 * cpu:>15.0f} {cpu / cpu0:>7.2f}"
        )
    print(f"load after {load()}; {args.repeats} runs each, in turn; target: --help within 1.5x of bare")
    return 0


if __name__ == "__main__":
    sys.exit(main())

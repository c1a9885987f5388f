"""The planner's growth from 10,000 to 50,000 steps in CPU instructions, not seconds.

Run: .venv/bin/python bench/planner_instructions.py [--shape chain-fields] [--sizes 10000,50000]

Wall-clock and even CPU time drift with a shared machine's load (a loaded two-core machine
inflates both sizes unevenly: caches, frequency); the number of instructions a run executes does
not. Each size runs twice under valgrind (callgrind, counting only): once building and parsing the
scenarios of bench/planner.py, once doing the same and then planning; the difference is the
planner's own count. Slow (valgrind runs Python about 50x slower: roughly half an hour for the
default sizes), so `make bench` does not run it; it needs valgrind on PATH.
Target (issue 12): 10k -> 50k grows less than 5.5x on every shape.
"""

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_GROWTH = 5.5
# What one measured process does: build both versions as bench/planner.py does, parse them, and
# plan only when asked (so the difference of the two counts is the planner's).
PROGRAM = """
import sys
sys.path[:0] = [{bench!r}, {shared!r}]
import planner as bench
from scenario_migration.domain.planning import plan_migration
from scenario_migration.domain.scenario import Scenario
size, shape, plan = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "plan"
v1 = bench.build_v1(size, size, "menu" if shape == "menu" else "chain")
v2 = bench.build_v2(v1, size + 1, field_per_insert=shape == "chain-fields")
old, new = Scenario.model_validate(v1), Scenario.model_validate(v2)
live = bench.sessions(v1, size + 2)
if plan:
    plan_migration(old, new, live)
"""


def instructions(size: int, shape: str, plan: bool) -> int:
    program = PROGRAM.format(bench=str(ROOT / "bench"), shared=str(ROOT / "shared"))
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-c",
        program,
        str(size),
        shape,
        "plan" if plan else "build",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    found = re.search(r"Collected : (\d+)", output)
    if found is None:
        raise RuntimeError(f"valgrind printed no instruction count:\n{output[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("menu", "chain", "chain-fields"), default="chain-fields")
    parser.add_argument("--sizes", default="10000,50000")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not on PATH (apt-get install valgrind)")
    small, large = (int(size) for size in args.sizes.split(","))
    counts = {}
    for size in (small, large):
        counts[size] = instructions(size, args.shape, True) - instructions(size, args.shape, False)
        print(f"{args.shape} {size:>6} steps: plan {counts[size] / 1e9:.2f} G instructions", flush=True)
    growth = counts[large] / counts[small]
    verdict = "met" if growth < TARGET_GROWTH else "NOT met"
    print(f"growth {small} -> {large}: {growth:.2f}x (target < {TARGET_GROWTH}x: {verdict})")


if __name__ == "__main__":
    main()

"""JIT cold start: the handler's import against a bare boto3 DynamoDB client, in fresh interpreters.

Run: python bench/cold_start.py [--runs 15]. No AWS, no Java.

What a container without SnapStart pays before the first message is answered: importing
functions/jit_apply/app.py and creating its DynamoDB client. The baseline is the least any Python
function that reads DynamoDB pays: `import boto3` and `boto3.client("dynamodb")`. Each repetition
starts one fresh interpreter per case, in rotating order, so that both see the same machine (on a
loaded one the ratio is the figure, not the absolute times). Two conditions, on a copy of the code:
- "source compiled": the service's modules have no .pyc and are compiled at import (a package
  without bytecode: Lambda's code directory is read-only, so nothing is cached between cold
  starts); the libraries use their installed .pyc, as in the layer;
- "bytecode cached": every module's .pyc is there (what shipping compiled code would give).
Prints the medians and the ratio per condition (issue 12 target: <= 2), the load average, then:
- `-X importtime` (source compiled): the modules that cost most, median self time;
- which of the migration path's modules the import left out (services/jit.py loads them lazily:
  all must be out, and Bedrock's adapter), and that under SnapStart's initialisation
  (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start) the priming loads every one of them.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 2.0
TIMED = "import time; started = time.perf_counter(); {code}; print((time.perf_counter() - started) * 1e3)"
CASES = {
    "baseline": "import boto3; boto3.client('dynamodb')",
    "handler": "import jit_apply.app; from scenario_migration.store import dynamodb; dynamodb.client()",
}
LAZY = (
    "scenario_migration.domain.jit",
    "scenario_migration.domain.extraction",
    "scenario_migration.domain.planning",
    "scenario_migration.domain.planner",
    "scenario_migration.domain.plan",
    "scenario_migration.domain.lifecycle",
    "scenario_migration.domain.replay",
    "scenario_migration.services.scenarios",
    "scenario_migration.store.plans",
    "scenario_migration.store.deployments",
    "scenario_migration.adapters.bedrock",
    "cel",
)
LOADED = (
    "import sys, types, jit_apply.app; "
    "print(' '.join(m for m in {lazy!r} if type(sys.modules.get(m)) is types.ModuleType))"
)
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
# The environment variables of ours and of the bytecode cache that the conditions set themselves.
OWN_VARIABLES = ("AWS_", "SCENARIO_MIGRATION", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")


class Interpreter:
    """Fresh interpreters on a copy of functions/ and shared/ (no .pyc of ours, nothing written to
    the tree), in one of the two conditions."""

    def __init__(self, code: Path, bytecode: Path | None) -> None:
        self.code, self.bytecode = code, bytecode

    def run(self, source: str, *flags: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("AWS_", "SCENARIO_MIGRATION", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
            )
        }
        env.update(
            PYTHONPATH=os.pathsep.join(str(self.code / folder) for folder in ("functions", "shared")),
            AWS_DEFAULT_REGION="us-east-1",
            **extra,
        )
        if self.bytecode is None:
            flags = ("-B", *flags)  # never write .pyc: ours are compiled at every import
        else:
            env["PYTHONPYCACHEPREFIX"] = str(self.bytecode)  # written by the warm-up, read after
        return subprocess.run(
            [sys.executable, *flags, "-c", source], env=env, capture_output=True, text=True, check=True
        )

    def time(self, case: str) -> float:
        """Milliseconds of one case in a fresh interpreter."""
        return float(self.run(TIMED.format(code=CASES[case])).stdout)

    def import_profile(self, runs: int) -> dict[str, float]:
        """Median self time (ms) of each module under `-X importtime`, after a baseline client."""
        source = CASES["baseline"] + "; import jit_apply.app"
        selfs: dict[str, list[float]] = defaultdict(list)
        for _ in range(runs):
            for found in LINE.finditer(self.run(source, "-X", "importtime").stderr):
                selfs[found[4]].append(int(found[1]) / 1e3)
        return {name: statistics.median(times) for name, times in selfs.items()}

    def loaded(self, **extra: str) -> set[str]:
        """The LAZY modules actually executed by importing the handler."""
        return set(self.run(LOADED.format(lazy=LAZY), **extra).stdout.split())


def timings(conditions: dict[str, Interpreter], runs: int) -> dict[tuple[str, str], list[float]]:
    """Milliseconds per (condition, case), `runs` fresh interpreters each, every one of them in each
    round, the order rotating from round to round: all see the same machine, loaded or not."""
    runners = [(condition, case) for condition in conditions for case in CASES]
    for condition, case in runners:  # warm the page cache (and write the .pyc where they are cached)
        conditions[condition].time(case)
    times: dict[tuple[str, str], list[float]] = {runner: [] for runner in runners}
    for i in range(runs):
        shift = i % len(runners)
        for condition, case in runners[shift:] + runners[:shift]:
            times[condition, case].append(conditions[condition].time(case))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per case and condition")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        code = Path(tmp) / "code"
        for folder in ("functions", "shared"):  # symlinks (default.toml) copied as files
            shutil.copytree(ROOT / folder, code / folder, ignore=shutil.ignore_patterns("__pycache__"))
        report(args.runs, Interpreter(code, None), Interpreter(code, Path(tmp) / "pycache"))


def report(runs: int, compiled: Interpreter, cached: Interpreter) -> None:
    before = os.getloadavg()
    conditions = {"source compiled": compiled, "bytecode cached": cached}
    times = timings(conditions, runs)
    after = os.getloadavg()
    print(f"JIT cold start: fresh interpreters, median of {runs} per case, all cases interleaved")
    print(f"  {'':18} {'baseline':>9} {'handler':>9}   handler (import + its client) / baseline")
    for name in conditions:
        base, handler = statistics.median(times[name, "baseline"]), statistics.median(times[name, "handler"])
        ratio = handler / base
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(
            f"  {name:18} {base:6.0f} ms {handler:6.0f} ms   {ratio:.2f}  (target <= {TARGET:g}: {verdict})"
        )
    print(f"  load average: {before[0]:.2f} before, {after[0]:.2f} after ({os.cpu_count()} CPUs)")

    medians = compiled.import_profile(max(3, runs // 3))
    top = sorted(medians.items(), key=lambda item: -item[1])[:10]
    own = sum(ms for name, ms in medians.items() if name.split(".")[0] in ("scenario_migration", "jit_apply"))
    print("\n-X importtime (source compiled) after a baseline client: heaviest modules, median self time")
    print("  " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in top))
    print(f"  the service's own modules, summed: {own:.0f} ms")

    eager = compiled.loaded()
    primed = compiled.loaded(AWS_LAMBDA_INITIALIZATION_TYPE="snap-start")
    wanted = set(LAZY) - {"scenario_migration.adapters.bedrock", "cel"}  # these on first use only
    missing = wanted - primed
    print("\nthe migration path's modules")
    print(
        f"  imported by the handler's import: {', '.join(sorted(eager)) or 'none'}  "
        f"(target none: {'met' if not eager else 'MISSED'})"
    )
    print(
        f"  imported under SnapStart's priming: {len(primed & wanted)} of {len(wanted)}"
        f"{' (missing: ' + ', '.join(sorted(missing)) + ')' if missing else ''}  "
        f"(target all: {'met' if not missing else 'MISSED'})"
    )


if __name__ == "__main__":
    main()

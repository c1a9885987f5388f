"""Extraction benchmark: what the rule extractor gets right, and what its parsers cost at cold start.

Run: .venv/bin/python bench/extraction.py [--runs 7]

Prints:
- precision and recall per field type on the labelled corpus (tests/data/extraction_corpus.json)
  at gap_fill's confirmation threshold (used silently) and extraction threshold (confirmed);
  tests/unit/test_extraction_corpus.py asserts on the same figures;
- import costs, each the median of `--runs` fresh interpreters (the load average is printed with
  them: on a busy machine every figure grows): the extraction module alone (its parsers are
  imported on first use), each parser on its own, the module with the first parse that loads it,
  and the JIT handler module (which must load neither). Candidate parsers that were left out are
  measured too when they happen to be installed (domain/parsers.py has the figures and reasons).
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]

from scenario_migration.config import load_settings  # noqa: E402
from scenario_migration.domain.extraction import RuleExtractor  # noqa: E402
from tests.extraction_corpus import load_cases, table  # noqa: E402

SETUP = "from scenario_migration.domain.scenario import FieldSpec"  # pydantic: the JIT loads it anyway
EXTRACTION = "import scenario_migration.domain.extraction as x"
# (label, code run first and not timed, code timed as the import, code timed as the first use)
PROBES = [
    ("extraction module (no parser loaded)", SETUP, EXTRACTION, ""),
    ("text2num alone", "", "import text_to_num", "text_to_num.alpha2digit('seventeen', 'en')"),
    ("phonenumbers(lite) alone", "", "import phonenumbers", "phonenumbers.parse('+33612345678', None)"),
    (
        "extraction + first integer answer",
        SETUP,
        EXTRACTION,
        "x.parse_answer(FieldSpec(name='age', type='integer'), 'seventeen')",
    ),
    (
        "extraction + first phone answer",
        SETUP,
        EXTRACTION,
        "x.parse_answer(FieldSpec(name='phone', type='phone'), '+33 6 12 34 56 78')",
    ),
    (
        "extraction + first e-mail answer",
        SETUP,
        EXTRACTION,
        "x.parse_answer(FieldSpec(name='email', type='email'), 'ann@example.com')",
    ),
    ("JIT handler module (jit_apply.app)", "", "import jit_apply.app", ""),
]
LEFT_OUT = [
    (
        "email_validator",
        "",
        "import email_validator",
        "email_validator.validate_email('a@example.com', check_deliverability=False)",
    ),
    ("dateutil.parser", "", "import dateutil.parser", "dateutil.parser.parse('12 March 1985')"),
    ("dateparser", "", "import dateparser", "dateparser.parse('12 mars 1985')"),
    ("quantulum3", "", "from quantulum3 import parser", "parser.parse('I am 10 minutes away')"),
]
PROBE = """
import time, sys
{setup}
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
{use}
t2 = time.perf_counter()
loaded = [m for m in ('text_to_num', 'phonenumbers') if m in sys.modules]
print((t1 - t0) * 1000, (t2 - t1) * 1000, ','.join(loaded) or '-')
"""


def measure(setup: str, imports: str, use: str, runs: int) -> tuple[float, float, str] | None:
    """Median import and first-use milliseconds in fresh interpreters, and the parsers loaded."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT / "shared")])}
    env["POWERTOOLS_METRICS_NAMESPACE"] = env.get("POWERTOOLS_METRICS_NAMESPACE", "bench")
    samples = []
    for _ in range(runs):
        code = PROBE.format(setup=setup, imports=imports, use=use or "pass")
        done = subprocess.run(
            [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env
        )
        if done.returncode != 0:
            return None
        imported, used, loaded = done.stdout.split()
        samples.append((float(imported), float(used), loaded))
    return (
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
        samples[0][2],
    )


def print_costs(runs: int) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nImport costs (median of {runs} fresh interpreters; load average {load}):")
    print(f"  {'':42} {'import ms':>10} {'first use ms':>13}  parsers loaded")
    for label, setup, imports, use in PROBES:
        result = measure(setup, imports, use, runs)
        if result is None:
            print(f"  {label:42} {'failed':>10}")
            continue
        imported, used, loaded = result
        print(f"  {label:42} {imported:10.1f} {used:13.1f}  {loaded}")
    print("  left out (see domain/parsers.py):")
    for label, setup, imports, use in LEFT_OUT:
        result = measure(setup, imports, use, runs)
        if result is None:
            print(f"  {label:42} {'not installed':>10}")
        else:
            print(f"  {label:42} {result[0]:10.1f} {result[1]:13.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    gap = load_settings().gap_fill
    cases = load_cases()
    thresholds = (gap.confirmation_threshold, gap.extraction_confidence_threshold)
    print(f"RuleExtractor on {len(cases)} labelled messages (precision and recall, answers counted):")
    print(table(RuleExtractor(), cases, thresholds))
    print_costs(args.runs)


if __name__ == "__main__":
    main()

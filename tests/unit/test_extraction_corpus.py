"""Confidence means something: precision and recall of the rule extractor, per field type, on the
labelled corpus (tests/data/extraction_corpus.json) at gap_fill's two default thresholds.

At the confirmation threshold (0.95: used without asking) precision must be at least 0.98 for
every field type. A type that answers nothing there (boolean and string: the rules only ever ask
to confirm them) is not wrong, and shows as n/a. The recall floors are what the rules measured
when this was written, rounded down: they catch a change that makes extraction ask far more often.
Run with `pytest -s` to see the table (bench/extraction.py prints it too).
"""

import pytest

from scenario_migration.config import load_settings
from scenario_migration.domain.extraction import RuleExtractor
from tests.extraction_corpus import Case, load_cases, score, table

GAP_FILL = load_settings().gap_fill
SILENT, CONFIRMED = GAP_FILL.confirmation_threshold, GAP_FILL.extraction_confidence_threshold
MIN_PRECISION = 0.98
# Measured on the corpus (recall at 0.95 / at 0.85), rounded down a little.
RECALL_FLOORS = {
    "integer": (0.65, 0.90),
    "number": (0.75, 0.90),
    "email": (0.75, 0.85),
    "phone": (0.80, 0.95),
    "date": (0.75, 0.85),
    "enum": (0.55, 0.65),
    "boolean": (0.0, 0.80),
    "string": (0.0, 0.95),
}


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases()


@pytest.fixture(scope="module")
def report(cases: list[Case]) -> str:
    text = table(RuleExtractor(), cases, (SILENT, CONFIRMED))
    print(f"\nRuleExtractor on {len(cases)} labelled messages:\n{text}")
    return text


def test_the_corpus_is_large_and_varied(cases: list[Case]) -> None:
    assert len(cases) >= 150
    assert {case.spec.type.value for case in cases} == set(RECALL_FLOORS)
    decoys = [case for case in cases if case.expected is None]
    assert len(decoys) >= len(cases) // 3  # as many ways to be wrong as to be right
    assert sum("fr" in case.note or "de" in case.note or "es" in case.note for case in cases) >= 10


def test_precision_at_the_confirmation_threshold(cases: list[Case], report: str) -> None:
    for field_type, tally in score(RuleExtractor(), cases, SILENT).items():
        if tally.precision is not None:
            assert tally.precision >= MIN_PRECISION, f"{field_type}: {tally.wrong}\n{report}"


@pytest.mark.parametrize(("threshold", "floor"), [(SILENT, 0), (CONFIRMED, 1)])
def test_recall_floors(cases: list[Case], report: str, threshold: float, floor: int) -> None:
    for field_type, tally in score(RuleExtractor(), cases, threshold).items():
        if field_type != "all":
            assert (tally.recall or 0) >= RECALL_FLOORS[field_type][floor], f"{field_type}\n{report}"

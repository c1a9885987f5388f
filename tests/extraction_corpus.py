"""The labelled corpus of customer messages (tests/data/extraction_corpus.json) and how an
extractor scores on it: precision and recall per field type at a confidence threshold.

A case counts as a positive when its label is a value. At a threshold, the extractor *answers*
a case when it finds a value at or above it: a true positive when that is the label, a false
positive otherwise (a wrong value, or any value where the label is null). Precision is the share
of answers that are right (undefined when there is none: no answer is never wrong), recall the
share of positives answered right. Used by tests/unit/test_extraction_corpus.py and
bench/extraction.py.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenario_migration.domain.extraction import Extractor
from scenario_migration.domain.scenario import FieldSpec

CORPUS = Path(__file__).resolve().parent / "data" / "extraction_corpus.json"


@dataclass(frozen=True)
class Case:
    spec: FieldSpec
    turns: list[str]  # oldest first
    expected: Any  # None: the text does not state the field's value
    note: str


@dataclass
class Score:
    cases: int = 0
    positives: int = 0
    right: int = 0
    wrong: list[str] = field(default_factory=list)  # the messages of the false positives

    @property
    def answered(self) -> int:
        return self.right + len(self.wrong)

    @property
    def precision(self) -> float | None:
        return self.right / self.answered if self.answered else None

    @property
    def recall(self) -> float | None:
        return self.right / self.positives if self.positives else None


def load_cases(path: Path = CORPUS) -> list[Case]:
    document = json.loads(path.read_text(encoding="utf-8"))
    specs = {key: FieldSpec.model_validate(spec) for key, spec in document["fields"].items()}
    return [
        Case(
            spec=specs[item["field"]],
            turns=item.get("turns") or [item["message"]],
            expected=item["expected"],
            note=item.get("note", ""),
        )
        for item in document["cases"]
    ]


def score(extractor: Extractor, cases: list[Case], threshold: float) -> dict[str, Score]:
    """Scores per field type (and "all"), answering at `threshold`."""
    scores: dict[str, Score] = {}
    for case in cases:
        found = extractor.extract(case.spec, case.turns)
        answered = found is not None and found.confidence >= threshold
        for key in (case.spec.type.value, "all"):
            tally = scores.setdefault(key, Score())
            tally.cases += 1
            tally.positives += case.expected is not None
            if answered and case.expected is not None and found.value == case.expected:
                tally.right += 1
            elif answered:
                tally.wrong.append(f"{case.turns[-1]!r} -> {found.value!r} ({found.confidence})")
    return scores


def table(extractor: Extractor, cases: list[Case], thresholds: tuple[float, ...]) -> str:
    """Precision and recall per field type at each threshold, as printed by the test and bench."""
    by_threshold = {t: score(extractor, cases, t) for t in thresholds}
    types = sorted(by_threshold[thresholds[0]], key=lambda key: (key == "all", key))
    heading = "type      cases  positives"
    heading += "".join(f"   precision@{t:.2f}  recall@{t:.2f}" for t in thresholds)
    rows = [heading]
    for key in types:
        first = by_threshold[thresholds[0]][key]
        row = f"{key:<9} {first.cases:>5}  {first.positives:>9}"
        for t in thresholds:
            s = by_threshold[t][key]
            row += f"   {_ratio(s.precision, s.answered):>14}  {_ratio(s.recall, s.positives):>11}"
        rows.append(row)
    return "\n".join(rows)


def _ratio(value: float | None, of: int) -> str:
    return "n/a (0)" if value is None else f"{value:.2f} ({of})"

"""Reading field values out of what customers wrote: typed answers and conversation extraction.

`parse_answer` validates a direct answer to a question by the field's type (the customer was
asked, so the whole message is the answer). `RuleExtractor` scans recent customer turns for a
value, scoring its confidence from how the value appears: next to one of the field's
`extraction_hints` ("34 years old", "my age is 34") it is near certain; an unambiguous format
(an email address) is strong; a bare number is weak. Deterministic, no I/O: the default.
`gap_fill.extractor = "bedrock"` selects adapters/bedrock.py instead, whose answers go through
`parse_value` like any other value.
"""

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from scenario_migration.domain.scenario import FieldSpec, FieldType
from scenario_migration.domain.values import storable_number

_INT = re.compile(r"(?<![\d.])-?\d{1,12}(?![\d.])")
_NUMBER = re.compile(r"(?<![\d.])-?\d{1,12}(?:[.,]\d+)?(?![\d.])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,18}\d")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DMY_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_YES = {"yes", "y", "yeah", "yep", "true", "correct", "right", "sure", "ok", "okay", "oui", "si", "ja"}
_NO = {"no", "n", "nope", "false", "wrong", "incorrect", "non", "nein"}
_FIRST_PERSON_NUMBER = re.compile(r"\bi(?:'m| am)\s+(\d{1,3})\b(?:\s*(?:yo|years?))?", re.IGNORECASE)

HINTED = 0.97  # the value sits next to a hint ("34 years old")
SELF_DESCRIBED = 0.96  # "I'm 34" for an age-like field
FORMAT = 0.96  # one unambiguous email / phone / date in the turn
AMBIGUOUS = 0.6  # a value of the right type, nothing says which field it is


@dataclass(frozen=True)
class Extracted:
    value: Any
    confidence: float


class Extractor(Protocol):
    def extract(self, spec: FieldSpec, turns: list[str]) -> Extracted | None:
        """The most recent confident value of the field in the customer's turns (newest last)."""
        ...


def parse_answer(spec: FieldSpec, text: str) -> Any | None:
    """The value of a direct answer, validated by type and bounds; None if it is not one."""
    text = text.strip()
    if not text:
        return None
    value = _PARSERS[spec.type](spec, text)
    return value if value is not None and _within_bounds(spec, value) else None


def parse_value(spec: FieldSpec, value: Any) -> Any | None:
    """A value from a profile or session variables, coerced to the field's type if it is one."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str):
        value = str(value).lower() if isinstance(value, bool) else str(value)
    return parse_answer(spec, value)


def yes_or_no(text: str | None) -> bool | None:
    words = re.findall(r"[a-z]+", (text or "").lower())
    if any(w in _YES for w in words) and not any(w in _NO for w in words):
        return True
    if any(w in _NO for w in words) and not any(w in _YES for w in words):
        return False
    return None


def _within_bounds(spec: FieldSpec, value: Any) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not storable_number(value):
            return False
        if spec.minimum is not None and value < spec.minimum:
            return False
        if spec.maximum is not None and value > spec.maximum:
            return False
    return True


def _single(pattern: re.Pattern[str], text: str) -> str | None:
    found = {m.group(0) for m in pattern.finditer(text)}
    return found.pop() if len(found) == 1 else None


def _parse_integer(_: FieldSpec, text: str) -> int | None:
    raw = _single(_INT, text)
    return int(raw) if raw is not None else None


def _parse_number(_: FieldSpec, text: str) -> float | None:
    raw = _single(_NUMBER, text)
    return float(raw.replace(",", ".")) if raw is not None else None


def _parse_boolean(_: FieldSpec, text: str) -> bool | None:
    return yes_or_no(text)


def _parse_email(_: FieldSpec, text: str) -> str | None:
    raw = _single(_EMAIL, text)
    return raw.lower() if raw else None


def _parse_phone(_: FieldSpec, text: str) -> str | None:
    raw = _single(_PHONE, text)
    if raw is None:
        return None
    digits = re.sub(r"[^\d+]", "", raw)
    return digits if 7 <= len(digits.lstrip("+")) <= 15 else None


def _parse_date(_: FieldSpec, text: str) -> str | None:
    match = _ISO_DATE.search(text)
    parts = (int(match[1]), int(match[2]), int(match[3])) if match else None
    if parts is None and (match := _DMY_DATE.search(text)):
        parts = (int(match[3]), int(match[2]), int(match[1]))
    try:
        return date(*parts).isoformat() if parts else None
    except ValueError:
        return None


def _parse_enum(spec: FieldSpec, text: str) -> str | None:
    lowered = text.lower()
    found = [v for v in spec.values or [] if re.search(rf"\b{re.escape(v.lower())}\b", lowered)]
    return found[0] if len(found) == 1 else None


def _parse_string(_: FieldSpec, text: str) -> str | None:
    return text[:500] if text else None


_PARSERS = {
    FieldType.INTEGER: _parse_integer,
    FieldType.NUMBER: _parse_number,
    FieldType.BOOLEAN: _parse_boolean,
    FieldType.EMAIL: _parse_email,
    FieldType.PHONE: _parse_phone,
    FieldType.DATE: _parse_date,
    FieldType.ENUM: _parse_enum,
    FieldType.STRING: _parse_string,
}
_FORMATTED = {FieldType.EMAIL, FieldType.PHONE, FieldType.DATE}


class RuleExtractor:
    """Deterministic extraction driven by field types and `extraction_hints`."""

    def extract(self, spec: FieldSpec, turns: list[str]) -> Extracted | None:
        for turn in reversed(turns):  # the newest statement wins
            found = self._in_turn(spec, turn)
            if found is not None:
                return found
        return None

    def _in_turn(self, spec: FieldSpec, turn: str) -> Extracted | None:
        lowered = turn.lower()
        for hint in [*spec.extraction_hints, spec.name.replace("_", " ")]:
            for window in _windows_around(lowered, hint.lower()):
                value = parse_answer(spec, window)
                if value is not None:
                    return Extracted(value, HINTED)
        if spec.type is FieldType.INTEGER and _age_like(spec) and (m := _FIRST_PERSON_NUMBER.search(turn)):
            value = parse_answer(spec, m.group(1))
            return Extracted(value, SELF_DESCRIBED) if value is not None else None
        if spec.type in _FORMATTED and (value := parse_answer(spec, turn)) is not None:
            return Extracted(value, FORMAT)
        if spec.type in (FieldType.INTEGER, FieldType.NUMBER, FieldType.ENUM):
            value = parse_answer(spec, turn)
            return Extracted(value, AMBIGUOUS) if value is not None else None
        return None


def _windows_around(text: str, hint: str) -> list[str]:
    """Short pieces of text right after and right before each occurrence of the hint."""
    windows = []
    for match in re.finditer(rf"\b{re.escape(hint)}\b", text):
        windows.append(re.split(r"[.;!?\n]", text[match.end() : match.end() + 40])[0])
        windows.append(re.split(r"[.;!?\n]", text[max(0, match.start() - 25) : match.start()])[-1])
    return windows


def _age_like(spec: FieldSpec) -> bool:
    words = " ".join([spec.name, *spec.extraction_hints]).lower()
    return "age" in words or "years old" in words

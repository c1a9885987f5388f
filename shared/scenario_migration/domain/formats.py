"""Values with a format of their own: e-mail addresses, phone numbers and dates, read from tokens
(domain/tokens.py) or validated whole (a profile value, a model's answer).

- E-mail: the address as the tokenizer found it (never inside a URL), then RFC 5321's limits and
  the structural rules that matter here: no leading, trailing or doubled dot in the local part,
  labels of letters, digits and inner hyphens, an alphabetic top-level domain. Lowercased.
- Phone: a number written with `+` or `00` must be valid for its country's numbering plan
  (libphonenumber, imported on first use) and is written as E.164 ("+33612345678"); a national
  number cannot be checked without knowing the country, so it is its 7 to 15 digits.
- Date: ISO (1985-03-12), numeric day-first (12/03/1985, 12.03.1985; month-first only when the
  day cannot be a month: 03/25/1985), or with a month name in seven languages ("12 March 1985",
  "March 12th, 1985", "12. März 1985", "12 de marzo de 1985"). A date needs its year: two-digit
  years and dates without a year would need a clock or a guess. Relative dates ("tomorrow") are
  left out for the same reason.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime

from scenario_migration.domain.lexicon import MONTHS, ORDINAL_SUFFIXES
from scenario_migration.domain.parsers import phonenumbers
from scenario_migration.domain.tokens import Token, TokenKind, glued, numeric_date

_LABEL = re.compile(r"[^\W_](?:[\w-]{0,61}[^\W_])?")
_PHONE_TEXT = re.compile(r"\+?[\d \u00a0().\-/]{7,30}")
MIN_YEAR, MAX_YEAR = 1000, 2999


def email_address(text: str) -> str | None:
    """The address, lowercased, if `text` is exactly one valid address."""
    local, at, domain = text.strip().rpartition("@")
    if not at or not 0 < len(local) <= 64 or len(domain) > 253:
        return None
    if local[0] == "." or local[-1] == "." or ".." in local or not re.fullmatch(r"[\w.%+\-]+", local):
        return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    tld = labels[-1]
    return text.strip().lower() if tld.isalpha() and len(tld) >= 2 else None


def phone_number(text: str) -> str | None:
    """E.164 for a valid international number, the digits of a national one, else None."""
    text = text.strip()
    if not _PHONE_TEXT.fullmatch(text):
        return None
    digits = re.sub(r"\D", "", text)
    if text.startswith("00"):
        text, digits = "+" + digits[2:], digits[2:]
    if not text.startswith("+"):
        return digits if 7 <= len(digits) <= 15 else None
    return _international(text)


def _international(text: str) -> str | None:
    lib = phonenumbers()
    try:
        number = lib.parse(text, None)
    except lib.NumberParseException:
        return None
    return lib.format_number(number, lib.PhoneNumberFormat.E164) if lib.is_valid_number(number) else None


def international(number: str) -> bool:
    """Whether a value of `phone_number` was checked against its country's plan."""
    return number.startswith("+")


def iso_date(value: object) -> str | None:
    """A date given as data (a profile, a model's answer): a date, or an ISO 8601 date or
    date-time string; its ISO date. Nothing else: "12/03/1985" from a system is ambiguous."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.+\-Z]{2,30})?", value):
        return None
    try:
        return datetime.fromisoformat(value.strip()).date().isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class DateMention:
    value: str  # ISO 8601
    first: int  # index of its first token
    last: int  # index of its last token
    ambiguous: bool  # 05/06/1990: read day-first, but could be month-first


def dates_in(tokens: list[Token]) -> list[DateMention]:
    """Every date written in the tokens, in order."""
    found: list[DateMention] = []
    i = 0
    while i < len(tokens):
        mention = _date_at(tokens, i)
        if mention is None:
            i += 1
        else:
            found.append(mention)
            i = mention.last + 1
    return found


def _date_at(tokens: list[Token], i: int) -> DateMention | None:
    token = tokens[i]
    if token.kind is TokenKind.DATE:
        parts = numeric_date(token)
        return _mention(parts[:3], i, i, parts[3]) if parts else None
    if token.kind is TokenKind.NUMBER:
        return _day_month_year(tokens, i)
    if token.kind is TokenKind.WORD and token.lower in MONTHS:
        return _month_day_year(tokens, i)
    return None


def _day_month_year(tokens: list[Token], i: int) -> DateMention | None:
    """12 March 1985, 12th of March, 1985, 12. März 1985, 12 de marzo de 1985."""
    day = _day(tokens, i)
    j = _skip_ordinal(tokens, i)
    j = _skip(tokens, j, {"of", "de", "del", "."})
    if day is None or j >= len(tokens) or tokens[j].lower not in MONTHS:
        return None
    month = MONTHS[tokens[j].lower]
    k = _skip(tokens, j + 1, {".", ",", "de", "del"})
    year = _year(tokens, k)
    return _mention((year, month, day), i, k, False) if year is not None else None


def _month_day_year(tokens: list[Token], i: int) -> DateMention | None:
    """March 12, 1985, Mar. 12th 1985."""
    j = _skip(tokens, i + 1, {"."})
    day = _day(tokens, j)
    if day is None:
        return None
    k = _skip(tokens, _skip_ordinal(tokens, j), {",", "of"})
    year = _year(tokens, k)
    return _mention((year, MONTHS[tokens[i].lower], day), i, k, False) if year is not None else None


def _day(tokens: list[Token], i: int) -> int | None:
    token = tokens[i] if i < len(tokens) else None
    if token is None or token.kind is not TokenKind.NUMBER or token.value is None:
        return None
    return int(token.value) if token.value == int(token.value) and 1 <= token.value <= 31 else None


def _year(tokens: list[Token], i: int) -> int | None:
    token = tokens[i] if i < len(tokens) else None
    if token is None or token.kind is not TokenKind.NUMBER or not re.fullmatch(r"\d{4}", token.text):
        return None
    return int(token.text) if MIN_YEAR <= int(token.text) <= MAX_YEAR else None


def _skip_ordinal(tokens: list[Token], i: int) -> int:
    """The index after the day and its glued ordinal suffix (12th, 1er, 3º), if any."""
    j = i + 1
    if j < len(tokens) and glued(tokens[i], tokens[j]) and tokens[j].lower in ORDINAL_SUFFIXES:
        return j + 1
    return j


def _skip(tokens: list[Token], i: int, words: set[str]) -> int:
    """The index after at most two filler tokens ("of", "de", a comma or a dot)."""
    for _ in range(2):
        if i < len(tokens) and tokens[i].lower in words:
            i += 1
    return i


def _mention(parts: tuple[int, int, int], first: int, last: int, ambiguous: bool) -> DateMention | None:
    year, month, day = parts
    try:
        return DateMention(date(year, month, day).isoformat(), first, last, ambiguous)
    except ValueError:
        return None

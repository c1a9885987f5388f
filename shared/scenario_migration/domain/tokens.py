"""A customer's message as tokens: words, numbers (read in any of the usual styles), e-mail
addresses, URLs, dates, times, phone-like digit runs, marks and clause breaks.

One left-to-right pass of one pattern whose every branch is linear: quantifiers are possessive
or bounded, and a branch that fails does so within a bounded number of characters (an e-mail's
local part is at most 64 characters, its domain at most 8 labels of 63), so the cost of a message
is linear in its length. Callers cap the length anyway (domain/extraction.py).

Numerals: "1,500", "1.500", "1 500" and "1'500" are 1500 (a lone separator followed by exactly
three digits groups thousands, in every style); "2,5" and "2.5" are 2.5; "1,234.56" and
"1.234,56" are 1234.56 (the last separator of another kind is the decimal mark); "1,50,000" is
150000 (Indian grouping). "0,500" is 0.5 (no group starts with 0). A numeral of more than
MAX_DIGITS digits, or a digit string starting with 0 of four digits or more, is an identifier.
"""

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

MAX_DIGITS = 15  # longer digit strings are identifiers (card, tracking, account numbers)

_SPACE = "[ \u00a0\u202f]"
# Between two digit groups of one run: a grouping mark followed by a digit, a space, or a dash,
# slash or parenthesis with optional spaces around it. Never empty, at most 4 characters.
_SEP = rf"(?:[.,:'\u2019](?=\d)|{_SPACE}?[-\u2013/()]{{1,2}}{_SPACE}?|{_SPACE})"
_TOKEN = re.compile(
    r"(?P<url>(?:https?://|www\.)[^\s<>\"]++)"
    r"|(?P<email>(?<![\w.%+\-])[\w.%+\-]{1,64}+@(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.){1,8}[^\W\d_]{2,63}"
    r"(?![\w\-]))"
    rf"|(?P<run>\+?\d++(?:{_SEP}\d++)*+)"
    r"|(?P<word>[^\W\d_][\w'\u2019]*+|[\w'\u2019]++)"
    r"|(?P<brk>[.;!?,\n]++)"
    r"|(?P<mark>\S)"
    r"|\s++"
)
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:([,.'\u2019 \u00a0\u202f])\d{3})(?:\1\d{3})*+")
_INDIAN = re.compile(r"[1-9]\d?(?:,\d{2})+,\d{3}")
_TIME = re.compile(r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?")
_DATE_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DATE_DMY = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})")
_NUMBER = re.compile(rf"[\d.,'\u2019]+|{_THOUSANDS.pattern}(?:[.,]\d+)?")
_RANGE = re.compile(r"\d++(?:[.,]\d++)?+ ?[-\u2013/] ?\d++(?:[.,]\d++)?+")


class TokenKind(StrEnum):
    WORD = "word"
    NUMBER = "number"
    MARK = "mark"  # a symbol: # $ € % : - ...
    BREAK = "break"  # . ; ! ? , newline: the end of a clause
    URL = "url"
    EMAIL = "email"
    DATE = "date"  # 1985-03-12, 12/03/1985, 12.03.1985
    TIME = "time"  # 10:30
    PHONE = "phone"  # +33 6 12 34 56 78, 555-123-4567, (020) 7946 0958
    RANGE = "range"  # 18-25, 5/10
    CODE = "code"  # digits that are no number: 1.2.3, 0612, 12345678901234567890


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # as written
    start: int
    end: int
    value: Decimal | None = None  # NUMBER only

    @property
    def lower(self) -> str:
        return plain(self.text)


def plain(text: str) -> str:
    """Lowercase, with the typographic apostrophe as a plain one ("I\u2019m" is "i'm")."""
    return text.lower().replace("\u2019", "'")


_SHAPES = (
    (lambda raw: bool(_DATE_YMD.fullmatch(raw) or _DATE_DMY.fullmatch(raw)), TokenKind.DATE),
    (lambda raw: bool(_TIME.fullmatch(raw)), TokenKind.TIME),
    (lambda raw: bool(_NUMBER.fullmatch(raw)), TokenKind.NUMBER),
)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is None:  # whitespace
            continue
        if kind == "run":
            tokens += _run_tokens(match.group(), match.start())
        else:
            tokens.append(Token(_KINDS[kind], match.group(), match.start(), match.end()))
    return tokens


_KINDS = {
    "url": TokenKind.URL,
    "email": TokenKind.EMAIL,
    "word": TokenKind.WORD,
    "brk": TokenKind.BREAK,
    "mark": TokenKind.MARK,
}


def asking(tokens: list[Token], askers: frozenset[str]) -> list[bool]:
    """For each token, whether its sentence is a question that asks rather than tells: it ends
    with "?" and starts with one of `askers` ("is the age limit 18?")."""
    flags = [False] * len(tokens)
    start = 0
    for i, token in enumerate([*tokens, None]):
        if token is None or (token.kind is TokenKind.BREAK and re.search(r"[.!?\n]", token.text)):
            question = token is not None and "?" in token.text
            if question and start < i and tokens[start].lower in askers:
                flags[start:i] = [True] * (i - start)
            start = i + 1
    return flags


def glued(left: Token, right: Token) -> bool:
    """Whether two tokens are written without a space between them (34yo, #123, 5%)."""
    return left.end == right.start


def read_numeral(raw: str) -> Decimal | None:
    """The value of one numeral in any usual grouping style (see the module docstring)."""
    if sum(c.isdigit() for c in raw) > MAX_DIGITS or (raw.isdigit() and len(raw) >= 4 and raw[0] == "0"):
        return None
    if raw.isdigit() or _THOUSANDS.fullmatch(raw) or _INDIAN.fullmatch(raw):
        return Decimal(re.sub(r"\D", "", raw))
    head, mark, tail = _split_decimal(raw)
    plain_head = head.isdigit() and not (len(head) > 1 and head[0] == "0")
    grouped = _THOUSANDS.fullmatch(head)
    if not tail.isdigit() or not (plain_head or (grouped is not None and grouped.group(1) != mark)):
        return None
    return Decimal(f"{re.sub(r'\D', '', head)}.{tail}")


def _split_decimal(raw: str) -> tuple[str, str, str]:
    """(integer part, decimal mark, decimals): the decimal mark is the last . or , of the numeral."""
    at = max(raw.rfind("."), raw.rfind(","))
    return (raw[:at], raw[at], raw[at + 1 :]) if at > 0 else (raw, "", "")


def _run_tokens(raw: str, start: int) -> list[Token]:
    """A run of digit groups, classified: one number, a date, a time, a phone, a range, or (when
    none of these) the space-separated pieces it is made of."""
    kind = _run_kind(raw)
    if kind is TokenKind.NUMBER:
        value = read_numeral(re.sub(_SPACE, " ", raw))
        kind = TokenKind.CODE if value is None else kind
        return [Token(kind, raw, start, start + len(raw), value)]
    if kind is not None:
        return [Token(kind, raw, start, start + len(raw))]
    tokens = []
    for part in re.finditer(rf"[^{_SPACE[1:-1]}]+", raw):
        tokens += _run_tokens(part.group(), start + part.start())
    return tokens


def _run_kind(raw: str) -> TokenKind | None:
    """The run's kind, or None when it is several pieces separated by spaces."""
    digits = sum(c.isdigit() for c in raw)
    kind = next((kind for matches, kind in _SHAPES if matches(raw)), None)
    if kind is not None:
        return kind
    spaced = re.search(_SPACE, raw) is not None
    if raw.startswith("+") or (7 <= digits <= MAX_DIGITS and not (spaced and _has_other_shapes(raw))):
        return TokenKind.PHONE if 7 <= digits <= MAX_DIGITS else TokenKind.CODE
    if spaced:
        return None
    return TokenKind.RANGE if _RANGE.fullmatch(raw) else TokenKind.CODE


def _has_other_shapes(raw: str) -> bool:
    """Whether a spaced run holds a date, a time or a fraction: then it is no phone number."""
    return any(re.search(r"[/:]", part) or _DATE_DMY.fullmatch(part) for part in re.split(_SPACE, raw))


def numeric_date(token: Token) -> tuple[int, int, int, bool] | None:
    """(year, month, day, day_month_ambiguous) of a DATE token; None if no such day exists."""
    if match := _DATE_YMD.fullmatch(token.text):
        return int(match[1]), int(match[2]), int(match[3]), False
    match = _DATE_DMY.fullmatch(token.text)
    if match is None:
        return None
    first, second, year = int(match[1]), int(match[3]), int(match[4])
    if first > 12 >= second or second > 12:  # 25/03/1985 is day-first, 03/25/1985 month-first
        day, month = (first, second) if first > 12 else (second, first)
        return year, month, day, False
    return year, second, first, first != second  # day-first, as most of the world writes it

"""Reading field values out of what customers wrote: typed answers, data, and conversation.

Three ways in, strictest last:
- `parse_answer`: the customer was asked the field's question, so the whole message is the
  answer; it is the value only if it holds exactly one value of the field's type, none attached to
  something else ("10 minutes" is not an age, "#12345" not a quantity);
- `RuleExtractor`: recent customer turns, newest first; a value with a `confidence` that says how
  it was written (below);
- `parse_value`: a profile or session value, or a model's answer (adapters/bedrock.py): already
  data, so coerced strictly by type (below), never searched.

Confidence, against the defaults (`extraction_confidence_threshold` 0.85: ignored below;
`confirmation_threshold` 0.95: used silently at or above, confirmed with the customer between):
- HINTED 0.97: next to one of the field's hints or words ("my age is 34", "34 years old",
  "I earn 2,500 a month", "my email is ...", "born on 12 March 1985"); an age unit counts as a
  hint for an age-like field ("34yo", "j'ai 34 ans");
- FORMAT 0.96: the one e-mail address of the turn, or one international phone number valid for
  its country, with nothing saying it is someone else's (a role address such as support@ never
  counts);
- CONFIRM 0.9: plausible but to be confirmed: "I'm 34" alone (a bare "I'm N" is an age only with
  an age context, which this lacks: "I'm 10 minutes away", "I'm 1 of your best customers" are
  not ages at all), an estimate ("about 2,500"), a unit related to the field ("€2,500" for an
  income), a national phone number, a day-first date that could be month-first, a hinted string
  ("my name is Ann"), a yes/no next to a boolean's hint; a firm value contradicted elsewhere;
- AMBIGUOUS 0.6: a bare value of the right type that nothing ties to the field.
Numbers attached to anything the field is not about are never values (domain/quantities.py);
tests/data/extraction_corpus.json measures all this (tests/unit/test_extraction_corpus.py).

Strict coercion (`parse_value`): integer fields take integers, integral floats (40.0 is 40) and
numeric strings ("40", "1,500"); number fields any finite number or numeric string; never a
boolean, a list, a mapping or a string with anything else in it ("born 1985"). Booleans take
True/False and "true"/"false"/"yes"/"no". Enums take one of their values, case aside. E-mail,
phone and date take a valid value of that format (a date as ISO 8601). String fields take
strings, and integers written out ("75001" from a postcode stored as a number); not floats,
whose text ("1e-07") is no one's answer.

Cost is bounded: at most MAX_TURNS turns of MAX_TURN_CHARS characters are read (an answer at most
MAX_ANSWER_CHARS), every pattern is linear in its input (domain/tokens.py), and the work done per
token is bounded (a fixed window of neighbours).

Parsers (measured on this 2-core machine, fresh interpreters, median of 7; domain/parsers.py
has the details, bench/extraction.py measures them again): `text2num` for number words in seven
languages (import ~6 ms) and `phonenumberslite` for phone validity and E.164 (~21 ms), each
imported on first use of a field of its type; this module alone costs ~9 ms. Left out:
`email-validator` (~28 ms and dnspython, for checks formats.py makes itself), `python-dateutil`
(~30 ms; fuzzy parsing fills missing date parts from today), `dateparser` (~56 ms + ~133 ms on
first parse; reads "in 10 minutes" as a date), `quantulum3` (~63 ms + ~1.8 s on first parse): units
are a small table here (domain/lexicon.py).
"""

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from scenario_migration.domain import lexicon as lx
from scenario_migration.domain.formats import dates_in, email_address, international, iso_date, phone_number
from scenario_migration.domain.lexicon import singular
from scenario_migration.domain.parsers import text2num
from scenario_migration.domain.quantities import FieldWords, Reading, Tie, field_words, readings
from scenario_migration.domain.scenario import FieldSpec, FieldType
from scenario_migration.domain.tokens import (
    MAX_DIGITS,
    Token,
    TokenKind,
    asking,
    plain,
    read_numeral,
    tokenize,
)
from scenario_migration.domain.values import storable_number

MAX_TURNS = 20  # the newest turns read (gap_fill.max_conversation_turns defaults to 20 too)
MAX_TURN_CHARS = 1000  # of each turn, at a word boundary: 20 kB read per field at most
MAX_ANSWER_CHARS = 1000  # of a direct answer
MAX_STRING_CHARS = 500  # a string value is cut there
AGE_BOUNDS = (0, 130)  # for an age-like field that declares no bounds of its own

HINTED = 0.97
FORMAT = 0.96
CONFIRM = 0.9
AMBIGUOUS = 0.6
SELF_DESCRIBED = CONFIRM  # "I'm 34": an age only with an age context, so confirmed
_HINT_REACH = 4  # tokens between a hint and a formatted value ("my email address is: ...")


@dataclass(frozen=True)
class Extracted:
    value: Any
    confidence: float


class Extractor(Protocol):
    def extract(self, spec: FieldSpec, turns: list[str]) -> Extracted | None:
        """The most recent confident value of the field in the customer's turns (newest last)."""
        ...


# -- a direct answer ---------------------------------------------------------------------------------


def parse_answer(spec: FieldSpec, text: str) -> Any | None:
    """The value of a direct answer to the field's question; None if it does not hold exactly one."""
    text = capped(text or "", MAX_ANSWER_CHARS).strip()
    if not text:
        return None
    if spec.type is FieldType.STRING:
        return text[:MAX_STRING_CHARS]
    if spec.type is FieldType.BOOLEAN:
        return yes_or_no(text)
    found = _candidates(spec, text, answering=True)
    values = {candidate.value for candidate in found}
    if len(values) != 1 or any(candidate.someone_else for candidate in found):
        return None  # none, several, or someone else's ("my son is 12")
    return values.pop()


# -- data: profile, session variables, a model's answer ---------------------------------------------


def parse_value(spec: FieldSpec, value: Any) -> Any | None:
    """A value that is already data, coerced strictly by the field's type (module docstring)."""
    if isinstance(value, bool):
        return value if spec.type is FieldType.BOOLEAN else None
    if spec.type in (FieldType.INTEGER, FieldType.NUMBER):
        return _number_value(spec, value)
    if spec.type is FieldType.DATE:
        return iso_date(value)
    if isinstance(value, int) and spec.type is FieldType.STRING:
        return str(value)
    return _text_value(spec, value.strip()) if isinstance(value, str) else None


def _number_value(spec: FieldSpec, value: Any) -> int | float | None:
    if isinstance(value, str):
        text = value.strip()
        sign = -1 if text.startswith("-") else 1
        number = read_numeral(text.lstrip("+-")) if re.fullmatch(r"[+-]?\d[\d.,' ]*", text) else None
        return _typed(spec, sign * number) if number is not None else None
    if isinstance(value, int | float | Decimal):
        return _typed(spec, Decimal(value)) if _finite(value) else None
    return None


def _finite(value: int | float | Decimal) -> bool:
    return isinstance(value, int) or Decimal(value).is_finite()


def _text_value(spec: FieldSpec, text: str) -> Any | None:
    if spec.type is FieldType.STRING:
        return text[:MAX_STRING_CHARS] or None
    if spec.type is FieldType.BOOLEAN:
        return _BOOLEAN_DATA.get(text.lower())
    if spec.type is FieldType.ENUM:
        return next((v for v in spec.values or [] if v.lower() == text.lower()), None)
    if spec.type is FieldType.EMAIL:
        return email_address(text)
    return phone_number(text)


_BOOLEAN_DATA = {"true": True, "yes": True, "false": False, "no": False}


def _typed(spec: FieldSpec, number: Decimal) -> int | float | None:
    """The number as the field's type holds it, within its bounds: an int for an integer field,
    always a float for a number field (CEL does not mix them: `amount * 1.1` fails on an int)."""
    if spec.type is FieldType.INTEGER and number != number.to_integral_value():
        return None
    value: int | float = int(number) if spec.type is FieldType.INTEGER else float(number)
    low, high = _bounds(spec)
    if not storable_number(value) or (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


def _bounds(spec: FieldSpec) -> tuple[float | None, float | None]:
    if spec.minimum is None and spec.maximum is None and field_words(spec).age_like:
        return AGE_BOUNDS
    return spec.minimum, spec.maximum


# -- yes or no ---------------------------------------------------------------------------------------

_PHRASES = {
    verdict: re.compile(rf"\b(?:{'|'.join(map(re.escape, phrases))})\b")
    for verdict, phrases in ((False, lx.NO_PHRASES), (None, lx.UNSURE_PHRASES), (True, lx.YES_PHRASES))
}
_YES_NO_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def yes_or_no(text: str | None) -> bool | None:
    """True for a yes, False for a no, None for neither or both: "yes please", "nope, wrong",
    "no, I'm 43" (a no, and an answer: see parse_answer), "oui", "nein", "not right", "no idea"."""
    lowered = plain(capped(text or "", MAX_ANSWER_CHARS)).strip()
    if lowered in ("y", "n"):
        return lowered == "y"
    for verdict, pattern in _PHRASES.items():
        if pattern.search(lowered):
            return verdict
    words = _YES_NO_WORD.findall(lowered)
    yes = no = False
    for before, word in zip(["", *words], words, strict=False):
        negated = before in lx.NEGATIONS or before.endswith("n't")
        yes, no = yes or (word in lx.YES and not negated), no or word in lx.NO or (word in lx.YES and negated)
    return yes if yes != no else None


# -- conversation ------------------------------------------------------------------------------------


def capped(text: str, limit: int) -> str:
    """At most `limit` characters of the text, cut at a word boundary (a cut word could read as
    another value: "I'm 34 years" cut to "I'm 3")."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    return head[: max(head.rfind(" "), head.rfind("\n"), 0)]


def bounded(turns: list[str]) -> list[str]:
    """The newest MAX_TURNS turns, each capped at MAX_TURN_CHARS, oldest first."""
    return [capped(turn, MAX_TURN_CHARS) for turn in turns[-MAX_TURNS:] if isinstance(turn, str)]


class RuleExtractor:
    """Deterministic extraction driven by field types, words and `extraction_hints`."""

    def extract(self, spec: FieldSpec, turns: list[str]) -> Extracted | None:
        found = [e for turn in reversed(bounded(turns)) if (e := self.in_turn(spec, turn)) is not None]
        if not found:
            return None
        best = max(found, key=lambda e: e.confidence)  # the newest of the firmest
        newer = found[: found.index(best)]
        if any(e.value != best.value for e in newer):  # they said something else since
            return Extracted(best.value, min(best.confidence, CONFIRM))
        return best

    def in_turn(self, spec: FieldSpec, turn: str) -> Extracted | None:
        """The field's value in one turn, if the turn states one."""
        if not turn.strip():
            return None
        if spec.type is FieldType.STRING:
            return _hinted_string(spec, turn)
        if spec.type is FieldType.BOOLEAN:
            return _hinted_yes_no(spec, turn)
        return _resolve(_candidates(spec, turn, answering=False))


@dataclass(frozen=True)
class _Candidate:
    value: Any
    confidence: float
    position: int  # index of its (first) token
    someone_else: bool = False  # "my son is 12": never the value, and it makes an answer ambiguous


def _resolve(candidates: list[_Candidate]) -> Extracted | None:
    """The firmest value of a turn; none when two values are equally firm, and a firm value
    contradicted by a weaker one is only confirmed."""
    if not candidates:
        return None
    top = max(c.confidence for c in candidates)
    values = {c.value for c in candidates if c.confidence == top}
    if len(values) > 1:
        return None
    value = values.pop()
    if any(c.value != value for c in candidates):
        top = CONFIRM if top > CONFIRM else AMBIGUOUS
    return Extracted(value, top)


def _candidates(spec: FieldSpec, text: str, answering: bool) -> list[_Candidate]:
    """Every value of the field's type in the text, except values in a question that asks ("is
    the age limit 18?"), which states nothing; in a conversation, someone else's are left out."""
    numeric = spec.type in (FieldType.INTEGER, FieldType.NUMBER)
    tokens = tokenize(spelled(text, answering) if numeric else text)
    found = _READERS[spec.type](spec, tokens, answering)
    asked = asking(tokens, lx.ASKING)
    return [c for c in found if not asked[c.position] and (answering or not c.someone_else)]


# -- numbers -----------------------------------------------------------------------------------------


def _numbers(spec: FieldSpec, tokens: list[Token], answering: bool) -> list[_Candidate]:
    found = []
    for reading in readings(tokens, field_words(spec), answering):
        value = _typed(spec, reading.value)
        if value is not None:
            confidence = _number_confidence(reading)
            found.append(_Candidate(value, confidence, reading.position, reading.someone_else))
    return found


def _number_confidence(reading: Reading) -> float:
    if reading.tie is Tie.HINTED:
        return CONFIRM if reading.approximate else HINTED
    return AMBIGUOUS if reading.tie is Tie.BARE else CONFIRM


def spelled(text: str, answering: bool) -> str:
    """The text with number words as digits ("thirty-four" → 34), in the language its function
    words suggest (English when unsure). In a conversation a lone "one" or "two" stays a word
    ("I'm one of your best customers"); in an answer it is the number."""
    if not any(c.isalpha() for c in text):
        return text
    text = _SCALED.sub(r"\1", text)  # "5 hundred" stays 5 and a scale, not "5 100" (read as 5100)
    language = _language(text)
    if language is None and answering:  # "dix-sept": the language that reads the most of it
        return _best_reading(text)
    return text2num().alpha2digit(text, language or "en", threshold=0)


_SCALED = re.compile(rf"(?<=\d)[ \u00a0]++({'|'.join(sorted(lx.SCALES, key=len, reverse=True))})\b", re.I)


def _best_reading(text: str) -> str:
    """The text as read by the language that leaves the fewest letters unread, if only one does."""
    readings = {text2num().alpha2digit(text, lang, threshold=0) for lang in lx.LANGUAGE_MARKERS}
    unread = {reading: sum(c.isalpha() for c in reading) for reading in readings}
    fewest = min(unread.values())
    best = [reading for reading, letters in unread.items() if letters == fewest]
    return best[0] if len(best) == 1 else text


def _language(text: str) -> str | None:
    """The language whose function words the text uses most (English first among equals);
    None when it uses none."""
    words = set(_YES_NO_WORD.findall(plain(text)))
    scores = {lang: len(words & markers) for lang, markers in lx.LANGUAGE_MARKERS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] else None


# -- e-mail, phone, date -----------------------------------------------------------------------------


def _emails(spec: FieldSpec, tokens: list[Token], answering: bool) -> list[_Candidate]:
    found = []
    for i, token in enumerate(tokens):
        address = email_address(token.text) if token.kind is TokenKind.EMAIL else None
        if address is None or (not answering and address.split("@")[0] in lx.ROLE_MAILBOXES):
            continue
        found.append(_Candidate(address, _owned(spec, tokens, i, lx.EMAIL_WORDS, FORMAT), i))
    return found


def _phones(spec: FieldSpec, tokens: list[Token], _: bool) -> list[_Candidate]:
    found = []
    for i, token in enumerate(tokens):
        number = phone_number(token.text) if _phone_like(token) else None
        if number is None or _near(tokens, i, lx.REFERENCES, 3):
            continue
        grouped = token.kind is TokenKind.PHONE
        fallback = FORMAT if international(number) else CONFIRM if grouped else AMBIGUOUS
        found.append(_Candidate(number, _owned(spec, tokens, i, lx.PHONE_WORDS, fallback), i))
    return found


def _phone_like(token: Token) -> bool:
    """A phone-like run, or a number of 7 to 15 digits (0612345678, 612 345 678)."""
    digits = sum(c.isdigit() for c in token.text)
    written = re.fullmatch(r"\d[\d \u00a0\u202f]*", token.text) is not None
    number = token.kind in (TokenKind.NUMBER, TokenKind.CODE) and written and 7 <= digits <= MAX_DIGITS
    return token.kind is TokenKind.PHONE or number


def _dates(spec: FieldSpec, tokens: list[Token], _: bool) -> list[_Candidate]:
    words = field_words(spec).words
    cues = lx.BIRTH_WORDS if words & lx.BIRTH_WORDS else frozenset()
    found = []
    for mention in dates_in(tokens):
        if _near(tokens, mention.first, lx.DATE_BOUNDS, 2):  # after 3 June: a bound
            continue
        confidence = _owned(spec, tokens, mention.first, cues, AMBIGUOUS)
        confidence = min(confidence, CONFIRM) if mention.ambiguous else confidence
        found.append(_Candidate(mention.value, confidence, mention.first))
    return found


def _owned(spec: FieldSpec, tokens: list[Token], i: int, cues: frozenset[str], fallback: float) -> float:
    """A formatted value's confidence: HINTED after one of the field's words or cues, AMBIGUOUS
    when the words before it make it someone else's ("your hotline", "my wife's address")."""
    field = field_words(spec)
    if _near(tokens, i, lx.NOT_THEIRS, _HINT_REACH) or _the_thing_is(tokens, i, field):
        return AMBIGUOUS
    if _near(tokens, i, field.hint_words | cues, _HINT_REACH) or _hint_phrase_before(tokens, i, field):
        return HINTED
    return fallback


def _the_thing_is(tokens: list[Token], i: int, field: FieldWords) -> bool:
    """ "the sender was promo@...", "the invoice date is 12/03/2024": the value of a thing the
    field is not about (a word between "the" and "is" that is none of the field's)."""
    j = i - 1 if i > 0 and tokens[i - 1].lower in _IS else i
    named = [t.lower for t in tokens[max(0, j - 3) : j]]
    if j == i or "the" not in named:
        return False
    nouns = named[named.index("the") + 1 :]
    return not set(nouns) & lx.CURRENT and any(singular(word) not in field.hint_words for word in nouns)


_IS = lx.words("is was are were : =")


def _near(tokens: list[Token], i: int, words: frozenset[str], reach: int) -> bool:
    """Whether one of the words is among the `reach` tokens before token i, in its clause."""
    for token in reversed(tokens[max(0, i - reach) : i]):
        if token.kind is TokenKind.BREAK:
            return False
        if singular(token.lower.removesuffix("'s")) in words:
            return True
    return False


def _hint_phrase_before(tokens: list[Token], i: int, field: FieldWords) -> bool:
    window = " ".join(t.lower for t in tokens[max(0, i - _HINT_REACH - 2) : i])
    return any(len(hint) > 1 and " ".join(hint) in window for hint in field.hints)


# -- enum, boolean, string ---------------------------------------------------------------------------


def _enum_values(spec: FieldSpec, tokens: list[Token], _: bool) -> list[_Candidate]:
    words = [t.lower for t in tokens]
    phrases = {value: [t.lower for t in tokenize(value)] for value in spec.values or []}
    hints = field_words(spec).hint_words - {singular(w) for phrase in phrases.values() for w in phrase}
    found = []
    for value, phrase in phrases.items():
        for i in range(len(words) - len(phrase) + 1):
            if not phrase or words[i : i + len(phrase)] != phrase or _negated(tokens, i):
                continue
            around = {
                singular(w) for w in words[max(0, i - 3) : i] + words[i + len(phrase) : i + len(phrase) + 2]
            }
            confidence = HINTED if around & hints else CONFIRM if around & lx.CHOICES else AMBIGUOUS
            found.append(_Candidate(value, confidence, i))
    if len({c.value for c in found}) > 1:  # "I'm on bronze, I want silver": which one?
        return [_Candidate(c.value, AMBIGUOUS, c.position) for c in found]
    return found


def _negated(tokens: list[Token], i: int) -> bool:
    """Whether a negation comes before token i in its clause ("I don't want the gold plan")."""
    for token in reversed(tokens[max(0, i - _HINT_REACH) : i]):
        if token.kind is TokenKind.BREAK:
            return False
        if token.lower in lx.NEGATIONS or token.lower.endswith("n't"):
            return True
    return False


_READERS = {
    FieldType.INTEGER: _numbers,
    FieldType.NUMBER: _numbers,
    FieldType.EMAIL: _emails,
    FieldType.PHONE: _phones,
    FieldType.DATE: _dates,
    FieldType.ENUM: _enum_values,
}


def _hinted_yes_no(spec: FieldSpec, turn: str) -> Extracted | None:
    """A yes or a no in a turn that names the field: confirmed, since a turn's yes may answer
    anything else."""
    field = field_words(spec)
    words = {t.lower for t in tokenize(turn)}
    if not any(all(word in words for word in hint) for hint in field.hints):
        return None
    verdict = yes_or_no(turn)
    return Extracted(verdict, CONFIRM) if verdict is not None else None


def _hinted_string(spec: FieldSpec, turn: str) -> Extracted | None:
    """ "my name is Ann Smith", "my name's Ann", "city: Lyon", "I live in Lyon": the words after
    a hint (and a connector, unless the hint ends with one), to the end of the clause (six at
    most), as written. Confirmed: free text has no type to check."""
    tokens = tokenize(turn)
    words = [t.lower for t in tokens]
    for hint in field_words(spec).hints:
        for i in range(len(tokens) - len(hint) + 1):
            end = _after_string_hint(words, i, hint)
            value = _string_at(turn, tokens, end) if end is not None else None
            if value:
                return Extracted(value, CONFIRM)
    return None


def _after_string_hint(words: list[str], i: int, hint: tuple[str, ...]) -> int | None:
    """Where the value starts if the hint is at word i and is followed by what introduces one."""
    end = i + len(hint)
    *head, last = hint
    if words[i : end - 1] != head:
        return None
    if words[end - 1] == f"{last}'s" or (words[end - 1] == last and last in _STRING_LEADS):
        return end  # my name's Ann, I live in Lyon
    if words[end - 1] == last and end < len(words) and words[end] in _STRING_CONNECTORS:
        return end + 1
    return None


_STRING_CONNECTORS = lx.words("is : = est ist es è é")
_STRING_LEADS = lx.words("called named in at from")  # a hint that ends with one needs no "is"


def _string_at(turn: str, tokens: list[Token], i: int) -> str | None:
    """The words from token i to the end of the clause (six at most), as written; none when it
    starts with an article or a negation: a description ("a small flat"), not a name."""
    words: list[Token] = []
    for token in tokens[i : i + 6]:
        title = token.text == "." and words and words[-1].lower in lx.TITLES  # Dr. Ana Costa
        if (token.kind is TokenKind.BREAK and not title) or token.lower in lx.NEGATIONS:
            break
        words.append(token)
    if not words or words[0].lower in lx.NOT_A_NAME or words[0].lower in lx.NEGATIONS:
        return None
    return turn[words[0].start : words[-1].end][:MAX_STRING_CHARS]

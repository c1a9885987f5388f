"""Which numbers in a customer's text can be the value of one numeric field, and how firmly.

A number is read with what it is attached to: the word or symbol right after it (its unit:
"10 minutes", "34yo", "5 %", "2 kids", "1 of"), and the one right before it (its label: "#12345",
"order 12345", "€2,500", "born in 1985", "room 34"). A number attached to something the field is
not about is **foreign**: never the field's value, whatever else the text says. That is the whole
defence against invented values, and it errs on the side of caution: any word after a number
that is not small talk ("and", "now", "thanks", see lexicon.FREE_AFTER) attaches the number to
it. What a field is about comes from its name, label, hints and question (`FieldWords`).

Also foreign: a number named as another measure ("my rent is 900" for an income), in another
unit than the one the field names ("165 lbs" for a weight in kg, "a year" for a monthly income),
or counting something else ("2 kg of coffee", "2 kids bikes"). Numbers after a negation ("not
18"), a bound ("over 18", "almost 40", "18+") or a change ("I lost 5 kg") are not values at all.

The others, from firmest to weakest (`Tie`): next to one of the field's hints or their synonyms
("my age is 34", "34 years old", "I earn 2,500", "mein Gehalt ist 3.200"), or an age unit for an
age-like field; a unit or label related to the field ("80 kg" for a weight); "I'm 34" for an
age-like field; a bare number (a bare amount of money too: it is usually a price). One of several
numbers in a list ("3 and 5", "4, 6 and 9") is bare whatever its neighbours, and takes the unit
of the last ("3 and 5 years old"). `someone_else` marks a number about someone or something else
("my son is 5", "my old salary", "the parcel weighs"), which extraction leaves out.
"""

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from scenario_migration.domain import lexicon as lx
from scenario_migration.domain.lexicon import Kind, singular
from scenario_migration.domain.scenario import FieldSpec
from scenario_migration.domain.tokens import Token, TokenKind, glued, plain

_WINDOW = 5  # tokens looked back for someone else's statement ("my son is 5")
_MAX_CONNECTORS = 3  # tokens allowed between a hint and its value ("age: is 34")
_MAX_LISTED = 5  # numbers followed along a list for their shared unit ("4, 6 and 9 years old")
_CURRENCY_MARKS = frozenset("€$£¥₹")
_CLAUSE_JOINTS = lx.words("and but while whereas et mais und aber y pero e ma en maar")
_SOMEONE_ELSE_STOPS = {TokenKind.BREAK, TokenKind.NUMBER}


class Tie(IntEnum):
    """How a number is tied to the field, weakest first."""

    FOREIGN = 0  # attached to something the field is not about
    BARE = 1
    SELF = 2  # "I'm 34", for an age-like field
    UNIT = 3  # a unit or label related to the field: "€2,500" for an income
    HINTED = 4  # next to one of the field's hints, or an age unit for an age-like field


@dataclass(frozen=True)
class Attachment:
    """What a number is attached to: a unit after it or a label before it."""

    kind: Kind
    word: str


@dataclass(frozen=True)
class Reading:
    value: Decimal
    tie: Tie
    approximate: bool  # "about 34", "~2,500"
    someone_else: bool  # "my son is 5", "my old salary was", "the parcel weighs"
    position: int  # index of its token


@dataclass(frozen=True)
class FieldWords:
    """What a field is about, in words: for relating units and labels to it, and its hints."""

    words: frozenset[str]  # singular, lowercase: name, label, hints, question (less noise)
    hints: tuple[tuple[str, ...], ...]  # phrases that introduce or follow its value
    kinds: frozenset[Kind]

    @property
    def age_like(self) -> bool:
        return Kind.AGE in self.kinds

    @property
    def hint_words(self) -> frozenset[str]:
        """The words of its hints and name alone (its question says more, and less precisely)."""
        return frozenset(singular(word) for hint in self.hints for word in hint)


def field_words(spec: FieldSpec) -> FieldWords:
    """What the field is about: its words, its hints (with the synonyms of its measure, in every
    language: "Gehalt" for an income) and the kinds of units related to it."""
    name = spec.name.replace("_", " ").lower().split()
    phrases = [plain(hint).split() for hint in spec.extraction_hints]
    phrases += [[word] for word in name if word not in lx.QUESTION_NOISE | lx.NAME_NOISE]
    phrases += [(spec.display_name or "").lower().split()]
    question = [w.strip("?.,:;!()").lower() for w in (spec.question or "").split()]
    everything = {w for phrase in phrases for w in phrase} | set(question) | set(name)
    words = frozenset(singular(w) for w in everything if w and w not in lx.QUESTION_NOISE)
    if words & lx.AGE_WORDS or any(" ".join(p) in ("years old", "how old") for p in phrases):
        words = (words - lx.AGE_YEARS - lx.OLD) | {"age"}  # "for 5 years" stays a duration
    measures = [(kind, group) for kind, group in lx.MEASURES if words & {singular(w) for w in group}]
    kinds = {kind for kind, _ in measures} | (
        {Kind.RATE} if any(k is Kind.MONEY for k, _ in measures) else set()
    )
    synonyms = frozenset(word for _, group in measures for word in group) - lx.OLD
    hints = [tuple(p) for p in phrases if p] + [(word,) for word in sorted(synonyms)]
    return FieldWords(words | synonyms, tuple(dict.fromkeys(hints)), frozenset(kinds))


def readings(tokens: list[Token], field: FieldWords, answering: bool) -> list[Reading]:
    """Every number of the tokens that may be the field's value (foreign ones left out), in order.
    `answering`: the text answers the field's question, which is context enough for a bare
    number ("34") and for "34 years" to be an age."""
    found = []
    for i, token in enumerate(tokens):
        if token.kind is TokenKind.NUMBER and token.value is not None:
            reading = _Site(tokens, i, field, answering).reading()
            if reading is not None and reading.tie is not Tie.FOREIGN:
                found.append(reading)
    return found


@dataclass(frozen=True)
class _Site:
    """One number of the text (token i), read with its neighbours."""

    tokens: list[Token]
    i: int
    field: FieldWords
    answering: bool

    def reading(self) -> Reading | None:
        value = self.tokens[self.i].value
        before = _Before.read(self.tokens, self.i, self.field, self.answering)
        bound_after = self.i + 1 < len(self.tokens) and self.tokens[self.i + 1].text == "+"  # 18+
        if value is None or before.negated or before.bound or bound_after:
            return None
        after = _after(self.tokens, self.i)
        listed = _listed(self.tokens, self.i)
        if listed is not None and after.unit is None:  # "3 and 5 years old": 3 is in years too
            after.unit = _after(self.tokens, listed).unit
        value = value * after.scale + (Decimal("0.5") if after.half else 0)
        value = -value if before.minus else value
        unit = self.age_or_duration(after, before)
        label = _label(self.tokens, self.i, value)
        if label is not None and label.kind is Kind.REFERENCE and unit is not None:
            label = None  # "order 3 boxes": a verb; an identifier has no unit ("order 12345 is late")
        attachments = [a for a in (label, unit, after.rate) if a is not None]
        tie = self.tie(before, attachments, after.end)
        if tie > Tie.BARE and (listed is not None or _listed_after(self.tokens, self.i)):
            tie = Tie.BARE  # one of several numbers ("4, 6 and 9"): no single value
        return Reading(value, tie, before.approximate, before.someone_else, self.i)

    def tie(self, before: "_Before", attachments: list[Attachment], end: int) -> Tie:
        unit = next((a for a in attachments if a.kind is Kind.NOUN), None)
        if not all(_related(a, self.field) for a in attachments) or self.quantity_of_another(end, unit):
            return Tie.FOREIGN
        if _named_otherwise(self.tokens, self.i, self.field):
            return Tie.FOREIGN
        if self.hinted(end):
            return Tie.HINTED
        if any(a.kind is Kind.AGE for a in attachments):
            return Tie.HINTED
        if attachments and {a.kind for a in attachments} != {Kind.MONEY}:  # a bare amount is a price
            return Tie.UNIT
        return Tie.SELF if before.self_cue and self.field.age_like else Tie.BARE

    def hinted(self, end: int) -> bool:
        """Whether one of the field's hints sits right before the number, or right after it or
        its unit."""
        tokens, field = self.tokens, self.field
        after = _hinted_after(tokens, self.i + 1, field) or _hinted_after(tokens, end, field)
        return after or _hinted_before(tokens, self.i, field)

    def quantity_of_another(self, end: int, unit: Attachment | None) -> bool:
        """Whether the number and its unit count something the field is not about: "2 kg of
        coffee", "2 kids bikes" (a plural noun right after the unit makes the unit a modifier)."""
        if end == self.i + 1:
            return False
        of = self.word(end) in lx.OF
        head = self.word(end + 1) if of else self.word(end)
        plural = len(head) > 3 and head.endswith("s") and not head.endswith("ss")
        if not head or head in lx.FREE_AFTER or head in lx.CONNECTORS or head in lx.UNITS[Kind.TIME]:
            return False
        if of and unit is not None and _matches(unit.word, self.field.words):  # 12 boxes of wine
            return False
        return (of or plural) and not _matches(head, self.field.words)

    def age_or_duration(self, after: "_After", before: "_Before") -> Attachment | None:
        """ "34 years" is an age as a statement about oneself, before "old", or answering an age
        question; otherwise "years" is a duration ("for 5 years", "depuis 5 ans")."""
        unit = after.unit
        if unit is None or unit.kind is not Kind.AGE or unit.word not in lx.AGE_YEARS:
            return unit
        answer = self.answering and self.field.age_like and self.word(self.i - 1) not in lx.DURATION_LEADS
        dash = after.end < len(self.tokens) and self.tokens[after.end].text == "-"
        end = after.end + 1 if dash else after.end
        if self.word(end) in lx.OLD or before.self_cue or answer:  # 34 years old, 45-year-old
            return unit
        return Attachment(Kind.DURATION, unit.word)

    def word(self, j: int) -> str:
        return _word(self.tokens, j)


def _related(attachment: Attachment, field: FieldWords) -> bool:
    """Whether the field is about what the number is attached to: its kind ("€" for an income)
    or the very word ("2 kids" for a field whose hints say "kids"). A rate is related to an
    amount unless the field names another period ("a year" for a monthly income)."""
    if attachment.kind is Kind.RATE:
        periods = {_period(w) for w in field.words} - {None}
        other_period = attachment.word in lx.PERIOD_OF.values() and periods and attachment.word not in periods
        return Kind.RATE in field.kinds and not other_period
    if attachment.kind is Kind.REFERENCE:  # "box 12" names a box; only an identifier field wants it
        return bool(field.words & lx.IDENTIFIERS) and _matches(attachment.word, field.words)
    if _other_unit(attachment.word, field):
        return False
    return attachment.kind in field.kinds or _matches(attachment.word, field.words)


def _other_unit(word: str, field: FieldWords) -> bool:
    """Whether the field names a unit of the same kind and this is another: "165 lbs" for a
    weight in kg, "$1,200" for a budget in euros."""
    kind = next((k for k in _MEASURED if word in lx.UNITS[k]), None)
    if kind is None:
        return False
    named = {lx.SAME_UNIT.get(w, w) for w in field.words if w in lx.UNITS[kind]}
    return bool(named) and lx.SAME_UNIT.get(word, word) not in named


_MEASURED = (Kind.MONEY, Kind.WEIGHT, Kind.LENGTH)  # kinds whose units a field may name


def _matches(word: str, vocabulary: frozenset[str]) -> bool:
    return singular(word) in vocabulary or any(_same_word(word, known) for known in vocabulary)


def _same_word(word: str, hint: str) -> bool:
    """ "earned" is "earn", "kids" is "kid", "weighs" is "weigh"; "agent" is not "age"."""
    if word == hint or singular(word) == singular(hint):
        return True
    return len(hint) >= 4 and word.startswith(hint) and len(word) - len(hint) <= 3


# -- before the number -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Before:
    negated: bool = False
    bound: bool = False
    approximate: bool = False
    minus: bool = False
    self_cue: bool = False
    someone_else: bool = False

    @classmethod
    def read(cls, tokens: list[Token], i: int, field: FieldWords, answering: bool) -> "_Before":
        words = _words_before(tokens, i, 2)
        first = next((w for w in words if w not in lx.APPROXIMATE and w != "even"), "")
        previous = tokens[i - 1] if i > 0 else None
        return cls(
            negated=first in lx.NOT,
            bound=any(w in lx.BOUNDS or w in lx.DELTAS for w in words),
            approximate=any(w in lx.APPROXIMATE for w in words),
            minus=previous is not None and previous.text == "-" and glued(previous, tokens[i]),
            self_cue=_self_cue(tokens, i),
            someone_else=_someone_else(tokens, i, field, answering),
        )


def _words_before(tokens: list[Token], i: int, count: int) -> list[str]:
    """The lowercase words or marks right before token i, nearest first, within its clause."""
    found = []
    for j in range(i - 1, max(-1, i - 1 - count), -1):
        if tokens[j].kind not in (TokenKind.WORD, TokenKind.MARK):
            break
        found.append(tokens[j].lower)
    return found


def _self_cue(tokens: list[Token], i: int) -> bool:
    words = [w for w in _words_before(tokens, i, 3) if w not in lx.APPROXIMATE]
    if not words:
        return False
    return words[0] in lx.SELF or (len(words) > 1 and (words[1], words[0]) in lx.SELF_PAIRS)


def _someone_else(tokens: list[Token], i: int, field: FieldWords, answering: bool) -> bool:
    """Whether the clause before the number is about someone or something else ("my son is 5",
    "my old salary was", "the parcel weighs"); the field's own words do not count ("kids: 2"),
    nor, answering the field's question, "it" ("it's 43": the thing asked about)."""
    things = frozenset() if answering else lx.THINGS
    for j in range(i - 1, max(-1, i - 1 - _WINDOW), -1):
        if tokens[j].kind in _SOMEONE_ELSE_STOPS or tokens[j].lower in _CLAUSE_JOINTS:
            return False
        word = tokens[j].lower.removesuffix("'s")
        if (word in lx.NOT_CURRENT or word in things) and not _matches(word, field.words):
            return True
    return False


def _label(tokens: list[Token], i: int, value: Decimal) -> Attachment | None:
    """What the token right before the number makes of it: an identifier, an amount, a year..."""
    previous = tokens[i - 1] if i > 0 else None
    if previous is None or previous.kind not in (TokenKind.WORD, TokenKind.MARK):
        return None
    word = previous.lower
    if previous.kind is TokenKind.MARK:
        kind = _MARK_LABELS.get(word)
        numero = word in "°º" and i > 1 and tokens[i - 2].lower == "n"  # n° 5
        kind = Kind.REFERENCE if numero else kind
    else:
        year = word in lx.YEAR_LEADS and value == int(value) and 1000 <= value <= 2999
        kind = Kind.YEAR if year else next((k for words, k in _WORD_LABELS if word in words), None)
    return Attachment(kind, word) if kind is not None else None


_MARK_LABELS = {"#": Kind.REFERENCE, **dict.fromkeys(_CURRENCY_MARKS, Kind.MONEY)}
_WORD_LABELS = (
    (lx.REFERENCES, Kind.REFERENCE),
    (lx.UNITS[Kind.MONEY], Kind.MONEY),
    (frozenset(lx.MONTHS), Kind.DATE),
    (lx.AGE_VERBS, Kind.AGE),
)


def _named_otherwise(tokens: list[Token], i: int, field: FieldWords) -> bool:
    """Whether the words before the number name another measure: "my rent is 900" for an
    income, "the price is 1,299" for a budget, "my weight is 80" for an age."""
    j = i - 1
    for _ in range(_MAX_CONNECTORS + 1):
        if j < 0 or tokens[j].kind not in (TokenKind.WORD, TokenKind.MARK):
            return False
        word = tokens[j].lower
        if any(word in group for _, group in lx.MEASURES):
            return not _matches(word, field.words)
        if word not in lx.CONNECTORS and word not in lx.APPROXIMATE:
            return False
        j -= 1
    return False


def _hinted_before(tokens: list[Token], i: int, field: FieldWords) -> bool:
    """A hint, then at most a few connectors, then the number: "my age is 34", "age: 34"."""
    j = i - 1
    for _ in range(_MAX_CONNECTORS + 1):
        if j < 0 or tokens[j].kind not in (TokenKind.WORD, TokenKind.MARK):
            return False
        if any(_phrase_ends_at(tokens, j, hint) for hint in field.hints):
            return True
        if tokens[j].lower not in lx.CONNECTORS and tokens[j].lower not in lx.APPROXIMATE:
            return False
        j -= 1
    return False


def _hinted_after(tokens: list[Token], j: int, field: FieldWords) -> bool:
    """The number, at most two connectors, then a hint: "34 years old", "2 kids", "34 is my age"."""
    for _ in range(3):
        if j >= len(tokens) or tokens[j].kind not in (TokenKind.WORD, TokenKind.MARK):
            return False
        if any(_phrase_starts_at(tokens, j, hint) for hint in field.hints):
            return True
        if tokens[j].lower not in lx.CONNECTORS:
            return False
        j += 1
    return False


def _phrase_ends_at(tokens: list[Token], j: int, phrase: tuple[str, ...]) -> bool:
    return _phrase_starts_at(tokens, j - len(phrase) + 1, phrase)


def _phrase_starts_at(tokens: list[Token], j: int, phrase: tuple[str, ...]) -> bool:
    if j < 0 or j + len(phrase) > len(tokens):
        return False
    return all(_same_word(tokens[j + k].lower, word) for k, word in enumerate(phrase))


# -- after the number --------------------------------------------------------------------------------


@dataclass
class _After:
    """What follows a number: a scale (1.5k), a half (2 and a half), its unit, where it ends."""

    scale: int = 1
    half: bool = False
    unit: Attachment | None = None
    rate: Attachment | None = None  # after an amount's currency: "€ per month"
    end: int = 0  # index of the first token after the number and its unit


def _after(tokens: list[Token], i: int) -> _After:
    after = _After(end=i + 1)
    j = i + 1
    if _word(tokens, j) in lx.SCALES:
        after.scale, j = lx.SCALES[_word(tokens, j)], j + 1
        after.end = j
    if [_word(tokens, k) for k in range(j, j + 3)] == ["and", "a", "half"]:
        after.half, after.end = True, j + 3
        return after
    unit = _unit(tokens, i, j)
    if unit is not None:
        after.unit, after.end = unit
    rate = _unit(tokens, after.end - 1, after.end) if unit and unit[0].kind is Kind.MONEY else None
    if rate is not None and rate[0].kind is Kind.RATE:  # 2 500 € par mois
        after.rate, after.end = rate
    return after


def _unit(tokens: list[Token], i: int, j: int) -> tuple[Attachment, int] | None:
    """The unit right after the number (token i; the unit starts at j) and where it ends."""
    if j >= len(tokens) or tokens[j].kind not in (TokenKind.WORD, TokenKind.MARK):
        return None
    if tokens[j].kind is TokenKind.MARK:
        return _mark_unit(tokens, j)
    word, period = tokens[j].lower, _period(_word(tokens, j + 1))
    if glued(tokens[i], tokens[j]) and word in lx.ORDINAL_SUFFIXES:
        return Attachment(Kind.ORDINAL, word), j + 1
    if word in lx.RATE_LEADS and period:  # a month, per year, par mois
        return Attachment(Kind.RATE, period), j + 2
    if word == "y" and "".join(t.lower for t in tokens[j + 1 : j + 3]) == ".o":  # 34 y.o.
        return Attachment(Kind.AGE, "y.o"), j + 3
    kind = next((k for words, k in _WORD_UNITS if word in words), Kind.NOUN)
    unit = Attachment(kind, (_period(word) or word) if kind is Kind.RATE else word)
    return None if word in lx.FREE_AFTER else (unit, j + 1)


# "years" is an age unit here; _Site.age_or_duration decides.
_WORD_UNITS = (
    (frozenset(lx.MONTHS), Kind.DATE),
    (lx.AGE_YEARS | lx.UNITS[Kind.AGE], Kind.AGE),
    *((words, kind) for kind, words in lx.UNITS.items()),
)


def _mark_unit(tokens: list[Token], j: int) -> tuple[Attachment, int] | None:
    mark = tokens[j].text
    period = _period(_word(tokens, j + 1))
    if mark == "/" and period:
        return Attachment(Kind.RATE, period), j + 2
    if mark == "-" and _word(tokens, j + 1):  # 34-year-old, 10-minute
        return _unit(tokens, j, j + 1)
    kind = _MARK_UNITS.get(mark)
    return (Attachment(kind, mark), j + 1) if kind is not None else None


_MARK_UNITS = {
    "%": Kind.PERCENT,
    **dict.fromkeys(_CURRENCY_MARKS, Kind.MONEY),
    **dict.fromkeys("'\"\u2032\u2033", Kind.LENGTH),  # 5'11, 6"
    **dict.fromkeys("x\u00d7\u00b0", Kind.NOUN),  # 2 x, 3 times, 20 degrees
}


def _period(word: str) -> str | None:
    """The English period a word names ("mois" is "month", "yearly" is "year"), if any."""
    return lx.PERIOD_OF.get(word) or lx.PERIOD_OF.get(singular(word))


def _listed(tokens: list[Token], i: int) -> int | None:
    """The last number of the list number i begins or continues ("3 and 5", "4, 6 and 9"), if any."""
    last = None
    for _ in range(_MAX_LISTED):
        j = i + 2
        if (
            j >= len(tokens)
            or tokens[i + 1].lower not in lx.LIST_JOINTS
            or tokens[j].kind is not TokenKind.NUMBER
        ):
            break
        last = i = j
    return last


def _listed_after(tokens: list[Token], i: int) -> bool:
    """Whether number i comes after another in a list ("3 and 5": 5)."""
    joint = tokens[i - 1].lower if i >= 2 else ""
    return joint in lx.LIST_JOINTS and tokens[i - 2].kind is TokenKind.NUMBER


def _word(tokens: list[Token], j: int) -> str:
    return tokens[j].lower if 0 <= j < len(tokens) and tokens[j].kind is TokenKind.WORD else ""

"""Transition conditions: CEL expressions compiled once, evaluated against a customer's data.

Library choice (bench/cel_libraries.py): `common-expression-language` (Rust core) compiles in
~30 us and evaluates in ~8 us, against ~310 us and ~330 us for the pure-Python `cel-python`.
Its package import costs ~265 ms (it pulls its CLI's dependencies), so `cel` is imported on
first use only: the JIT fast path never evaluates a condition and never pays for it.

A condition can never crash its caller: whatever the library raises while evaluating (types
that do not compare, division by zero, integer overflow, a function CEL lacks, a result that is
not a boolean) becomes a ConditionEvaluationError. At plan time `type_problem` finds most of
these before any customer meets them: the library has no type checker, so the condition is
evaluated with representative values of each field's declared type (CEL is strongly typed, so
a comparison across types fails for every value of those types).
"""

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Comprehension macros bind their own variable (`items.exists(e, e > 1)`): not a data field.
_MACRO_VARIABLE = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
# Values of each field type as the JIT passes them to conditions (domain/extraction.py).
_WITNESSES: dict[str, tuple[Any, ...]] = {
    "integer": (0, 1, -1, 17, 18, 100),
    "number": (0.0, 1.5, -2.5, 100.0),
    "boolean": (True, False),
    "string": ("", "a", "yes"),
}
MAX_TRIALS = 64


class ConditionSyntaxError(ValueError):
    """The expression is not valid CEL."""


class ConditionEvaluationError(ValueError):
    """The expression failed at run time (types that do not compare, a result that is not bool)."""


@dataclass(frozen=True, slots=True)
class Condition:
    source: str
    variables: frozenset[str]
    _program: Any

    def missing(self, data: Mapping[str, Any]) -> list[str]:
        """The variables this condition needs that `data` lacks, sorted."""
        return sorted(name for name in self.variables if data.get(name) is None)

    def evaluate(self, data: Mapping[str, Any]) -> bool:
        """True or False; call `missing` first, an absent variable is an evaluation error."""
        try:
            result = self._program.execute({name: data[name] for name in self.variables if name in data})
        except Exception as exc:
            raise ConditionEvaluationError(f"{type(exc).__name__}: {_first_sentence(str(exc))}") from None
        if not isinstance(result, bool):
            raise ConditionEvaluationError(f"gave {result!r}, not true or false")
        return result


@lru_cache(maxsize=4096)
def compile_condition(source: str) -> Condition:
    """Compile (cached by source text: versions share most of their conditions)."""
    import cel  # noqa: PLC0415 - deferred on purpose, see module docstring

    try:
        program = cel.compile(source)
    except ValueError as exc:
        raise ConditionSyntaxError(_first_line(str(exc))) from None
    bound = set(_MACRO_VARIABLE.findall(source))
    return Condition(source, frozenset(v for v in program.variables() if v not in bound), program)


def witnesses(type_name: str, values: Sequence[str] | None = None) -> tuple[Any, ...]:
    """Representative values of a field type (an enum's own values; email, phone, date and enum
    values are strings)."""
    if type_name == "enum" and values:
        return tuple(values)
    return _WITNESSES.get(type_name, _WITNESSES["string"])


@lru_cache(maxsize=4096)
def type_problem(source: str, variables: tuple[tuple[str, tuple[Any, ...]], ...]) -> str | None:
    """What is wrong with a condition for fields of these types, or None. `variables`: each
    variable with its witnesses (see `witnesses`), sorted by name. Evaluates at most MAX_TRIALS
    combinations: every witness of each variable at least once."""
    condition = compile_condition(source)
    for data in _trials(variables):
        try:
            condition.evaluate(data)
        except ConditionEvaluationError as exc:
            return _explain(str(exc))
    return None


def _trials(variables: tuple[tuple[str, tuple[Any, ...]], ...]) -> list[dict[str, Any]]:
    names = [name for name, _ in variables]
    choices = [values for _, values in variables]
    product = itertools.islice(itertools.product(*choices), MAX_TRIALS)
    trials = [dict(zip(names, combination, strict=True)) for combination in product]
    widest = max((len(values) for values in choices), default=0)
    trials += [  # the product may stop early: every witness of every variable still gets a turn
        {name: values[i % len(values)] for name, values in variables} for i in range(widest)
    ]
    return trials


def _explain(problem: str) -> str:
    if problem.startswith("TypeError"):
        return "it compares or combines values of different types (CEL does not convert them)"
    if problem.startswith(("ZeroDivisionError", "OverflowError")):
        return f"it can fail at run time for some values ({problem.split(':', maxsplit=1)[0]})"
    if problem.startswith("gave"):
        return f"it {problem}"
    return f"it fails: {problem}"


def _first_sentence(message: str) -> str:
    """The library's messages go on with advice; the first sentence says what happened."""
    line = _first_line(message)
    end = line.find(". ")
    return line[: end + 1] if end > 0 else line


def _first_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines()[:2] if line.strip())


# -- cost ------------------------------------------------------------------------------------------
# A condition reads scalar fields (string, integer, number, boolean, email, phone, date, enum), so
# it never needs a loop. Without comprehension macros and `cel.bind`, CEL evaluates each node of
# the expression once: the cost of a condition is linear in its length (bounded by
# `limits.max_condition_length`) and in the size of the field values. With them, under 200
# characters of nested `map` build a million-element list and take 20 s per evaluation. So: calls
# only to the functions below (a name outside them is a comprehension, a binding, or an extension
# this library lacks, which would fail at run time anyway), and brackets nested at most
# MAX_NESTING deep (the parser gives up near 100 with a message that says nothing of why).

COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "map", "filter", "transformList", "transformMap"})
ALLOWED_CALLS = frozenset(
    {
        *("has", "size", "matches", "contains", "startsWith", "endsWith"),
        *("int", "uint", "double", "string", "bytes", "dyn", "type", "timestamp", "duration"),
        *("getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear"),
        *("getHours", "getMinutes", "getSeconds", "getMilliseconds"),
    }
)
MAX_NESTING = 32
_STRING_PREFIXES = frozenset({"r", "b", "rb", "br"})
_OPENING, _CLOSING = "([{", ")]}"


def check_cost(source: str) -> str | None:
    """Why evaluating `source` could cost more than its length (a message), or None when it
    cannot. One linear pass that skips string literals: a macro name inside a string is text."""
    depth, i, n = 0, 0, len(source)
    while i < n:
        char = source[i]
        if char in "'\"":
            i = _skip_string(source, i, raw=False)
        elif char.isalpha() or char == "_":
            end = _identifier_end(source, i)
            word = source[i:end]
            if word.lower() in _STRING_PREFIXES and end < n and source[end] in "'\"":
                i = _skip_string(source, end, raw="r" in word.lower())
                continue
            problem = _call_problem(word) if _next_char(source, end) == "(" else None
            if problem:
                return problem
            i = end
        else:
            depth += (char in _OPENING) - (char in _CLOSING)
            if depth > MAX_NESTING:
                return f"brackets nest more than {MAX_NESTING} levels deep"
            i += 1
    return None


def _call_problem(name: str) -> str | None:
    if name in COMPREHENSIONS:
        return (
            f"'{name}' is a comprehension: conditions test scalar fields and need no loop over a "
            "list (its cost grows with the list, not with the condition)"
        )
    if name not in ALLOWED_CALLS:
        return f"'{name}()' is not an allowed function (allowed: {', '.join(sorted(ALLOWED_CALLS))})"
    return None


def _identifier_end(source: str, start: int) -> int:
    end = start
    while end < len(source) and (source[end].isalnum() or source[end] == "_"):
        end += 1
    return end


def _next_char(source: str, start: int) -> str:
    """The next character that is not whitespace ('' at the end)."""
    while start < len(source) and source[start].isspace():
        start += 1
    return source[start] if start < len(source) else ""


def _skip_string(source: str, start: int, *, raw: bool) -> int:
    """The index after the string literal opening at `start` ('...', "...", or tripled); the end
    of the source if it is never closed (then the compiler reports the syntax error)."""
    quote = source[start] * 3 if source.startswith(source[start] * 3, start) else source[start]
    i = start + len(quote)
    while i < len(source):
        if source.startswith(quote, i):
            return i + len(quote)
        i += 2 if source[i] == "\\" and not raw else 1
    return len(source)

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

"""Transition conditions: CEL expressions compiled once, evaluated against a customer's data.

Library choice (bench/cel_libraries.py): `common-expression-language` (Rust core) compiles in
~30 us and evaluates in ~8 us, against ~310 us and ~330 us for the pure-Python `cel-python`.
Its package import costs ~265 ms (it pulls its CLI's dependencies), so `cel` is imported on
first use only: the JIT fast path never evaluates a condition and never pays for it.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Comprehension macros bind their own variable (`items.exists(e, e > 1)`): not a data field.
_MACRO_VARIABLE = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


class ConditionSyntaxError(ValueError):
    """The expression is not valid CEL."""


class ConditionEvaluationError(ValueError):
    """The expression failed at run time (types that do not compare, a result that is not bool)."""


@dataclass(frozen=True, slots=True)
class Condition:
    source: str
    variables: frozenset[str]
    _program: Any

    def missing(self, data: dict[str, Any]) -> list[str]:
        """The variables this condition needs that `data` lacks, sorted."""
        return sorted(name for name in self.variables if data.get(name) is None)

    def evaluate(self, data: dict[str, Any]) -> bool:
        """True or False; call `missing` first, an absent variable is an evaluation error."""
        try:
            result = self._program.execute({name: data[name] for name in self.variables if name in data})
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ConditionEvaluationError(f"{self.source!r}: {exc}") from None
        if not isinstance(result, bool):
            raise ConditionEvaluationError(f"{self.source!r} gave {result!r}, not true or false")
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


def _first_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines()[:2] if line.strip())

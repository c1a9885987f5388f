"""What a stored value may be. DynamoDB numbers hold 38 significant digits between 1E-130 and
1E+126; JSON (and Python) allows far more. A value outside that range is a client mistake to
refuse with a 400 (or a field value to ignore), not a write that fails later with a 500."""

import math
from typing import Any

MAX_MAGNITUDE = 1e126
MIN_MAGNITUDE = 1e-130
MAX_INTEGER = 10**38


def storable_number(value: int | float) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) < MAX_INTEGER
    return math.isfinite(value) and (value == 0 or MIN_MAGNITUDE <= abs(value) < MAX_MAGNITUDE)


def unstorable_paths(value: Any, path: str = "") -> list[str]:
    """Where, in a JSON-like value, numbers DynamoDB cannot hold sit (empty when none do)."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in unstorable_paths(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in unstorable_paths(item, f"{path}[{i}]")]
    if isinstance(value, int | float) and not storable_number(value):
        return [path]
    return []

"""Drawing a random sample of live sessions with bounded reads (simulate, issue 14). Pure.

The position index keeps a step's sessions sorted by session id, so a random *point* of a
step's id range (between its first and last id) starts a window of sessions nobody chose: two
windows at one crowded step are two different handfuls, not its first ids twice. Steps get
windows in proportion to their plan-time census, so the sample follows where customers sit.
"""

import random
import string

# The characters of session ids (SPEC 12: letters, digits and ._:-), in DynamoDB's byte order.
ID_ALPHABET = "".join(sorted(string.ascii_letters + string.digits + "._:-"))
_EXTRA = 2  # characters below the longer bound's length: room between neighbouring ids


def allocate(weights: list[int], total: int) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders; equal shares when every
    weight is zero), so that the parts add up to `total` exactly."""
    if not weights or total <= 0:
        return [0] * len(weights)
    if not any(weights):
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    parts = [int(s) for s in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (parts[i] - shares[i], i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def between(low: str, high: str, rng: random.Random, alphabet: str = ID_ALPHABET) -> str:
    """A random string s with low <= s <= high (byte order). Both are read as numbers in base
    len(alphabet), padded to one length (low with its smallest digit, high with its largest), and a
    number is drawn between them. Give the characters the ids really use (those of a window of
    them): a point drawn among characters no id has falls in a gap and snaps to the next id, so
    with the whole id alphabet numeric ids would be reached mostly at their round numbers."""
    if high <= low:
        return low
    digits = "".join(sorted(set(alphabet) | set(low) | set(high)))
    width = max(len(low), len(high)) + _EXTRA
    lo = _number(low.ljust(width, digits[0]), digits)
    hi = _number(high.ljust(width, digits[-1]), digits)
    return min(max(_string(rng.randint(lo, hi), digits, width), low), high)


def _number(text: str, digits: str) -> int:
    value, base = 0, len(digits)
    for char in text:
        value = value * base + digits.index(char)
    return value


def _string(value: int, digits: str, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, len(digits))
        chars.append(digits[digit])
    return "".join(reversed(chars))

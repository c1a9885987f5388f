"""Request bodies: JSON only, of bounded size and depth, with numbers a service can hold.

Powertools parses a body inside its request validation, before any middleware of ours runs; the
resolver (api/resolver.py) runs `check_body` ahead of that validation and gives Powertools
`parse_json_body` as its JSON deserializer, so no body is parsed unless it is JSON of a bounded
size, and none reaches a model unless it is of a bounded depth.

Why each bound exists:
- depth: `json.loads` recurses in C and raises RecursionError past a few thousand levels, and
  every recursive walk after it (pydantic, `unstorable_paths`, the DynamoDB serializer) fails
  well before Python's limit; no document of this API nests beyond a dozen levels;
- non-finite numbers: `NaN`, `Infinity` and overflowing literals (`1e400`) are not JSON (RFC 8259)
  and would come back in responses as invalid JSON or silently become `null`;
- integers beyond 4,300 digits make `int()` raise ValueError inside the parser;
- lone surrogates (`"\\ud800"`): JSON's escapes can spell them, UTF-8 cannot encode them. pydantic
  refuses them in a `str` field but not inside free-form values (session variables), which were
  stored and then failed the response (a 500 after the write).
"""

import json
import math
import re
from typing import Any

from scenario_migration.config import get_settings
from scenario_migration.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

MAX_DEPTH = 64
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # a UTF-16 surrogate spelt as an escape


def is_json(content_type: str | None) -> bool:
    """`application/json` or a `+json` type, any parameters (charset). A body without a type is
    read as JSON, as Powertools reads it (clients that send one rarely omit the type)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type in ("", "application/json") or media_type.endswith("+json")


def not_json(content_type: str | None) -> UnsupportedMediaType:
    """The 415 for a body of another type. A JSON document labelled `text/plain` is refused too:
    guessing would hide the client's mistake until a body that is not JSON arrives."""
    return UnsupportedMediaType(
        f"request bodies must be JSON (Content-Type: application/json), not {content_type}",
        {"content_type": content_type},
    )


def event_size(body: str) -> int:
    """The body's bytes as Lambda's event carries it: a JSON string, quotes and backslashes
    escaped. Lambda takes at most 6 MB of event (API Gateway would take 10 MB of body), so that is
    the size the limit bounds."""
    return len(json.dumps(body, ensure_ascii=False).encode()) - 2


def check_body(body: str | None, content_type: str | None) -> None:
    """Before anything parses it: 413 above `limits.max_body_bytes` (as the Lambda event carries
    the body, below Lambda's 6 MB: a larger event never reaches the function), 415 unless it is
    JSON. A request without a body passes."""
    if not body:
        return
    size, limit = event_size(body), get_settings().limits.max_body_bytes
    if size > limit:
        raise PayloadTooLarge(
            f"the request body takes {size} bytes in the Lambda event (JSON-escaped); the limit is {limit}",
            {"limit_bytes": limit, "size_bytes": size},
        )
    if not is_json(content_type):
        raise not_json(content_type)


def parse_json_body(text: str) -> Any:
    """The resolver's JSON deserializer: every way a JSON body can be unusable is a 400."""
    try:
        value = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # JSONDecodeError, and int() refusing 4,300+ digits
        raise InvalidInput(
            "the request body is not valid JSON", [{"location": "body", "message": str(exc)}]
        ) from None
    if depth_exceeds(value, MAX_DEPTH):
        raise _too_deep()
    if _SURROGATE_ESCAPE.search(text) and not _encodable(value):
        raise InvalidInput(
            "the request body has a string that is not Unicode text",
            [{"location": "body", "message": "a lone surrogate (\\ud800-\\udfff) outside a pair"}],
        )
    return value


def _encodable(value: Any) -> bool:
    """Whether every string in `value` (keys too) is valid Unicode (pairs were joined by the parser)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit`; iterative, so any depth is safe to measure."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _too_deep() -> InvalidInput:
    return InvalidInput(
        f"the request body nests deeper than {MAX_DEPTH} levels",
        [{"location": "body", "message": f"at most {MAX_DEPTH} levels of arrays and objects"}],
    )


def _not_json(literal: str) -> Any:
    raise ValueError(f"{literal} is not a JSON number")


def _finite(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError(f"the number {literal[:40]} is out of range")
    return number

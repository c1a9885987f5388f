"""Large JSON documents (scenario versions, transformation maps) as compressed item parts.

DynamoDB items stop at 400 KB; a 5,000-step scenario is megabytes of JSON. Documents are stored
zlib-compressed and split into parts of at most PART_BYTES, each its own item.
"""

import json
import zlib
from typing import Any

PART_BYTES = 350_000


def encode(document: Any) -> list[bytes]:
    raw = zlib.compress(json.dumps(document, separators=(",", ":")).encode(), level=6)
    return [raw[i : i + PART_BYTES] for i in range(0, len(raw), PART_BYTES)] or [b""]


def decode(parts: list[bytes]) -> Any:
    return json.loads(zlib.decompress(b"".join(parts)))

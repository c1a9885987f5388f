"""Write docs/openapi.json from the code (`make openapi`); tests/unit/test_openapi.py checks it is current."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "shared")]

from planning.app import API_MODULES  # noqa: E402
from scenario_migration.api.openapi import merged_schema  # noqa: E402

DOCUMENT = ROOT / "docs" / "openapi.json"


def render() -> str:
    return json.dumps(merged_schema(API_MODULES), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")

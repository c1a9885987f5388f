"""Write docs/openapi.json from the code (`make openapi`): every REST function's routes, merged
with Powertools' OpenAPIMerge. The layer serves that file (shared/scenario_migration/openapi.json
links to it); tests/unit/test_openapi.py checks it is current."""

import json
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "shared")]

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge  # noqa: E402

from scenario_migration.api.auth import SECURITY_SCHEMES  # noqa: E402
from scenario_migration.api.openapi import DESCRIPTION, TITLE, VERSION  # noqa: E402

DOCUMENT = ROOT / "docs" / "openapi.json"
# The REST functions whose routes make up the API (see tests/unit/test_openapi.py).
API_MODULES = ("planning.app", "approval.app", "deploy.app", "sessions.app")


def merged_schema() -> dict[str, Any]:
    merge = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=SECURITY_SCHEMES,
        on_conflict="error",
    )
    for name in API_MODULES:
        app = import_module(name).app
        merge.add_schema(
            app.get_openapi_schema(title=TITLE, version=VERSION, security_schemes=SECURITY_SCHEMES)
        )
    return json.loads(merge.get_openapi_json_schema())  # Powertools' rendering (enums as values)


def render() -> str:
    return json.dumps(merged_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")

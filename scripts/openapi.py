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
from aws_lambda_powertools.event_handler.openapi.models import Tag  # noqa: E402

from scenario_migration.api.auth import SECURITY_SCHEMES  # noqa: E402
from scenario_migration.api.openapi import DESCRIPTION, TAG_DESCRIPTIONS, TITLE, VERSION  # noqa: E402

DOCUMENT = ROOT / "docs" / "openapi.json"
# The REST functions whose routes make up the API (see tests/unit/test_openapi.py).
API_MODULES = ("planning.app", "approval.app", "deploy.app", "sessions.app")


def merged_schema() -> dict[str, Any]:
    merge = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=SECURITY_SCHEMES,
        tags=[Tag(name=tag.value, description=text) for tag, text in TAG_DESCRIPTIONS.items()],
        on_conflict="error",
    )
    for name in API_MODULES:
        app = import_module(name).app
        merge.add_schema(
            app.get_openapi_schema(title=TITLE, version=VERSION, security_schemes=SECURITY_SCHEMES)
        )
    return truthful(json.loads(merge.get_openapi_json_schema()))  # Powertools' rendering (enums as values)


def truthful(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop what Powertools documents on every route but this API never answers: its generic 422
    (a request that fails validation is a 400 here, api/resolver.py), then every schema nothing
    refers to any more (the 422's)."""
    for operation in (op for methods in schema["paths"].values() for op in methods.values()):
        operation["responses"].pop("422", None)
    schemas = schema.get("components", {}).get("schemas", {})
    while unused := [name for name in schemas if not _referenced(schema, name)]:
        for name in unused:
            del schemas[name]
    return schema


def _referenced(schema: dict[str, Any], name: str) -> bool:
    others = {key: value for key, value in schema["components"]["schemas"].items() if key != name}
    text = json.dumps({**schema, "components": {"schemas": others}})
    return f'"#/components/schemas/{name}"' in text


def render() -> str:
    return json.dumps(merged_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")

"""One OpenAPI document for the whole API, merged from every REST function's resolver.

Each function owns its routes (and so its part of the document); Powertools' OpenAPIMerge joins
them. The function modules are imported only when the document is asked for.
"""

import json
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

from scenario_migration.api.auth import SECURITY_SCHEMES

TITLE = "Scenario Migration Service"
VERSION = "1.0.0"
DESCRIPTION = (
    "Publish a new conversation scenario version while customers are in the middle of it, and "
    "migrate each live conversation just in time. Deployed, every call carries a bearer token (JWT) "
    "whose tenant and roles claims decide what it may do; each operation names the role it needs "
    "(`x-required-role`). Without a token (the local run), the X-Tenant-ID header names the tenant."
)


@cache
def merged_schema(modules: tuple[str, ...]) -> dict[str, Any]:
    merge = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=SECURITY_SCHEMES,
        on_conflict="error",
    )
    for name in modules:
        merge.add_schema(
            import_module(name).app.get_openapi_schema(
                title=TITLE, version=VERSION, security_schemes=SECURITY_SCHEMES
            )
        )
    return json.loads(merge.get_openapi_json_schema())  # Powertools' rendering (enums as values)


def swagger_page(schema: dict[str, Any]) -> str:
    """Swagger UI with its assets inlined (Powertools ships them), as `enable_swagger` serves."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui  # noqa: PLC0415 - docs only
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html  # noqa: PLC0415

    assets = Path(swagger_ui.__file__).parent
    js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    spec = json.dumps(schema).replace("</", "<\\/")
    return generate_swagger_html(spec, js, css, None, None, False)

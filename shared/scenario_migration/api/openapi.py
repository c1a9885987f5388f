"""The API's OpenAPI document, as generated from every REST function's routes by
`make openapi` (scripts/openapi.py) into docs/openapi.json and packaged with the layer (like
config/default.toml). Served as is: the layer never imports the functions above it, and no
function pays for building the document at run time. tests/unit/test_openapi.py keeps the
packaged copy equal to what the code generates."""

import json
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

PACKAGED_DOCUMENT = Path(__file__).resolve().parents[1] / "openapi.json"
TITLE = "Scenario Migration Service"
VERSION = "1.0.0"
DESCRIPTION = (
    "Publish a new conversation scenario version while customers are in the middle of it, and "
    "migrate each live conversation just in time. Deployed, every call carries a bearer token (JWT) "
    "whose tenant and roles claims decide what it may do; each operation names the role it needs "
    "(`x-required-role`). Without a token (the local run), the X-Tenant-ID header names the tenant."
)


@cache
def document() -> dict[str, Any]:
    return json.loads(PACKAGED_DOCUMENT.read_text(encoding="utf-8"))


@cache
def swagger_page() -> str:
    """Swagger UI with its assets inlined (Powertools ships them), as `enable_swagger` serves."""
    assets = Path(swagger_ui.__file__).parent
    js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    spec = json.dumps(document()).replace("</", "<\\/")
    return generate_swagger_html(spec, js, css, None, None, False)

"""The API's OpenAPI document, as generated from every REST function's routes by
`make openapi` (scripts/openapi.py) into docs/openapi.json and packaged with the layer (like
config/default.toml). Served as is: the layer never imports the functions above it, and no
function pays for building the document at run time. tests/unit/test_openapi.py keeps the
packaged copy equal to what the code generates.

The packaged document describes the deployed API (bearer tokens). A service run with
`AUTH_MODE=header` (the local run's default) authenticates nothing and needs X-Tenant-ID, so it
serves the same document without the security scheme and with the header required: each served
document says what that server does."""

import json
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

from scenario_migration.api.auth import ACTING_PERSON, HEADER, TENANT_HEADER, auth_mode

PACKAGED_DOCUMENT = Path(__file__).resolve().parents[1] / "openapi.json"
TITLE = "Scenario Migration Service"
VERSION = "1.0.0"
DESCRIPTION = (
    "Publish a new conversation scenario version while customers are in the middle of it, and "
    "migrate each live conversation just in time. Deployed, every call carries a bearer token (JWT) "
    "whose tenant and roles claims decide what it may do; each operation names the role it needs "
    "(`x-required-role`). Without a token (the local run), the X-Tenant-ID header names the tenant."
)


class Tag(StrEnum):
    """The API's parts, as the document groups its operations."""

    SCENARIOS = "scenarios"
    PLANS = "migration plans"
    APPROVAL = "approval"
    DEPLOYMENT = "deployment"
    SESSIONS = "sessions"


TAG_DESCRIPTIONS = {
    Tag.SCENARIOS: "The scenario registry: a scenario's first version, its versions, the active one.",
    Tag.PLANS: "Migration plans: the diff of the active version against a new one, its summary, "
    "transformation map and warnings (both paged), and per-anchor policies.",
    Tag.APPROVAL: "Approve (acknowledging critical warnings) or reject a pending plan.",
    Tag.DEPLOYMENT: "Deploy an approved plan (asynchronous: marking live sessions), follow it, cancel it.",
    Tag.SESSIONS: "The runtime reports where each conversation is; viewers read it and its migrations.",
}


def operation(tag: Tag, summary: str, description: str) -> dict[str, Any]:
    """Route options that document an operation: its tag, a one-line summary, what it does."""
    return {"tags": [tag.value], "summary": summary, "description": description}


def document() -> dict[str, Any]:
    """The document this server answers by: the packaged one, or its header-mode variant."""
    return _document(auth_mode())


@cache
def _document(mode: str) -> dict[str, Any]:
    packaged = json.loads(PACKAGED_DOCUMENT.read_text(encoding="utf-8"))
    return without_authentication(packaged) if mode == HEADER else packaged


def without_authentication(packaged: dict[str, Any]) -> dict[str, Any]:
    """The document of a server that trusts X-Tenant-ID: no bearer scheme, no 401 and no 403 (the
    caller holds every role, and the rules that refuse someone need a verified identity), the
    header required, and who acts (`approved_by`...) required in the bodies, none of them null."""
    served = json.loads(json.dumps(packaged))
    served.get("components", {}).pop("securitySchemes", None)
    for op in (op for methods in served["paths"].values() for op in methods.values()):
        op.pop("security", None)
        op["responses"].pop("401", None)
        op["responses"].pop("403", None)
        for parameter in op.get("parameters", []):
            if parameter["in"] == "header" and parameter["name"].lower() == TENANT_HEADER.lower():
                parameter["required"] = True
                parameter["schema"] = _not_null(parameter["schema"])
    for model in served.get("components", {}).get("schemas", {}).values():
        acting = [name for name, field in model.get("properties", {}).items() if field.get(ACTING_PERSON)]
        for name in acting:
            model["properties"][name] = _not_null(model["properties"][name])
            model["required"] = sorted({*model.get("required", []), name})
    return served


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without its null branch (Pydantic writes `X | None` as anyOf [X, null])."""
    branches = [branch for branch in schema.get("anyOf", []) if branch.get("type") != "null"]
    if len(branches) != 1:
        return schema
    return {**{k: v for k, v in schema.items() if k not in ("anyOf", "default")}, **branches[0]}


@cache
def swagger_page() -> str:
    """Swagger UI with its assets and the document inlined (Powertools ships them), as
    `enable_swagger` serves it; `?format=json` of the same URL answers the document itself."""
    assets = Path(swagger_ui.__file__).parent
    js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    spec = json.dumps(document()).replace("</", "<\\/")
    return generate_swagger_html(spec, js, css, None, None, False)

"""The API document is generated from the code, covers every REST route of template.yaml (the
API's, under /api/v1: the console's page is no API), and the committed copy (docs/openapi.json)
is current."""

import json

import pytest
from openapi_spec_validator import validate

from local_run.template import load_template
from scenario_migration.api import openapi
from scenario_migration.api.auth import AUTH_MODE_ENV, HEADER, JWT
from scripts.openapi import DOCUMENT, render


def test_committed_document_is_current() -> None:
    assert DOCUMENT.read_text() == render(), "run `make openapi` and commit docs/openapi.json"


def test_document_covers_every_route_of_the_template() -> None:
    paths = json.loads(render())["paths"]
    documented = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    declared = {
        (route.method, route.path)
        for route in load_template().routes
        if route.path.startswith("/api/v1/") and not route.path.endswith(("openapi.json", "/docs"))
    }
    assert declared == documented


def test_every_operation_documents_the_tenant_header() -> None:
    for path, methods in json.loads(render())["paths"].items():
        for method, operation in methods.items():
            names = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
            assert "x-tenant-id" in names, f"{method.upper()} {path}"


def test_no_operation_documents_a_status_this_api_never_answers() -> None:
    """Powertools' generic 422 is a 400 here (api/resolver.py): it is not in the document."""
    schema = json.loads(render())
    statuses = {s for methods in schema["paths"].values() for op in methods.values() for s in op["responses"]}
    assert "422" not in statuses and "HTTPValidationError" not in schema["components"]["schemas"]


def test_each_auth_mode_serves_the_document_it_answers_by(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deployed (jwt): bearer security, the header optional. Header mode (the local run): no
    security, no 401, the header required: a client built from either document works."""
    monkeypatch.setenv(AUTH_MODE_ENV, JWT)
    deployed = openapi.document()
    monkeypatch.setenv(AUTH_MODE_ENV, HEADER)
    local = openapi.document()
    for served, required, secured in ((deployed, False, True), (local, True, False)):
        assert ("securitySchemes" in served["components"]) is secured
        for methods in served["paths"].values():
            for operation in methods.values():
                header = next(p for p in operation["parameters"] if p["name"].lower() == "x-tenant-id")
                assert header["required"] is required
                assert ("security" in operation) is secured and ("401" in operation["responses"]) is secured
    assert local["paths"].keys() == deployed["paths"].keys()
    for model, person in (("ApproveRequest", "approved_by"), ("RejectRequest", "rejected_by")):
        assert person not in deployed["components"]["schemas"][model].get("required", [])
        assert person in local["components"]["schemas"][model]["required"]


@pytest.mark.parametrize("mode", [JWT, HEADER])
def test_the_served_documents_are_valid_openapi(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """openapi-spec-validator (OpenAPI 3.1 and the JSON Schema of its schemas) on each served
    variant; every operation has a tag the document describes, a summary and a description."""
    monkeypatch.setenv(AUTH_MODE_ENV, mode)
    served = openapi.document()
    validate(served)
    tags = {tag["name"] for tag in served["tags"]}
    for path, methods in served["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            assert len(operation["tags"]) == 1 and operation["tags"][0] in tags, where
            assert operation["summary"] != where and operation["description"], where


def test_every_response_body_is_a_model() -> None:
    """No operation answers a bare object or array: each body (success and error) is a named model."""
    for path, methods in json.loads(render())["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                schema = response["content"]["application/json"]["schema"]
                assert set(schema) == {"$ref"}, f"{method.upper()} {path} {status}: {schema}"

"""The API document is generated from the code, covers every REST route of template.yaml (the
API's, under /api/v1: the console's page is no API), and the committed copy (docs/openapi.json)
is current."""

import json

from local_run.template import load_template
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

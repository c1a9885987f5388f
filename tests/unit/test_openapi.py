"""The API document is generated from the code, covers every REST route of template.yaml, and the
committed copy (docs/openapi.json) is current."""

import json

from scripts.openapi import DOCUMENT, render
from tests.integration.conftest import load_template


def test_committed_document_is_current() -> None:
    assert DOCUMENT.read_text() == render(), "run `make openapi` and commit docs/openapi.json"


def test_document_covers_every_route_of_the_template() -> None:
    paths = json.loads(render())["paths"]
    documented = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    declared = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "Api" and not event["Properties"]["Path"].endswith(("openapi.json", "/docs"))
    }
    assert declared == documented


def test_every_operation_documents_the_tenant_header() -> None:
    for path, methods in json.loads(render())["paths"].items():
        for method, operation in methods.items():
            names = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
            assert "x-tenant-id" in names, f"{method.upper()} {path}"

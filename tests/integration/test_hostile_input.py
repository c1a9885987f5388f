"""No 5xx for any input (issue 11, section 3): each request below answered 500 before; now each is
a 4xx in the error shape, and nothing of it is stored. Through the real handlers, on both
DynamoDB backends (tests/e2e/test_no_server_errors.py sends the same over HTTP)."""

import json

import pytest

from scenario_migration.store import scenarios as scenario_store
from scenario_migration.store import sessions as session_store
from tests.documents import MILLION_ELEMENTS, V1, order_flow, report, step
from tests.integration.harness import Api

FRESH = {**V1, "id": "fresh"}  # a scenario no test registers: what is refused must not appear


def refused(response, status: int, code: str) -> None:
    assert response.status == status, response.body
    assert set(response.body) == {"error"} and set(response.body["error"]) == {"code", "message", "details"}
    assert response.body["error"]["code"] == code, response.body


def nothing_stored(tenant: str) -> None:
    assert scenario_store.list_versions(tenant, "fresh") == []
    assert scenario_store.get_active(tenant, "fresh") is None
    assert session_store.get(tenant, "s-hostile") is None


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
    ],
)
def test_a_json_body_of_another_type_is_a_415(api: Api, tenant: str, content_type: str) -> None:
    """Bodies are JSON only, never guessed: a JSON document labelled text/plain is refused too."""
    response = api.post("/api/v1/scenarios", FRESH, content_type=content_type)
    refused(response, 415, "unsupported_media_type")
    assert (
        api.post("/api/v1/migration-plans/x/approve", raw="approved_by=me", content_type=content_type).status
        == 415
    )
    nothing_stored(tenant)


def test_json_with_a_charset_or_a_json_suffix_is_json(api: Api, tenant: str) -> None:
    assert api.post("/api/v1/scenarios", FRESH, content_type="application/json; charset=utf-8").status == 201
    assert api.get("/api/v1/scenarios/fresh").status == 200


@pytest.mark.parametrize("depth", [65, 5_000, 100_000])
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_json_is_a_400(api: Api, tenant: str, depth: int, opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    refused(api.post("/api/v1/scenarios", raw=opening * depth + "1" + closing * depth), 400, "invalid_input")
    variables = opening * depth + "1" + closing * depth
    body = json.dumps({**report("checkout"), "variables": "X"}).replace('"X"', variables)
    refused(api.put("/api/v1/sessions/s-hostile", raw=body), 400, "invalid_input")
    nothing_stored(tenant)


def test_nesting_within_the_bound_is_accepted(api: Api) -> None:
    assert api.post("/api/v1/scenarios", V1).status == 201
    variables: dict = {"leaf": 1}
    for _ in range(60):
        variables = {"a": variables}
    response = api.put("/api/v1/sessions/s1", {**report("checkout"), "variables": variables})
    assert response.status == 200, response.body


@pytest.mark.parametrize(
    "body",
    ["1" * 5_000, '{"a": 1e400}', '{"a": NaN}', '{"a": -Infinity}', '{"a": ', "\x00"],
    ids=["5000-digit-integer", "overflowing-float", "nan", "infinity", "truncated", "nul"],
)
def test_json_a_service_cannot_hold_is_a_400(api: Api, tenant: str, body: str) -> None:
    refused(api.post("/api/v1/scenarios", raw=body), 400, "invalid_input")
    nothing_stored(tenant)


def test_a_version_number_of_40_digits_is_a_400(api: Api, tenant: str) -> None:
    huge = 10**39
    refused(api.post("/api/v1/scenarios", {**FRESH, "version": huge}), 400, "invalid_input")
    nothing_stored(tenant)
    assert api.post("/api/v1/scenarios", V1).status == 201
    refused(api.put("/api/v1/sessions/s-hostile", report("checkout", version=huge)), 400, "invalid_input")
    refused(api.get(f"/api/v1/scenarios/order-flow/versions/{huge}"), 400, "invalid_input")
    refused(api.get(f"/api/v1/scenarios/order-flow/versions/{'9' * 5000}"), 400, "invalid_input")
    plan = {"new_scenario": {**V1, "version": huge}, "created_by": "op"}
    refused(api.post("/api/v1/scenarios/order-flow/migration-plan", plan), 400, "invalid_input")
    assert api.get("/api/v1/migration-plans").body["items"] == []
    assert api.get("/api/v1/scenarios/order-flow/versions/99999999").status == 404  # the largest is fine


@pytest.mark.parametrize("field", ["created_at", "last_activity_at"])
@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_session_timestamps_utc_cannot_hold_are_a_400(api: Api, tenant: str, field: str, moment: str) -> None:
    assert api.post("/api/v1/scenarios", V1).status == 201
    refused(
        api.put("/api/v1/sessions/s-hostile", report("checkout", **{field: moment})), 400, "invalid_input"
    )
    assert session_store.get(tenant, "s-hostile") is None


def test_session_timestamps_are_normalised_to_utc(api: Api) -> None:
    assert api.post("/api/v1/scenarios", V1).status == 201
    edges = {"created_at": "0001-01-01T00:00:00-14:00", "last_activity_at": "9999-12-31T09:59:59+14:00"}
    session = api.put("/api/v1/sessions/s1", report("checkout", **edges)).body
    assert (session["created_at"], session["last_activity_at"]) == (
        "0001-01-01T14:00:00Z",
        "9999-12-30T19:59:59Z",
    )
    assert api.put("/api/v1/sessions/s2", report("checkout", created_at=0)).status == 400  # not a string


@pytest.mark.parametrize("tenant_header", [None, "", " ", "a b", "x" * 129])
def test_a_blank_missing_or_invalid_tenant_is_a_400(api: Api, tenant: str, tenant_header: str | None) -> None:
    refused(api.post("/api/v1/scenarios", FRESH, tenant=tenant_header), 400, "invalid_input")
    refused(api.get("/api/v1/scenarios/fresh", tenant=tenant_header), 400, "invalid_input")
    refused(api.post("/api/v1/migration-plans/x/deploy", tenant=tenant_header), 400, "invalid_input")
    nothing_stored(tenant)


def test_percent_encoded_path_parameters_are_decoded(api: Api) -> None:
    """API Gateway REST passes the path still encoded: `a%3Ab` is the valid id `a:b`."""
    assert api.post("/api/v1/scenarios", {**V1, "id": "a:b"}).status == 201
    assert api.get("/api/v1/scenarios/a%3Ab").body["scenario_id"] == "a:b"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/migration-plans/x/approve", {"approved_by": "me", "aproved_by": "typo"}),
        ("/api/v1/migration-plans/x/reject", {"rejected_by": "me", "why": "typo"}),
        ("/api/v1/scenarios/order-flow/migration-plan", {"new_scenario": V1, "created_by": "me", "x": 1}),
    ],
)
def test_unknown_fields_in_a_request_envelope_are_a_400(api: Api, path: str, body: dict) -> None:
    response = api.post(path, body)
    refused(response, 400, "invalid_input")
    assert "Extra inputs are not permitted" in json.dumps(response.body)


def test_unknown_fields_in_a_scenario_document_are_kept(api: Api) -> None:
    document = {**V1, "layout": {"x": 1}, "steps": [{**V1["steps"][0], "icon": "wave"}, *V1["steps"][1:]]}
    assert api.post("/api/v1/scenarios", document).status == 201
    stored = api.get("/api/v1/scenarios/order-flow").body["document"]
    assert stored["layout"] == {"x": 1} and stored["steps"][0]["icon"] == "wave"


@pytest.mark.parametrize(
    ("where", "value"),
    [("version", True), ("priority", "1"), ("priority", False), ("is_checkpoint", 1), ("minimum", "0")],
)
def test_types_are_as_the_schema_says(api: Api, tenant: str, where: str, value: object) -> None:
    """No coercion the document does not promise (`true` is not 1, "1" is not 1, 1 is not true)."""
    step = dict(FRESH["steps"][0])
    document = {**FRESH}
    if where == "version":
        document["version"] = value
    elif where == "priority":
        transitions = [{"to_step_id": "checkout", "priority": value}]
        document["steps"] = [{**step, "transitions": transitions}, *FRESH["steps"][1:]]
    elif where == "is_checkpoint":
        document["steps"] = [{**step, where: value}, *FRESH["steps"][1:]]
    else:
        document["fields"] = [{"name": "age", "type": "integer", "minimum": value}]
    refused(api.post("/api/v1/scenarios", document), 400, "invalid_input")
    nothing_stored(tenant)


def test_a_condition_whose_cost_is_unbounded_is_a_400_at_plan_time(api: Api) -> None:
    """191 characters of nested `map` (a million-element list, 20 s per JIT evaluation) was
    accepted: the length bound is not a cost bound."""
    assert api.post("/api/v1/scenarios", V1).status == 201
    fork = step("check", "Check", ("confirm", MILLION_ELEMENTS, 1), "checkout")
    document = order_flow(2, [step("welcome", "Welcome", "check"), fork, *V1["steps"][1:]])
    response = api.post(
        "/api/v1/scenarios/order-flow/migration-plan", {"new_scenario": document, "created_by": "op"}
    )
    refused(response, 400, "invalid_scenario")
    [problem] = response.body["error"]["details"]
    assert problem["location"] == "new_scenario.steps[1] (id 'check').transitions[0].condition"
    assert "'map' is a comprehension" in problem["message"]
    assert api.get("/api/v1/migration-plans").body["items"] == []


@pytest.mark.parametrize(
    "variables",
    ['{"\\ud800": 1}', '{"a": "\\udfff"}', '{"a": ["x\\ud83d"]}'],
    ids=["key", "value", "nested"],
)
def test_a_lone_surrogate_anywhere_is_a_400(api: Api, tenant: str, variables: str) -> None:
    """JSON escapes can spell what UTF-8 cannot encode: in free-form variables it was stored, then
    the response failed (a 500 after the write)."""
    assert api.post("/api/v1/scenarios", V1).status == 201
    body = json.dumps({**report("checkout"), "variables": "X"}).replace('"X"', variables)
    refused(api.put("/api/v1/sessions/s-hostile", raw=body), 400, "invalid_input")
    assert session_store.get(tenant, "s-hostile") is None


def test_an_escaped_surrogate_pair_is_text(api: Api) -> None:
    assert api.post("/api/v1/scenarios", V1).status == 201
    body = json.dumps({**report("checkout"), "variables": "X"}).replace('"X"', '{"mood": "\\ud83d\\ude00"}')
    assert api.put("/api/v1/sessions/s1", raw=body).body["variables"] == {"mood": "\U0001f600"}

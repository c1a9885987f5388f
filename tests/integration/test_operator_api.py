"""Issue "operator API": the seed's steps 1-5 and every lifecycle / input error, via the handlers."""

import json

import pytest

from tests.documents import V1, V2_DOWNSTREAM, V2_GAP, order_flow, report, step
from tests.integration.harness import Api


@pytest.fixture
def scenario(api: Api) -> None:
    assert api.post("/api/v1/scenarios", V1).status == 201
    for i, where in enumerate(["welcome", "checkout", "checkout", "confirm", "confirm", "confirm"]):
        assert api.put(f"/api/v1/sessions/s{i}", report(where)).status == 200
    api.put("/api/v1/sessions/closed", report("checkout", status="closed"))


def create_plan(api: Api, document: dict = V2_GAP) -> dict:
    response = api.post(
        "/api/v1/scenarios/order-flow/migration-plan",
        {"new_scenario": {k: v for k, v in document.items() if k != "id"}, "created_by": "op@example.com"},
    )
    assert response.status == 201, response.body
    return response.body


def test_the_seed_walk_through(api: Api, scenario: None) -> None:
    plan = create_plan(api)
    assert (plan["scenario_id"], plan["from_version"], plan["to_version"], plan["status"]) == (
        "order-flow",
        1,
        2,
        "pending",
    )
    checkout = next(a for a in plan["transformation_map"]["anchors"] if a["anchor_name"] == "Checkout")
    assert checkout["migration_scenario"] == "gap_fill"
    assert checkout["upstream_changes"]["inserted_nodes"][0]["node_name"] == "Age Verification"
    assert checkout["upstream_changes"]["inserted_nodes"][0]["collects_fields"] == ["age"]
    summary = api.get(f"/api/v1/migration-plans/{plan['id']}/summary").body
    assert summary["total_anchors"] == 3 and summary["anchors_with_gap_fill"] == 2
    assert summary["estimated_sessions_affected"] == 6  # the closed session is not live
    assert summary["sessions_by_anchor"][checkout["anchor_content_hash"]] == 2
    assert {
        "severity": "info",
        "code": "field_may_be_asked:age",
        "anchor_name": "Checkout",
        "step_name": None,
        "message": "Customers may be asked for 'age' if not in profile",
        "affected_sessions_estimate": 5,
    } in summary["warnings"]
    policies = {
        checkout["anchor_content_hash"]: {
            "anchor_content_hash": checkout["anchor_content_hash"],
            "anchor_name": "Checkout",
            "scope_filter": {"include_channels": ["whatsapp"], "max_session_age_days": 30},
            "update_downstream": True,
        }
    }
    updated = api.put(f"/api/v1/migration-plans/{plan['id']}/policies", {"policies": policies})
    assert updated.status == 200
    assert (
        updated.body["policies"][checkout["anchor_content_hash"]]["scope_filter"]["max_session_age_days"]
        == 30
    )
    approved = api.post(f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "op@example.com"})
    assert approved.status == 200
    assert (approved.body["status"], approved.body["approved_by"]) == ("approved", "op@example.com")
    assert approved.body["approved_at"]


def test_lifecycle_conflicts(api: Api, scenario: None) -> None:
    plan = create_plan(api)
    anchor = plan["transformation_map"]["anchors"][0]["anchor_content_hash"]
    url = f"/api/v1/migration-plans/{plan['id']}"
    assert api.put(f"{url}/policies", {"policies": {"0000000000000000": {}}}).status == 400
    assert api.post(f"{url}/approve", {"approved_by": "a"}).status == 200
    twice = api.post(f"{url}/approve", {"approved_by": "a"})
    assert twice.status == 409 and twice.body["error"]["details"]["status"] == "approved"
    assert "approved" in twice.body["error"]["message"]
    assert api.put(f"{url}/policies", {"policies": {anchor: {}}}).status == 409
    assert api.post(f"{url}/reject", {"rejected_by": "b"}).status == 409


def test_reject_records_who_and_why(api: Api, scenario: None) -> None:
    plan = create_plan(api)
    rejected = api.post(
        f"/api/v1/migration-plans/{plan['id']}/reject", {"rejected_by": "b", "reason": "too risky"}
    )
    assert rejected.status == 200
    assert (rejected.body["status"], rejected.body["rejected_by"], rejected.body["rejection_reason"]) == (
        "rejected",
        "b",
        "too risky",
    )


def test_approve_after_the_active_version_moved_on_is_a_conflict(api: Api, scenario: None) -> None:
    first, second = create_plan(api), create_plan(api, V2_DOWNSTREAM)
    assert api.post(f"/api/v1/migration-plans/{first['id']}/approve", {"approved_by": "a"}).status == 200
    assert api.post(f"/api/v1/migration-plans/{first['id']}/deploy").status == 202
    moved = api.post(f"/api/v1/migration-plans/{second['id']}/approve", {"approved_by": "a"})
    assert moved.status == 409


def test_a_pending_plans_new_version_is_readable_before_deploy(api: Api, scenario: None) -> None:
    """The registry has the new version only once deploy publishes it; a reviewer reads it from
    the plan (the console draws it beside the old one)."""
    plan = create_plan(api)
    assert api.get("/api/v1/scenarios/order-flow/versions/2").status == 404
    response = api.get(f"/api/v1/migration-plans/{plan['id']}/new-scenario")
    assert response.status == 200, response.body
    assert {k: response.body[k] for k in ("plan_id", "scenario_id", "version")} == {
        "plan_id": plan["id"],
        "scenario_id": "order-flow",
        "version": 2,
    }
    document = response.body["document"]
    assert [s["id"] for s in document["steps"]] == [s["id"] for s in V2_GAP["steps"]]
    assert document["steps"][1]["collects_fields"] == ["age"] and document["entry_step_id"] == "welcome"
    assert api.get("/api/v1/migration-plans/no-such-plan/new-scenario").status == 404


def test_another_tenant_sees_nothing(api: Api, scenario: None) -> None:
    plan = create_plan(api)
    other = Api("someone-else")
    for path in (
        f"/api/v1/migration-plans/{plan['id']}",
        f"/api/v1/migration-plans/{plan['id']}/summary",
        f"/api/v1/migration-plans/{plan['id']}/new-scenario",
        "/api/v1/scenarios/order-flow",
        "/api/v1/sessions/s1",
    ):
        response = other.get(path)
        assert response.status == 404 and response.body["error"]["code"] == "not_found"
    assert other.post(f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "x"}).status == 404
    assert other.get("/api/v1/migration-plans").body["items"] == []


@pytest.mark.parametrize("tenant", [None, "", "a b", "x" * 129, "tenant/1"])
def test_missing_or_invalid_tenant_is_a_400(api: Api, tenant: str | None) -> None:
    response = api.get("/api/v1/migration-plans", tenant=tenant)
    assert response.status == 400
    assert response.body["error"]["details"][0]["location"] == "header.x-tenant-id"


def test_bad_documents_list_every_problem(api: Api, scenario: None) -> None:
    malformed = api.post("/api/v1/scenarios/order-flow/migration-plan", raw="{not json")
    assert malformed.status == 400 and malformed.body["error"]["details"][0]["location"] == "body"
    wrong_types = api.post(
        "/api/v1/scenarios/order-flow/migration-plan",
        {"new_scenario": {"name": 3, "version": "two", "steps": "none"}, "created_by": 7},
    )
    locations = {d["location"] for d in wrong_types.body["error"]["details"]}
    assert wrong_types.status == 400
    assert {"new_scenario.name", "new_scenario.version", "new_scenario.steps", "created_by"} <= locations
    broken = order_flow(2, [step("welcome", "Welcome", ("nowhere", "age <", 0)), step("welcome", "Again")])
    response = api.post(
        "/api/v1/scenarios/order-flow/migration-plan", {"new_scenario": broken, "created_by": "x"}
    )
    messages = json.dumps(response.body["error"]["details"])
    assert response.status == 400 and response.body["error"]["code"] == "invalid_scenario"
    assert "target step 'nowhere' does not exist" in messages
    assert "invalid CEL condition" in messages and "transitions[0].condition" in messages
    assert "used 2 times" in messages


def test_oversize_body_is_a_413(api: Api, scenario: None) -> None:
    huge = {"new_scenario": {**V2_GAP, "description": "x" * 11_000_000}, "created_by": "x"}
    response = api.post("/api/v1/scenarios/order-flow/migration-plan", huge)
    assert response.status == 413 and response.body["error"]["code"] == "payload_too_large"


def test_registering_twice_is_a_conflict_and_versions_are_readable(api: Api, scenario: None) -> None:
    assert api.post("/api/v1/scenarios", V1).status == 409
    active = api.get("/api/v1/scenarios/order-flow").body
    assert (active["version"], active["active"], active["document"]["entry_step_id"]) == (1, True, "welcome")
    assert [v["version"] for v in api.get("/api/v1/scenarios/order-flow/versions").body["items"]] == [1]
    assert api.get("/api/v1/scenarios/order-flow/versions/1").status == 200
    assert api.get("/api/v1/scenarios/order-flow/versions/9").status == 404


def test_plan_for_a_version_not_above_the_active_one_is_a_conflict(api: Api, scenario: None) -> None:
    response = api.post(
        "/api/v1/scenarios/order-flow/migration-plan",
        {"new_scenario": {**V2_GAP, "version": 1}, "created_by": "x"},
    )
    assert response.status == 409


def test_listing_pages_through_plans_newest_first(api: Api, scenario: None) -> None:
    ids = [create_plan(api)["id"] for _ in range(3)]
    first = api.get("/api/v1/migration-plans", query={"limit": "2"}).body
    assert len(first["items"]) == 2 and first["next_token"]
    second = api.get("/api/v1/migration-plans", query={"limit": "2", "next_token": first["next_token"]}).body
    assert {p["id"] for p in first["items"] + second["items"]} == set(ids)
    assert api.get("/api/v1/migration-plans", query={"status": "approved"}).body["items"] == []
    assert api.get("/api/v1/migration-plans", query={"limit": "101"}).status == 400
    assert api.get("/api/v1/migration-plans", query={"next_token": "garbage!"}).status == 400


def test_session_reports_are_validated(api: Api, scenario: None) -> None:
    assert api.put("/api/v1/sessions/x", report("nowhere")).status == 400
    assert api.put("/api/v1/sessions/x", report("checkout", version=7)).status == 400
    assert api.put("/api/v1/sessions/x", {"scenario_id": "order-flow"}).status == 400
    assert api.put("/api/v1/sessions/bad id!", report("checkout")).status in (400, 404)
    session = api.get("/api/v1/sessions/s1").body
    assert (session["current_step_id"], session["scenario_version"], session["marker"]) == (
        "checkout",
        1,
        None,
    )
    assert api.get("/api/v1/sessions/s1/migrations").body == {"session_id": "s1", "migrations": []}

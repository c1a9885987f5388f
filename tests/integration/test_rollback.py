"""Issue 14, rollback: one call goes back from a deployment through the normal machinery (the old
content as a new version, a reverse plan, four eyes as configured, the plan cancelled and its
unmigrated sessions unmarked), with one audit record; sessions already migrated come back by the
same JIT rules, and a checkpoint they passed still blocks."""

from collections.abc import Callable

import pytest

from scenario_migration.domain.scenario import MAX_VERSION
from scenario_migration.services import deployments
from tests.documents import V1_PAYMENT, order_flow, report, step
from tests.integration.harness import Api, approve, deploy, drain, invoke_jit, propose, register

# V2 moves Payment (a checkpoint that charges) before Checkout.
V2_PAY_FIRST = order_flow(
    2,
    [
        step("welcome", "Welcome", "payment"),
        step("payment", "Payment", "checkout", is_checkpoint=True, performs_action=True),
        step("checkout", "Checkout", "confirm"),
        step("confirm", "Confirm"),
    ],
)
SESSIONS = {
    "shopper": report("checkout"),  # unpaid: routed to Payment on V2, pays there
    "browser": report("welcome"),
    "paid": report("confirm", visited_step_ids=["welcome", "checkout", "payment"]),
    "idle": report("checkout"),  # never writes while V2 is deployed: unmarked by the rollback
}


def jit(tenant: str, session_id: str) -> dict:
    return invoke_jit({"tenant_id": tenant, "session_id": session_id, "message": "hi"})


def on_v2(api: Api, queue_url: str, tenant: str) -> dict:
    """V1 -> V2 deployed; three customers wrote and moved to V2 (the shopper paid there)."""
    register(api, V1_PAYMENT, SESSIONS)
    plan = propose(api, V2_PAY_FIRST)
    approve(api, plan)
    deploy(api, plan)
    drain(queue_url)
    shopper = jit(tenant, "shopper")
    assert (shopper["migration_scenario"], shopper["to_step_id"]) == ("re_route", "payment")
    assert jit(tenant, "browser")["migration_scenario"] == "clean_graft"
    assert (jit(tenant, "paid")["outcome"], jit(tenant, "paid")["outcome"]) == ("migrated", "none")
    paid_on_v2 = report("checkout", version=2, visited_step_ids=["welcome", "payment"])
    assert api.put("/api/v1/sessions/shopper", paid_on_v2).status == 200  # the runtime: they paid
    return plan


def rollback(api: Api, plan: dict, **body: str) -> dict:
    response = api.post(f"/api/v1/migration-plans/{plan['id']}/rollback", {"created_by": "ops", **body})
    assert response.status == 200, response.body
    return response.body


def test_a_round_trip_v1_v2_v1(api: Api, queue_url: str, tenant: str) -> None:
    plan = on_v2(api, queue_url, tenant)
    rolled = rollback(api, plan, reason="customers confused by paying first")
    reverse = rolled["reverse_plan"]
    assert (rolled["status"], reverse["status"], reverse["from_version"], reverse["to_version"]) == (
        "cancelled",
        "pending",  # four eyes (require_approval): an approver other than its creator, then deploy
        2,
        3,
    )
    assert "approve" in rolled["next_step"]
    drain(queue_url)  # the unmarking
    assert api.get("/api/v1/sessions/idle").body["marker"]["state"] == "unmarked"
    # one audit record, in the plan's representation
    shown = api.get(f"/api/v1/migration-plans/{plan['id']}").body
    assert [a["action"] for a in shown["actions"]] == ["rollback"]
    record = shown["actions"][0]
    assert record["by"] == "ops" and record["details"]["reverse_plan_id"] == reverse["id"]
    assert record["details"]["reason"] == "customers confused by paying first"
    assert shown["rolled_back_by_plan"] == reverse["id"] and rolled["audit"] == record
    # the history stays append-only: V3 holds V1's content
    versions = api.get("/api/v1/scenarios/order-flow/versions").body["items"]
    assert [v["version"] for v in versions] == [1, 2]  # V3 is published by the reverse deploy
    reverse_plan = api.get(f"/api/v1/migration-plans/{reverse['id']}").body
    assert reverse_plan["rollback_of"] == plan["id"]
    assert api.post(f"/api/v1/migration-plans/{reverse['id']}/approve", {"approved_by": "lead"}).status == 200
    assert api.post(f"/api/v1/migration-plans/{reverse['id']}/deploy").status == 202
    drain(queue_url)
    v3 = api.get("/api/v1/scenarios/order-flow/versions/3").body
    assert (
        v3["document"]["steps"]
        == api.get("/api/v1/scenarios/order-flow/versions/1").body["document"]["steps"]
    )
    # the customers on V2 come back by JIT; the one who paid on V2 before Checkout is blocked
    shopper = jit(tenant, "shopper")
    assert shopper["outcome"] == "blocked" and "Payment" in shopper["reason"]
    for session_id, where in (("browser", "welcome"), ("paid", "confirm")):
        back = jit(tenant, session_id)
        assert (back["outcome"], back["to_version"], back["to_step_id"]) == ("migrated", 3, where), back
    assert jit(tenant, "idle")["outcome"] == "none"  # never migrated: stays on V1 (V1's content)
    on = {sid: api.get(f"/api/v1/sessions/{sid}").body["scenario_version"] for sid in SESSIONS}
    assert on == {"shopper": 2, "browser": 3, "paid": 3, "idle": 1}
    counts = api.get(f"/api/v1/migration-plans/{reverse['id']}/deployment-status").body
    assert (counts["migrations_applied"], counts["checkpoint_blocks"]) == (2, 1)
    undone = api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body
    assert (undone["status"], undone["sessions_unmarked"], undone["migrations_pending"]) == (
        "cancelled",
        1,
        0,
    )


def test_without_require_approval_the_reverse_plan_is_deployed_at_once(
    api: Api, queue_url: str, tenant: str, configure: Callable[..., None]
) -> None:
    plan = on_v2(api, queue_url, tenant)
    configure(deployment__require_approval="false")
    rolled = rollback(api, plan)
    assert (rolled["reverse_plan"]["status"], rolled["next_step"]) == ("deploying", None)
    drain(queue_url)
    assert api.get("/api/v1/scenarios/order-flow").body["version"] == 3  # new sessions: V1's content
    assert jit(tenant, "browser")["to_version"] == 3


def test_the_reverse_plan_grafts_without_asking(api: Api, queue_url: str, tenant: str) -> None:
    """V2 dropped an age question V1 asked before Checkout: going back never asks it (its anchors
    are forced to a clean graft), and the policies say so."""
    ask_age = step("age", "Age", "checkout", collects_fields=["age"])
    v1 = order_flow(1, [step("welcome", "Welcome", "age"), ask_age, *V1_PAYMENT["steps"][1:]])
    register(api, v1, {"c": report("checkout", visited_step_ids=["welcome", "age"])})
    v2 = order_flow(2, [step("welcome", "Welcome", "checkout"), *V1_PAYMENT["steps"][1:]])
    plan = propose(api, v2)
    approve(api, plan)
    deploy(api, plan)
    drain(queue_url)
    assert jit(tenant, "c")["outcome"] == "migrated"
    rolled = rollback(api, plan)
    forced = {p.get("force_scenario") for p in rolled["reverse_plan"]["policies"].values()}
    assert forced == {"clean_graft"}
    reverse = rolled["reverse_plan"]["id"]
    assert api.post(f"/api/v1/migration-plans/{reverse}/approve", {"approved_by": "lead"}).status == 200
    assert api.post(f"/api/v1/migration-plans/{reverse}/deploy").status == 202
    drain(queue_url)
    back = jit(tenant, "c")
    assert (back["outcome"], back["migration_scenario"], back["questions"]) == ("migrated", "clean_graft", [])


def test_rollback_rules(api: Api, queue_url: str, tenant: str) -> None:
    register(api, V1_PAYMENT, SESSIONS)
    plan = propose(api, V2_PAY_FIRST)
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/rollback", {"created_by": "ops"}).status == 409
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/rollback", {}).status == 400  # who (header mode)
    approve(api, plan)
    deploy(api, plan)
    drain(queue_url)
    first = rollback(api, plan)
    again = rollback(api, plan)  # resumes: the same reverse plan, no second one, no second record
    assert again["reverse_plan"]["id"] == first["reverse_plan"]["id"]
    drain(queue_url)
    listed = api.get("/api/v1/migration-plans", query={"scenario_id": "order-flow"}).body["items"]
    assert len(listed) == 2
    assert len(api.get(f"/api/v1/migration-plans/{plan['id']}").body["actions"]) == 1
    assert api.post("/api/v1/migration-plans/nope/rollback", {"created_by": "ops"}).status == 404


def test_rolling_back_a_canary(api: Api, queue_url: str, tenant: str, configure: Callable[..., None]) -> None:
    """A canary that kept new sessions on V1: its migrated slice comes back, the scenario can be
    deployed again."""
    register(api, V1_PAYMENT, {f"s{i:02d}": report("welcome") for i in range(20)})
    plan = propose(api, V2_PAY_FIRST)
    approve(api, plan)
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/deploy", {"canary_percent": 50}).status == 202
    drain(queue_url)
    moved = [sid for sid in (f"s{i:02d}" for i in range(20)) if jit(tenant, sid)["outcome"] == "migrated"]
    assert moved
    configure(deployment__require_approval="false")
    rolled = rollback(api, plan)
    assert rolled["reverse_plan"]["from_version"] == 2 and rolled["next_step"] is None
    drain(queue_url)
    assert all(jit(tenant, sid)["to_version"] == 3 for sid in moved)
    assert api.get("/api/v1/scenarios/order-flow").body["version"] == 3


def test_a_repeated_rollback_carries_on_a_reverse_deploy_cut_short(
    api: Api, queue_url: str, tenant: str, configure: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollback died after the reverse plan's status change, before its first pages: calling
    rollback again sends them (it answered `next_step: null` and left the reverse plan deploying
    for ever), and the reverse plan ends deployed with V2's customers back."""
    plan = on_v2(api, queue_url, tenant)
    configure(deployment__require_approval="false")
    with monkeypatch.context() as patched:
        patched.setattr(deployments, "_start_marking", _timed_out)
        assert api.post(f"/api/v1/migration-plans/{plan['id']}/rollback", {"created_by": "ops"}).status == 500
    again = rollback(api, plan)
    assert again["next_step"] is None
    drain(queue_url)
    reverse = again["reverse_plan"]["id"]
    found = api.get(f"/api/v1/migration-plans/{reverse}/deployment-status").body
    assert found["status"] == "deployed" and found["sessions_marked"] == 3, found  # the three on V2
    assert jit(tenant, "browser")["to_version"] == 3


def _timed_out(*_: object, **__: object) -> None:
    raise RuntimeError("the function timed out")


def test_no_rollback_past_the_highest_version_number(api: Api, queue_url: str) -> None:
    """V2 numbered 99,999,999, the highest a version may have: a rollback, which publishes the old
    content as one more version, is a 409 that changes nothing (it was a 500, found by fuzzing)."""
    register(api, V1_PAYMENT, SESSIONS)
    plan = propose(api, {**V2_PAY_FIRST, "version": MAX_VERSION})
    approve(api, plan)
    deploy(api, plan)
    drain(queue_url)
    response = api.post(f"/api/v1/migration-plans/{plan['id']}/rollback", {"created_by": "ops"})
    assert response.status == 409 and response.body["error"]["details"]["max_version"] == MAX_VERSION
    shown = api.get(f"/api/v1/migration-plans/{plan['id']}").body
    assert (shown["status"], shown["actions"]) == ("deployed", [])

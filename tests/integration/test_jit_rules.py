"""Issue 10 through the handlers: conditions that fail, counters that stay exact across plans and
cancels, policies that resolve once, critical warnings acknowledged at approval."""

from typing import Any

import pytest

from scenario_migration import observability
from scenario_migration.config import get_settings
from tests.documents import AGE_FIELD, V1, V1_PAYMENT, V2_GAP, order_flow, report, step
from tests.integration.harness import Api, deploy, deploy_version, drain, invoke_jit, propose, register, world

MAX_REASKS = get_settings().gap_fill.max_reasks


def status(api: Api, plan: dict) -> dict:
    return api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body


def audit(api: Api, session_id: str) -> list[dict]:
    return api.get(f"/api/v1/sessions/{session_id}/migrations").body["migrations"]


@pytest.fixture
def jit(tenant: str) -> Any:
    def call(session_id: str, message: str | None = "hi", **extra: Any) -> dict[str, Any]:
        return invoke_jit({"tenant_id": tenant, "session_id": session_id, "message": message, **extra})

    return call


# -- a condition that fails at run time -------------------------------------------------------------------

# The quickstart's own V2 without a `fields` catalogue: `age` is a string, `age < 18` cannot compare.
UNTYPED_FORK = order_flow(
    2,
    [
        step("welcome", "Welcome", "age_check"),
        step(
            "age_check",
            "Age Verification",
            ("rejection", "age < 18", 1),
            ("checkout", "age >= 18", 0),
            collects_fields=["age"],
        ),
        step("rejection", "Rejection"),
        step("checkout", "Checkout", "confirm"),
        step("confirm", "Confirm"),
    ],
    fields=(),
)


def test_a_condition_that_fails_is_critical_and_never_crashes_jit(
    api: Api, queue_url: str, jit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(api, V1, {"c": report("checkout")})
    plan = propose(api, UNTYPED_FORK)
    critical = [w for w in plan["summary"]["warnings"] if w["severity"] == "critical"]
    assert [w["code"] for w in critical] == ["condition_type:age_check:0", "condition_type:age_check:1"]
    refused = api.post(f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "op"})
    assert refused.status == 409
    assert [w["code"] for w in refused.body["error"]["details"]["critical_warnings"]] == [
        w["code"] for w in critical
    ]
    typo = api.post(
        f"/api/v1/migration-plans/{plan['id']}/approve",
        {"approved_by": "op", "acknowledged_warnings": ["nope"]},
    )
    assert typo.status == 400
    acknowledged = {
        "approved_by": "op",
        "acknowledged_warnings": [critical[0]["code"], critical[1]["message"]],
    }
    approved = api.post(f"/api/v1/migration-plans/{plan['id']}/approve", acknowledged)
    assert approved.status == 200 and approved.body["acknowledged_warnings"] == sorted(
        acknowledged["acknowledged_warnings"]
    )
    deploy(api, plan)
    drain(queue_url)
    metrics: list[str] = []
    monkeypatch.setattr(observability.metrics, "add_metric", lambda name, **_: metrics.append(name))
    outcomes = [jit("c", profile={"age": "34"}) for _ in range(MAX_REASKS + 2)]
    assert [o["outcome"] for o in outcomes] == ["kept"] * (MAX_REASKS + 1) + ["none"]  # tried, then final
    assert all("age < 18" in o["reason"] and "'age_check'" in o["reason"] for o in outcomes[:-1])
    assert metrics.count("ConditionErrors") == MAX_REASKS + 1
    assert [record["outcome"] for record in audit(api, "c")] == ["kept"] * (MAX_REASKS + 1)
    counts = status(api, plan)
    assert (counts["condition_errors"], counts["sessions_kept"], counts["migrations_pending"]) == (
        MAX_REASKS + 1,
        1,
        0,
    )


# -- counters across plans -------------------------------------------------------------------------------

V3 = order_flow(
    3,
    [
        step("welcome", "Welcome", "age_check"),
        step("age_check", "Age Verification", "checkout", collects_fields=["age"]),
        step("checkout", "Checkout", "confirm"),
        step("confirm", "Confirm", "thanks"),
        step("thanks", "Thanks"),
    ],
)


def test_asked_under_plan_1_answered_after_plan_2_keeps_both_plans_exact(
    api: Api, queue_url: str, jit: Any
) -> None:
    plan1 = world(api, queue_url, V1, V2_GAP, {"s": report("checkout")})
    assert jit("s")["outcome"] == "needs_input"
    assert status(api, plan1)["sessions_awaiting_input"] == 1
    plan2 = deploy_version(api, queue_url, V3)  # V2 -> V3: the session, still on V1, is not marked by it
    answered = jit("s", "34")
    assert (answered["outcome"], answered["plan_id"], answered["to_version"]) == ("migrated", plan2["id"], 3)
    one, two = status(api, plan1), status(api, plan2)
    assert (one["sessions_awaiting_input"], one["migrations_pending"], one["sessions_marked"]) == (0, 0, 1)
    assert (two["sessions_awaiting_input"], two["migrations_applied"], two["migrations_pending"]) == (0, 1, 0)


def test_a_session_reported_on_the_new_version_settles_its_marker(api: Api, queue_url: str, jit: Any) -> None:
    """The runtime moved it by itself: nothing to migrate, and nothing left pending."""
    plan = world(api, queue_url, V1, V2_GAP, {"s": report("checkout")})
    assert api.put("/api/v1/sessions/s", report("confirm", version=2)).status == 200
    assert jit("s")["outcome"] == "none"
    assert status(api, plan)["migrations_pending"] == 0
    assert api.get("/api/v1/sessions/s").body["marker"]["state"] == "applied"


def test_cancel_settles_sessions_waiting_on_the_customer(api: Api, queue_url: str, jit: Any) -> None:
    """Waiting after a fan-out marker, and waiting after JIT marked it (a session that reached an
    anchor after the fan-out): both settled, both counters back to exact zeros."""
    plan = world(api, queue_url, V1, V2_GAP, {"marked": report("checkout")})
    api.put("/api/v1/sessions/late", report("checkout"))  # reported after the fan-out passed
    assert jit("marked")["outcome"] == "needs_input"
    assert jit("late")["outcome"] == "needs_input"
    assert status(api, plan)["sessions_awaiting_input"] == 2
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/cancel").status == 200
    drain(queue_url)
    counts = status(api, plan)
    assert (counts["sessions_awaiting_input"], counts["migrations_pending"], counts["sessions_unmarked"]) == (
        0,
        0,
        1,
    )
    for session_id in ("marked", "late"):
        assert api.get(f"/api/v1/sessions/{session_id}").body["marker"]["state"] == "unmarked"
        assert jit(session_id, "34")["outcome"] == "none"


# -- policies resolve once, deleted steps included ---------------------------------------------------------


def test_a_session_on_a_deleted_step_follows_its_nearest_anchor_s_policy(
    api: Api, queue_url: str, jit: Any
) -> None:
    old = order_flow(
        1,
        [
            step("welcome", "Welcome", "survey"),
            step("survey", "Survey", "checkout"),
            step("checkout", "Checkout", "confirm"),
            step("confirm", "Confirm"),
        ],
    )
    new = order_flow(
        2,
        [
            step("welcome", "Welcome", "checkout"),
            step("checkout", "Checkout", "confirm"),
            step("confirm", "Confirm"),
        ],
    )
    register(api, old, {"on-survey": report("survey"), "at-checkout": report("checkout")})
    plan = propose(api, new)
    checkout = next(a for a in plan["transformation_map"]["anchors"] if a["to_step_id"] == "checkout")
    policies = {checkout["anchor_content_hash"]: {"update_downstream": False}}
    assert api.put(f"/api/v1/migration-plans/{plan['id']}/policies", {"policies": policies}).status == 200
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "op"}).status == 200
    deploy(api, plan)
    drain(queue_url)
    assert status(api, plan)["sessions_marked"] == 0  # neither is in scope
    assert jit("on-survey")["outcome"] == "kept"  # JIT resolves the same anchor and policy
    assert jit("at-checkout")["outcome"] == "kept"


# -- the replay walk through the handler -------------------------------------------------------------------

SHOP_V2 = order_flow(
    2,
    [
        step("welcome", "Welcome", "payment"),
        step("payment", "Payment", "checkout", is_checkpoint=True, performs_action=True),
        step("checkout", "Checkout", "confirm"),
        step("confirm", "Confirm"),
    ],
    fields=(AGE_FIELD,),
)


def test_an_unpaid_order_is_routed_to_the_payment_moved_before_it(api: Api, queue_url: str, jit: Any) -> None:
    sessions = {
        "unpaid": report("checkout", visited_step_ids=["welcome"]),
        "paid": report("confirm", visited_step_ids=["welcome", "checkout", "payment"]),
    }
    plan = world(api, queue_url, V1_PAYMENT, SHOP_V2, sessions)
    routed = jit("unpaid")
    assert (routed["outcome"], routed["to_step_id"], routed["migration_scenario"]) == (
        "migrated",
        "payment",
        "re_route",
    )
    assert routed["message"] == get_settings().re_routing.notification_template
    paid = jit("paid")
    assert (paid["outcome"], paid["to_step_id"], paid["migration_scenario"]) == (
        "migrated",
        "confirm",
        "clean_graft",
    )
    warning = next(w for w in plan["summary"]["warnings"] if w["code"] == "routed_to_step:payment")
    assert warning["affected_sessions_estimate"] == 1


# -- tenants --------------------------------------------------------------------------------------------


def test_another_tenant_s_jit_call_changes_nothing(api: Api, queue_url: str, tenant: str) -> None:
    """The payload's tenant scopes every key JIT reads or writes: tenant B invoking JIT with the
    ids of tenant A's sessions reaches B's sessions (or none), never A's."""
    plan = world(api, queue_url, V1, V2_GAP, {"shared": report("checkout"), "only-a": report("checkout")})
    other = Api(f"{tenant}-b")
    register(other, V1, {"shared": report("welcome")})
    deploy_version(other, queue_url, V2_GAP)
    as_b = {"tenant_id": other.tenant, "message": "hi"}
    assert invoke_jit({**as_b, "session_id": "only-a"}) == {"outcome": "none"}
    assert invoke_jit({**as_b, "session_id": "shared"})["outcome"] == "migrated"  # B's own session
    for session_id in ("shared", "only-a"):
        session = api.get(f"/api/v1/sessions/{session_id}").body
        assert (session["scenario_version"], session["marker"]["state"]) == (1, "pending"), session
        assert audit(api, session_id) == []
    counts = status(api, plan)
    assert (counts["migrations_applied"], counts["migrations_pending"]) == (0, 2)


def test_a_kind_of_warning_acknowledges_each_warning_of_that_kind(api: Api, queue_url: str) -> None:
    """A large plan can have thousands of critical warnings of one kind (bench/plan_api.py: 8,316
    at 20,000 steps, more than an approval may list): the kind, the code's first part,
    acknowledges them all; a kind the plan does not have is a 400."""
    register(api, V1, {"c": report("checkout")})
    plan = propose(api, UNTYPED_FORK)
    url = f"/api/v1/migration-plans/{plan['id']}/approve"
    assert api.post(url, {"approved_by": "op", "acknowledged_warnings": ["condition"]}).status == 400
    assert api.post(url, {"approved_by": "op", "acknowledged_warnings": ["routed_to_step"]}).status == 400
    approved = api.post(url, {"approved_by": "op", "acknowledged_warnings": ["condition_type"]})
    assert approved.status == 200 and approved.body["acknowledged_warnings"] == ["condition_type"]

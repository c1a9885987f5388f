"""Issue "JIT apply": outcomes, target steps, counters and exactly-once, through the handler."""

import threading
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

from scenario_migration.config import get_settings, load_settings
from scenario_migration.services import jit
from scenario_migration.store import dynamodb
from tests.documents import (
    V1,
    V1_PAYMENT,
    V2_DOWNSTREAM,
    V2_FORK,
    V2_FORK_PAYMENT,
    V2_GAP,
    order_flow,
    report,
    step,
)
from tests.integration.harness import Api, deploy_version, invoke_jit, world


def status(api: Api, plan: dict) -> dict:
    return api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body


class Jit:
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    def __call__(self, session_id: str, message: str | None = "hi", **extra: Any) -> dict[str, Any]:
        return invoke_jit({"tenant_id": self.tenant, "session_id": session_id, "message": message, **extra})


@pytest.fixture
def customer(tenant: str) -> Jit:
    return Jit(tenant)


def test_clean_graft(api: Api, queue_url: str, customer: Jit) -> None:
    plan = world(api, queue_url, V1, V2_DOWNSTREAM, {"c": report("checkout")})
    result = customer("c")
    assert (result["outcome"], result["migration_scenario"], result["to_step_id"]) == (
        "migrated",
        "clean_graft",
        "checkout",
    )
    assert result["message"] is None and result["session"] == {
        "scenario_id": "order-flow",
        "scenario_version": 2,
        "current_step_id": "checkout",
    }
    counts = status(api, plan)
    assert (
        counts["migrations_applied"],
        counts["migrations_by_scenario"]["clean_graft"],
        counts["migrations_pending"],
    ) == (1, 1, 0)
    assert counts["last_migration_at"]
    session = api.get("/api/v1/sessions/c").body
    assert (session["scenario_version"], session["current_step_id"], session["marker"]["state"]) == (
        2,
        "checkout",
        "applied",
    )
    assert customer("c", "next message")["outcome"] == "none"


def test_gap_fill_profile_conversation_and_question(api: Api, queue_url: str, customer: Jit) -> None:
    sessions = {k: report("checkout") for k in ("profile", "said", "asked", "vague")}
    plan = world(api, queue_url, V1, V2_GAP, sessions)
    by_profile = customer("profile", profile={"age": 40})
    assert (by_profile["outcome"], by_profile["filled_fields"]["age"]["source"], by_profile["message"]) == (
        "migrated",
        "profile",
        None,
    )
    said = customer("said", conversation=[{"role": "customer", "text": "I'm 34 years old"}])
    assert said["outcome"] == "migrated" and said["filled_fields"]["age"]["value"] == 34
    asked = customer("asked")
    assert asked["outcome"] == "needs_input"
    assert asked["questions"] == [{"field": "age", "text": "Before we continue, what is your age?"}]
    assert status(api, plan)["sessions_awaiting_input"] == 1
    answered = customer("asked", "34")
    assert (answered["outcome"], answered["to_step_id"], answered["filled_fields"]["age"]["source"]) == (
        "migrated",
        "checkout",
        "customer",
    )
    attempts = [customer("vague", text)["outcome"] for text in ("hi", "10 minutes", "no idea", "what?")]
    assert attempts == ["needs_input", "needs_input", "needs_input", "kept"]
    assert customer("vague", "34")["outcome"] == "none"  # kept for good: never a loop
    counts = status(api, plan)
    assert (
        counts["migrations_by_scenario"]["gap_fill"],
        counts["sessions_kept"],
        counts["sessions_awaiting_input"],
    ) == (3, 1, 0)


def test_re_route(api: Api, queue_url: str, customer: Jit) -> None:
    plan = world(api, queue_url, V1, V2_FORK, {k: report("checkout") for k in ("minor", "adult", "unknown")})
    minor = customer("minor", profile={"age": 17})
    assert (minor["outcome"], minor["to_step_id"], minor["migration_scenario"]) == (
        "migrated",
        "rejection",
        "re_route",
    )
    assert minor["message"] == get_settings().re_routing.notification_template
    adult = customer("adult", profile={"age": 30})
    assert (adult["outcome"], adult["to_step_id"], adult["message"]) == ("migrated", "checkout", None)
    unknown = customer("unknown")
    assert unknown["outcome"] == "needs_input" and unknown["questions"][0]["field"] == "age"
    assert customer("unknown", "16")["to_step_id"] == "rejection"
    # per customer: the adult reached Checkout through the new Age Verification (a gap filled)
    assert status(api, plan)["migrations_by_scenario"] == {"clean_graft": 0, "gap_fill": 1, "re_route": 2}


def test_checkpoint_blocks_for_good(api: Api, queue_url: str, customer: Jit) -> None:
    paid = report("confirm", visited_step_ids=["welcome", "checkout", "payment"])
    plan = world(api, queue_url, V1_PAYMENT, V2_FORK_PAYMENT, {"paid": paid})
    first = customer("paid", profile={"age": 17})
    assert first["outcome"] == "blocked" and first["session"]["scenario_version"] == 1
    for message in ("one", "two", "three"):
        assert customer("paid", message, profile={"age": 17})["outcome"] == "none"
    session = api.get("/api/v1/sessions/paid").body
    assert (session["scenario_version"], session["current_step_id"], session["marker"]["state"]) == (
        1,
        "confirm",
        "blocked",
    )
    counts = status(api, plan)
    assert (counts["checkpoint_blocks"], counts["migrations_applied"], counts["migrations_pending"]) == (
        1,
        0,
        0,
    )
    audit = api.get("/api/v1/sessions/paid/migrations").body["migrations"]
    assert len(audit) == 1 and audit[0]["blocked"] is True


def test_sibling_branches(api: Api, queue_url: str, customer: Jit) -> None:
    fields = [
        {"name": "phone", "type": "phone"},
        {"name": "email", "type": "email"},
        {"name": "contact", "type": "enum", "values": ["phone", "email"]},
    ]
    fork = ("by_phone", "contact == 'phone'", 1), ("by_email", None, 0)
    old = {
        **order_flow(
            1,
            [
                step("start", "Start", *fork, collects_fields=["contact"]),
                step("by_phone", "Phone Route", "done"),
                step("by_email", "Email Route", "done"),
                step("done", "Done"),
            ],
        ),
        "fields": fields,
    }
    new = {
        **order_flow(
            2,
            [
                step("start", "Start", *fork, collects_fields=["contact"]),
                step("by_phone", "Phone Route", "ask_phone"),
                step("ask_phone", "Ask Phone", "done", collects_fields=["phone"]),
                step("by_email", "Email Route", "ask_email"),
                step("ask_email", "Ask Email", "done", collects_fields=["email"]),
                step("done", "Done"),
            ],
        ),
        "fields": fields,
    }
    visited = report("done", visited_step_ids=["start", "by_phone"], variables={"contact": "phone"})
    world(api, queue_url, old, new, {"p": visited})
    asked = customer("p")
    assert asked["outcome"] == "needs_input" and [q["field"] for q in asked["questions"]] == ["phone"]
    done = customer("p", "+33 6 12 34 56 78")
    assert done["outcome"] == "migrated" and set(done["filled_fields"]) == {"phone"}


def test_deleted_step_lands_on_the_nearest_anchor(api: Api, queue_url: str, customer: Jit) -> None:
    old = order_flow(
        1,
        [
            step("welcome", "Welcome", "survey"),
            step("survey", "Survey", "checkout"),
            step("checkout", "Checkout", "confirm"),
            step("confirm", "Confirm"),
        ],
    )
    plan = world(api, queue_url, old, V2_DOWNSTREAM, {"x": report("survey")})
    assert status(api, plan)["sessions_marked"] == 1
    result = customer("x")
    assert (result["outcome"], result["to_step_id"]) == ("migrated", "checkout")


def test_three_versions_migrate_once_to_the_active_one(api: Api, queue_url: str, customer: Jit) -> None:
    v3 = order_flow(
        3,
        [
            step("welcome", "Welcome", "checkout"),
            step("checkout", "Checkout", "age_check"),
            step("age_check", "Age Check", "confirm", collects_fields=["age"]),
            step("confirm", "Confirm"),
        ],
    )
    world(api, queue_url, V1, V2_DOWNSTREAM, {"late": report("confirm")})
    plan3 = deploy_version(api, queue_url, {**v3, "steps": v3["steps"]})
    asked = customer("late")
    assert (
        asked["outcome"] == "needs_input"
        and asked["to_version"] == 3
        and asked["questions"][0]["field"] == "age"
    )
    done = customer("late", "41")
    assert (done["outcome"], done["from_version"], done["to_version"], done["to_step_id"]) == (
        "migrated",
        1,
        3,
        "confirm",
    )
    assert len(api.get("/api/v1/sessions/late/migrations").body["migrations"]) == 1
    assert status(api, plan3)["migrations_applied"] == 1


@pytest.mark.parametrize("request_id", [None, "msg-1"])
def test_twenty_concurrent_invocations_apply_once(
    api: Api, queue_url: str, customer: Jit, request_id: str | None
) -> None:
    """One migration, one audit record, exact counters. With the runtime's request_id the other
    invocations are retries and get the winner's answer; without one each is a new message,
    which finds the session migrated already."""
    plan = world(api, queue_url, V1, V2_DOWNSTREAM, {"hot": report("checkout")})
    results: list[dict] = []
    extra = {"request_id": request_id} if request_id else {}

    def invoke() -> None:
        results.append(customer("hot", "same message", **extra))

    threads = [threading.Thread(target=invoke) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r["outcome"] == "migrated"]
    assert len(results) == 20 and len(winners) == (20 if request_id else 1)
    assert all(r == winners[0] for r in winners)
    assert all(r == {"outcome": "none"} for r in results if r["outcome"] != "migrated")
    assert len(api.get("/api/v1/sessions/hot/migrations").body["migrations"]) == 1
    counts = status(api, plan)
    assert (counts["migrations_applied"], counts["migrations_pending"]) == (1, 0)


def test_a_retried_invocation_returns_the_same_answer(api: Api, queue_url: str, customer: Jit) -> None:
    world(api, queue_url, V1, V2_GAP, {"r": report("checkout")})
    first = customer("r", "hello", request_id="msg-1")
    assert first["outcome"] == "needs_input"
    assert customer("r", "hello", request_id="msg-1") == first
    answered = customer("r", "34", request_id="msg-2")
    assert customer("r", "34", request_id="msg-2") == answered and answered["outcome"] == "migrated"


def test_fast_path_costs_one_read(api: Api, queue_url: str, customer: Jit) -> None:
    world(api, queue_url, V1, V2_DOWNSTREAM, {"done": report("checkout")})
    customer("done")  # migrated; the active version is now cached in this container
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client = dynamodb.client()
    client.meta.events.register("after-call", count)
    try:
        assert customer("done", "another message")["outcome"] == "none"
    finally:
        client.meta.events.unregister("after-call", count)
    assert calls == ["GetItem"]


def test_disabled_service_returns_none(
    api: Api, queue_url: str, customer: Jit, monkeypatch: pytest.MonkeyPatch
) -> None:
    world(api, queue_url, V1, V2_DOWNSTREAM, {"off": report("checkout")})
    monkeypatch.setattr(jit, "get_settings", lambda: load_settings(enabled=False))
    assert customer("off")["outcome"] == "none"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"tenant_id": "acme"},
        {"tenant_id": "a b", "session_id": "x"},
        {"tenant_id": "a", "session_id": "x", "extra": 1},
        {"tenant_id": "a", "session_id": "x", "conversation": "not a list"},
    ],
)
def test_bad_input_is_a_clear_error(payload: dict) -> None:
    result = invoke_jit(payload)
    assert (
        result["outcome"] == "error"
        and result["error"]["code"] == "invalid_input"
        and result["error"]["details"]
    )


def test_unknown_session_is_none(tenant: str) -> None:
    assert invoke_jit({"tenant_id": tenant, "session_id": "never-reported"}) == {"outcome": "none"}


class LostResponses:
    """A fault of the network: the first `count` transactions reach DynamoDB and are applied, but
    their responses are lost (a read timeout), so botocore retries them, token and all."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.http = URLLib3Session()

    def __call__(self, request: Any, **_: Any) -> None:
        if self.count == 0:
            return None
        self.count -= 1
        assert self.http.send(request).status_code == 200  # applied...
        raise ReadTimeoutError(endpoint_url=request.url)  # ...but unanswered


@pytest.mark.parametrize("request_id", [None, "msg-1"])
def test_a_migration_whose_response_was_lost_is_applied_once(
    api: Api, queue_url: str, customer: Jit, request_id: str | None
) -> None:
    """The rule: a write applied once is never applied again, nor decided again. DynamoDB (and
    DynamoDB Local) take botocore's retry as the same transaction (its ClientRequestToken); where
    the retry is refused by the revision the first attempt moved (moto), the invocation finds
    its own answer in the session."""
    plan = world(api, queue_url, V1, V2_DOWNSTREAM, {"lost": report("checkout")})
    events = dynamodb.client().meta.events
    lost = LostResponses(1)
    events.register_first("before-send.dynamodb.TransactWriteItems", lost)
    try:
        result = customer("lost", **({"request_id": request_id} if request_id else {}))
    finally:
        events.unregister("before-send.dynamodb.TransactWriteItems", lost)
    assert lost.count == 0 and result["outcome"] == "migrated"
    assert len(api.get("/api/v1/sessions/lost/migrations").body["migrations"]) == 1
    counts = status(api, plan)
    assert (counts["migrations_applied"], counts["migrations_pending"]) == (1, 0)
    assert customer("lost") == {"outcome": "none"}  # the next message: nothing left to do

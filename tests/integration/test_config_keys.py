"""Every key of config/default.toml changes behaviour: each test flips one through the environment
(as a stack would) and observes the effect through the handlers. Gap-fill, re-routing and
checkpoint keys are also covered at the decision level in tests/unit/test_jit_decision.py."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from scenario_migration.adapters import bedrock
from scenario_migration.domain.extraction import RuleExtractor
from scenario_migration.services import jit as jit_service
from scenario_migration.services import retention
from scenario_migration.store import dynamodb, keys
from scenario_migration.store import plans as plan_store
from tests.bedrock_stubs import MODEL, converse_answer, runtime_client
from tests.documents import V1, V2_DOWNSTREAM, V2_FORK, V2_GAP, report
from tests.integration.harness import Api, drain, invoke_jit, propose, register, world
from tests.integration.harness import approve as approve_plan
from tests.integration.test_canary import guarded


def plan_for(api: Api, document: dict, sessions: dict[str, dict] | None = None, approve: bool = True) -> dict:
    register(api, V1, sessions or {})
    plan = propose(api, document)
    if approve:
        approve_plan(api, plan)
    return plan


def jit(tenant: str, session_id: str, message: str = "hi", **extra: object) -> dict:
    return invoke_jit({"tenant_id": tenant, "session_id": session_id, "message": message, **extra})


def test_enabled(api: Api, tenant: str, queue_url: str, configure: Callable[..., None]) -> None:
    plan = plan_for(api, V2_DOWNSTREAM, {"a": report("checkout")})
    configure(enabled="false")
    refused = api.post(f"/api/v1/migration-plans/{plan['id']}/deploy")
    assert refused.status == 409 and "disabled" in refused.body["error"]["message"]
    configure(enabled="true")
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/deploy").status == 202
    drain(queue_url)
    configure(enabled="false")
    assert jit(tenant, "a")["outcome"] == "none"
    configure(enabled="true")
    assert jit(tenant, "a")["outcome"] == "migrated"


def test_require_approval(api: Api, queue_url: str, configure: Callable[..., None]) -> None:
    plan = plan_for(api, V2_DOWNSTREAM, approve=False)
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/deploy").status == 409
    configure(deployment__require_approval="false")
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/deploy").status == 202
    drain(queue_url)


def test_auto_mark_sessions(api: Api, tenant: str, queue_url: str, configure: Callable[..., None]) -> None:
    plan = plan_for(api, V2_DOWNSTREAM, {"a": report("checkout")})
    configure(deployment__auto_mark_sessions="false")
    deployed = api.post(f"/api/v1/migration-plans/{plan['id']}/deploy").body
    assert (deployed["work_units"], deployed["status"]) == (0, "deployed")
    assert drain(queue_url) == []
    assert api.get("/api/v1/sessions/a").body["marker"] is None
    result = jit(tenant, "a")  # migrated at the next message anyway
    assert (result["outcome"], result["to_step_id"]) == ("migrated", "checkout")
    status = api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body
    assert (status["sessions_marked"], status["migrations_applied"]) == (0, 1)


def test_gap_fill_keys(api: Api, tenant: str, queue_url: str, configure: Callable[..., None]) -> None:
    world(api, queue_url, V1, V2_GAP, {k: report("checkout") for k in ("x", "y", "z", "w")})
    said = [{"role": "customer", "text": "I'm 34"}]
    configure(gap_fill__extraction_enabled="false")
    assert jit(tenant, "x", conversation=said)["outcome"] == "needs_input"
    configure(gap_fill__extraction_enabled="true", gap_fill__confirmation_threshold="0.99")
    confirm = jit(tenant, "y", conversation=said)
    assert confirm["outcome"] == "needs_input" and "confirm" in confirm["message"]
    configure(gap_fill__extraction_confidence_threshold="0.97")  # confirmation stays 0.99
    assert jit(tenant, "z", conversation=said)["outcome"] == "needs_input"  # 0.9 < 0.97: ignored
    configure(gap_fill__extraction_confidence_threshold="0.85", gap_fill__confirmation_threshold="0.95")
    configure(gap_fill__max_conversation_turns="1")
    assert (
        jit(tenant, "w", conversation=[*said, {"role": "customer", "text": "ok"}])["outcome"] == "needs_input"
    )


def test_max_reasks(api: Api, tenant: str, queue_url: str, configure: Callable[..., None]) -> None:
    world(api, queue_url, V1, V2_GAP, {"v": report("checkout")})
    configure(gap_fill__max_reasks="0")
    assert jit(tenant, "v")["outcome"] == "needs_input"
    assert jit(tenant, "v", "no idea")["outcome"] == "kept"


def test_re_routing_keys(api: Api, tenant: str, queue_url: str, configure: Callable[..., None]) -> None:
    world(api, queue_url, V1, V2_FORK, {k: report("checkout") for k in ("a", "b", "c")})
    minor = {"profile": {"age": 16}}
    configure(re_routing__notification_template="Your journey has changed.")
    assert jit(tenant, "a", **minor)["message"] == "Your journey has changed."
    configure(re_routing__notify_user="false")
    result = jit(tenant, "b", **minor)
    assert (result["to_step_id"], result["message"]) == ("rejection", None)
    configure(re_routing__enabled="false")
    assert jit(tenant, "c", **minor)["to_step_id"] == "checkout"


def test_limits(api: Api, configure: Callable[..., None]) -> None:
    assert api.post("/api/v1/scenarios", V1).status == 201
    configure(limits__max_steps="3")
    too_many = api.post(
        "/api/v1/scenarios/order-flow/migration-plan", {"new_scenario": V2_GAP, "created_by": "op"}
    )
    assert too_many.status == 400 and "limit of 3" in str(too_many.body["error"]["details"])
    configure(limits__max_steps="50000", limits__max_body_bytes="2048")
    body = {"new_scenario": {**V2_GAP, "description": "d" * 1500}, "created_by": "op"}
    assert api.post("/api/v1/scenarios/order-flow/migration-plan", body).status == 413
    configure(limits__max_body_bytes="5242880")
    assert api.post("/api/v1/scenarios/order-flow/migration-plan", body).status == 201


def retain_everything(now: datetime) -> None:
    """One retention round over both whole tables, from their start. A run covers at most a scan
    page of each (1 MB: the tables also hold other tests' large documents) and the next run goes on
    from its cursor."""
    plan_store.put_retention_cursor({})
    report = retention.RetentionReport()
    for retain in (retention.retain_plans, retention.retain_versions):
        for _ in range(10_000):
            if retain(now, 100_000, report):
                break


def test_plan_retention_days(api: Api, configure: Callable[..., None]) -> None:
    pending = plan_for(api, V2_GAP, approve=False)
    later = datetime.now(UTC) + timedelta(days=5)
    configure(retention__plan_retention_days="30")
    retain_everything(later)
    assert api.get(f"/api/v1/migration-plans/{pending['id']}").body["status"] == "pending"
    configure(retention__plan_retention_days="3")
    retain_everything(later)
    assert api.get(f"/api/v1/migration-plans/{pending['id']}").body["status"] == "expired"
    retain_everything(later + timedelta(days=4))
    assert api.get(f"/api/v1/migration-plans/{pending['id']}").status == 404  # terminal and old: deleted


def test_version_retention_days(
    api: Api, tenant: str, queue_url: str, configure: Callable[..., None]
) -> None:
    world(api, queue_url, V1, V2_DOWNSTREAM, {"live": report("checkout")})
    later = datetime.now(UTC) + timedelta(days=10)
    configure(retention__version_retention_days="30")
    retain_everything(later)
    assert api.get("/api/v1/scenarios/order-flow/versions/1").status == 200
    configure(retention__version_retention_days="7")
    retain_everything(later)
    assert api.get("/api/v1/scenarios/order-flow/versions/1").status == 200  # a live session is on it
    assert jit(tenant, "live")["outcome"] == "migrated"
    retain_everything(later)
    assert api.get("/api/v1/scenarios/order-flow/versions/1").status == 404  # unused and old: gone
    assert api.get("/api/v1/scenarios/order-flow/versions/2").status == 200  # active: never deleted


@pytest.fixture
def stubbed_container_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """The container's Bedrock client, stubbed."""
    client = runtime_client()
    monkeypatch.setattr(bedrock, "bedrock_client", lambda: client)
    bedrock.extractor_for.cache_clear()
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def called_with(model_id: str) -> dict[str, Any]:
    return {
        "modelId": model_id,
        **dict.fromkeys(("messages", "system", "toolConfig", "inferenceConfig"), ANY),
    }


def test_extractor_keys(
    api: Api, tenant: str, queue_url: str, configure: Callable[..., None], stubbed_container_client: Stubber
) -> None:
    sessions = ["rules", "bedrock", "other-model", "throttled"]
    world(api, queue_url, V1, V2_GAP, {session_id: report("checkout") for session_id in sessions})
    said = {"conversation": [{"role": "customer", "text": "I'm in my mid-thirties"}]}

    assert isinstance(jit_service.configured_extractor(), RuleExtractor)
    assert jit(tenant, "rules", **said)["outcome"] == "needs_input"  # the rules read no age in it

    stub = stubbed_container_client
    configure(gap_fill__extractor="bedrock", gap_fill__bedrock_model_id="amazon.nova-micro-v1:0")
    answer = converse_answer({"found": True, "value": 34, "confidence": 0.98})
    stub.add_response("converse", answer, called_with("amazon.nova-micro-v1:0"))
    result = jit(tenant, "bedrock", **said)
    assert (result["outcome"], result["filled_fields"]["age"]) == (
        "migrated",
        {"value": 34, "source": "conversation", "confidence": 0.98},
    )
    configure(gap_fill__bedrock_model_id=MODEL)
    stub.add_response("converse", answer, called_with(MODEL))
    assert jit(tenant, "other-model", **said)["outcome"] == "migrated"

    stub.add_client_error("converse", "ThrottlingException", "slow down", http_status_code=429)
    asked = jit(tenant, "throttled", **said)  # never a crash: the customer is asked
    assert asked["outcome"] == "needs_input" and asked["questions"][0]["field"] == "age"


def test_counter_shards(
    api: Api, tenant: str, queue_url: str, configure: Callable[..., None], local_aws: dict
) -> None:
    """The counters of a plan spread over `counter_shards` items, and still add up."""
    sessions = {f"s{i}": report("checkout") for i in range(12)}
    configure(deployment__counter_shards="1")
    one = plan_for(api, V2_DOWNSTREAM, sessions)
    assert api.post(f"/api/v1/migration-plans/{one['id']}/deploy").status == 202
    drain(queue_url)
    configure(deployment__counter_shards="64")
    for session_id in sessions:
        assert jit(tenant, session_id)["outcome"] == "migrated"
    items = _counter_items(local_aws["PlansTable"], tenant, one["id"])
    assert 1 < len(items) <= 13  # the fan-out's page commits in one shard, 12 migrations in up to 12
    status = api.get(f"/api/v1/migration-plans/{one['id']}/deployment-status").body
    assert (status["sessions_marked"], status["migrations_applied"], status["migrations_pending"]) == (
        12,
        12,
        0,
    )


def _counter_items(table: str, tenant: str, plan_id: str) -> list[dict]:
    response = dynamodb.client().query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
        ExpressionAttributeValues={":pk": {"S": keys.plan_pk(tenant, plan_id)}, ":c": {"S": "COUNTERS#"}},
    )
    return response["Items"]


@pytest.mark.parametrize("keys_and_units", [("8", "1200", 8), ("1", "1", 8), ("16", "1", 24), ("2", "1", 16)])
def test_marking_ranges_and_unit_sessions(
    api: Api, queue_url: str, configure: Callable[..., None], keys_and_units: tuple[str, str, int]
) -> None:
    """A deployment's units follow the plan-time census: one per index shard while few sessions
    sit in it (the default); with `unit_sessions` of 1, a unit per step each shard's sessions sit
    on (3: welcome, checkout and confirm have hashes of different first digits), never more than
    `marking_ranges` per shard; every session is marked either way, one message a unit."""
    ranges, unit_sessions, expected = keys_and_units
    sessions = {f"s{i:02d}": report(at) for i, at in enumerate(["welcome", "checkout", "confirm"] * 8)}
    plan = plan_for(api, V2_DOWNSTREAM, sessions)
    configure(deployment__marking_ranges=ranges, deployment__unit_sessions=unit_sessions)
    units = api.post(f"/api/v1/migration-plans/{plan['id']}/deploy").body["work_units"]
    assert units == expected
    assert len([r for event in drain(queue_url) for r in event["Records"]]) == units  # a page each
    assert api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body["sessions_marked"] == 24


def test_personal_data_expiry(
    api: Api, tenant: str, queue_url: str, configure: Callable[..., None], local_aws: dict
) -> None:
    world(api, queue_url, V1, V2_DOWNSTREAM, {"a": report("checkout")})
    configure(retention__audit_record_days="2", retention__closed_session_days="3")
    assert jit(tenant, "a")["outcome"] == "migrated"
    record = api.get("/api/v1/sessions/a/migrations").body["migrations"][0]
    assert abs(record["expires_at"] - (datetime.now(UTC) + timedelta(days=2)).timestamp()) < 120
    assert api.put("/api/v1/sessions/a", report("confirm", version=2, status="closed")).status == 200
    stored = dynamodb.client().get_item(
        TableName=local_aws["SessionsTable"],
        Key={"pk": {"S": keys.session_pk(tenant, "a")}, "sk": {"S": keys.SESSION_SK}},
    )["Item"]
    assert abs(int(stored["expires_at"]["N"]) - (datetime.now(UTC) + timedelta(days=3)).timestamp()) < 120


def test_canary_guard_threshold(
    api: Api, tenant: str, queue_url: str, configure: Callable[..., None]
) -> None:
    """Every outcome in the canary blocked: refused at 0.2, widened once the threshold is 1."""
    configure(deployment__canary_guard_min_migrations="1")
    plan = guarded(api, queue_url, tenant)
    url = f"/api/v1/migration-plans/{plan['id']}/widen"
    assert api.post(url, {"canary_percent": 80}).status == 409
    configure(deployment__canary_guard_threshold="1.0")
    assert api.post(url, {"canary_percent": 80}).status == 200


def test_canary_guard_min_migrations(
    api: Api, tenant: str, queue_url: str, configure: Callable[..., None]
) -> None:
    """The same canary is not judged while it has fewer outcomes than the minimum."""
    configure(deployment__canary_guard_min_migrations="1000")
    plan = guarded(api, queue_url, tenant)
    url = f"/api/v1/migration-plans/{plan['id']}/widen"
    assert api.post(url, {"canary_percent": 80}).status == 200
    configure(deployment__canary_guard_min_migrations="1")
    refused = api.post(url, {"canary_percent": 90})
    assert refused.status == 409 and refused.body["error"]["details"]["guard"]["min_migrations"] == 1

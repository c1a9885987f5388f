"""Issue 14, canary: a deployment marks only its slice of sessions (a stable hash of tenant, plan
and session), JIT never migrates a session outside it, widening marks the next slice only, exact
and disjoint under redelivery and crashes, idempotent, and the guard refuses to widen a canary
that goes wrong."""

import io
import json
import uuid
from collections.abc import Callable
from contextlib import redirect_stdout, suppress
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from scenario_migration.domain.canary import bucket, in_slice
from scenario_migration.services import deployments
from scenario_migration.store import keys, work_queue
from scenario_migration.store import plans as plan_store
from scenario_migration.store import sessions as session_store
from tests.documents import V1, V1_PAYMENT, V2_DOWNSTREAM, V2_FORK_PAYMENT, report
from tests.integration.harness import Api, approve, drain, invoke_jit, propose, register
from tests.integration.test_fanout import crash_after_write

SESSIONS = {f"s{i:03d}": report(("welcome", "checkout", "confirm")[i % 3]) for i in range(60)}


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several pages per unit from a few sessions (a deployment this small has 8 units a slice,
    one per index shard: the number of units is orthogonal to slicing)."""
    monkeypatch.setattr(deployments, "PAGE_SIZE", 4)


def approved(api: Api, sessions: dict[str, dict], v1: dict = V1, v2: dict = V2_DOWNSTREAM) -> dict:
    register(api, v1, sessions)
    plan = propose(api, v2)
    approve(api, plan)
    return plan


def deploy(api: Api, plan: dict, body: dict | None = None) -> dict:
    response = api.post(f"/api/v1/migration-plans/{plan['id']}/deploy", body)
    assert response.status == 202, response.body
    return response.body


def widen(api: Api, plan: dict, percent: int) -> Any:
    return api.post(f"/api/v1/migration-plans/{plan['id']}/widen", {"canary_percent": percent})


def status(api: Api, plan: dict) -> dict:
    return api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body


def in_canary(tenant: str, plan: dict, ids: list[str], low: int, high: int) -> set[str]:
    return {sid for sid in ids if in_slice(bucket(tenant, plan["id"], sid), low, high)}


def units_of(tenant: str, plan: dict) -> int:
    """The deployment's work units, as its deploy sized them (one slice's)."""
    return len(deployments.layout_of(tenant, plan_store.get_plan(tenant, plan["id"])))


def assert_slices(api: Api, tenant: str, plan: dict, ladder: list[int]) -> dict:
    """Markers exactly on the sessions of the canary's slices, each stamped by a page of its own
    slice (never re-marked by a later one); the counts per slice and in total exact."""
    ids = list(SESSIONS)
    marked = markers(tenant, ids, plan["id"])
    found = status(api, plan)
    assert set(marked) == in_canary(tenant, plan, ids, 0, ladder[-1])
    slices = found["canary"]["slices"]
    for index, (low, high) in enumerate(pairwise(ladder)):
        expected = in_canary(tenant, plan, ids, low, high)
        assert (slices[index]["from_percent"], slices[index]["to_percent"]) == (low, high)
        assert slices[index]["sessions_marked"] == len(expected), index
        assert slices[index]["units_done"] == slices[index]["units_total"] == units_of(tenant, plan)
        stamped = {sid for sid, m in marked.items() if _slice_of(m["page_id"]) == index}
        assert stamped == expected, index
    assert found["sessions_marked"] == len(marked)
    assert (found["status"], found["canary"]["percent"]) == ("deployed", ladder[-1])
    assert found["fanout"]["units_done"] == found["fanout"]["units_total"]
    return found


def _slice_of(page_id: str | None) -> int:
    """The slice a page belongs to (-1: marked by JIT, not by a page)."""
    if page_id is None:
        return -1
    return int(page_id[1:3]) if page_id.startswith("S") else 0


def markers(tenant: str, session_ids: list[str], plan_id: str) -> dict[str, dict]:
    """The plan's markers on these sessions, page ids included (the API's view hides them)."""
    found = {}
    for sid in session_ids:
        session = session_store.get(tenant, sid)
        if session and session.marker and session.marker.plan_id == plan_id:
            found[sid] = session.marker.model_dump(mode="json")
    return found


def test_a_canary_marks_its_slice_and_each_widening_the_next(api: Api, queue_url: str, tenant: str) -> None:
    plan = approved(api, SESSIONS)
    started = deploy(api, plan, {"canary_percent": 10})
    assert (started["canary_percent"], started["new_sessions_version"]) == (10, 1)
    drain(queue_url)
    assert_slices(api, tenant, plan, [0, 10])
    assert api.get("/api/v1/scenarios/order-flow").body["version"] == 1  # new sessions: still V1
    widened = widen(api, plan, 40)
    assert widened.status == 200 and widened.body["status"] == "deploying"
    drain(queue_url)
    assert_slices(api, tenant, plan, [0, 10, 40])
    assert widen(api, plan, 100).status == 200
    drain(queue_url)
    final = assert_slices(api, tenant, plan, [0, 10, 40, 100])
    assert final["sessions_marked"] == len(SESSIONS)
    assert final["canary"]["new_sessions_version"] == 2
    assert api.get("/api/v1/scenarios/order-flow").body["version"] == 2  # new sessions: V2 now
    actions = api.get(f"/api/v1/migration-plans/{plan['id']}").body["actions"]
    assert [(a["action"], a["details"]["to_percent"]) for a in actions] == [("widen", 40), ("widen", 100)]


def test_every_message_delivered_twice(
    api: Api, queue_url: str, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = approved(api, SESSIONS)
    original = work_queue.send
    monkeypatch.setattr(
        work_queue,
        "send",
        lambda tenant, messages, **kw: original(tenant, [m for m in messages for _ in range(2)], **kw),
    )
    deploy(api, plan, {"canary_percent": 25})
    drain(queue_url)
    assert widen(api, plan, 60).status == 200
    drain(queue_url)
    assert_slices(api, tenant, plan, [0, 25, 60])


def test_a_crash_after_each_write_of_a_widening_in_turn(
    api: Api, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One index shard (one work unit) keeps the runs few. A crash in the widening's own call is
    a 500, and the operator calls it again: that resumes the slice's marking; a crash in the
    worker is a redelivery. Every run ends with the 70 % exactly marked, and counted."""
    monkeypatch.setattr(keys, "POSITION_SHARDS", 1)
    sessions = {f"c{i}": report("checkout") for i in range(12)}
    total = len(crashed_widening(queue_url, sessions, None))
    assert total >= 6  # the widening's transaction and messages, claims, marks, commits, the finish
    for number in range(1, total + 1):
        crashed_widening(queue_url, sessions, number)


def crashed_widening(queue_url: str, sessions: dict[str, dict], number: int | None) -> list[str]:
    """Deploy a 30 % canary to a new tenant, widen it to 70 % with a crash after the `number`-th
    write (None: no crash), check the outcome; the writes seen."""
    tenant_api = Api(f"crash-{number}-{uuid.uuid4().hex[:8]}")
    plan = approved(tenant_api, sessions)
    deploy(tenant_api, plan, {"canary_percent": 30})
    drain(queue_url)
    with crash_after_write(number or 10**9) as writes:
        if widen(tenant_api, plan, 70).status != 200:
            assert widen(tenant_api, plan, 70).status == 200  # the operator calls it again
        drain(queue_url)
    tenant, ids = tenant_api.tenant or "", list(sessions)
    marked = markers(tenant, ids, plan["id"])
    assert set(marked) == in_canary(tenant, plan, ids, 0, 70), number
    counts = status(tenant_api, plan)
    assert (counts["sessions_marked"], counts["status"]) == (len(marked), "deployed"), number
    return writes


def test_jit_never_migrates_outside_the_slice(api: Api, queue_url: str, tenant: str) -> None:
    """Marked or not: JIT's version check admits only the canary's sessions, also those that
    started on V1 during the canary (new sessions stay on V1) or that marking missed."""
    plan = approved(api, SESSIONS)
    deploy(api, plan, {"canary_percent": 30})
    drain(queue_url)
    late = {f"late{i}": report("checkout") for i in range(30)}  # new sessions on V1, after marking
    for sid, body in late.items():
        assert api.put(f"/api/v1/sessions/{sid}", body).status == 200
    everyone = [*SESSIONS, *late]
    inside = in_canary(tenant, plan, everyone, 0, 30)
    for sid in everyone:
        result = invoke_jit({"tenant_id": tenant, "session_id": sid, "message": "hi"})
        assert result["outcome"] == ("migrated" if sid in inside else "none"), sid
    counts = status(api, plan)
    assert counts["migrations_applied"] == len(inside)
    assert widen(api, plan, 100).status == 200
    drain(queue_url)
    for sid in set(everyone) - inside:  # now everybody: marked or not, the rest migrate
        assert invoke_jit({"tenant_id": tenant, "session_id": sid, "message": "hi"})["outcome"] == "migrated"
    assert status(api, plan)["migrations_applied"] == len(everyone)


def test_new_sessions_on_v2_during_the_canary(api: Api, queue_url: str, tenant: str) -> None:
    plan = approved(api, SESSIONS)
    started = deploy(api, plan, {"canary_percent": 5, "new_sessions": "v2"})
    assert started["new_sessions_version"] == 2
    drain(queue_url)
    assert api.get("/api/v1/scenarios/order-flow").body["version"] == 2
    outside = sorted(set(SESSIONS) - in_canary(tenant, plan, list(SESSIONS), 0, 5))
    assert invoke_jit({"tenant_id": tenant, "session_id": outside[0]})["outcome"] == "none"
    full = api.post(
        f"/api/v1/migration-plans/{plan['id']}/deploy", {"canary_percent": 100, "new_sessions": "v1"}
    )
    assert full.status == 400  # v1 only makes sense below 100 (and is checked before the status)


def test_widen_is_idempotent_and_only_widens(api: Api, queue_url: str, tenant: str) -> None:
    plan = approved(api, SESSIONS)
    assert widen(api, plan, 50).status == 409  # approved, not deployed
    deploy(api, plan, {"canary_percent": 20})
    drain(queue_url)
    first = widen(api, plan, 50)
    drain(queue_url)
    again = widen(api, plan, 50)
    assert again.status == 200 and drain(queue_url) == []  # nothing to mark again
    assert again.body["canary"] == status(api, plan)["canary"]
    assert len(again.body["canary"]["slices"]) == len(first.body["canary"]["slices"]) == 2
    narrower = widen(api, plan, 30)
    assert narrower.status == 409 and narrower.body["error"]["details"]["canary_percent"] == 50
    assert widen(api, plan, 101).status == 400 and widen(api, plan, 0).status == 400
    assert_slices(api, tenant, plan, [0, 20, 50])
    other = approved(Api(f"{tenant}-full"), SESSIONS)
    deploy(Api(f"{tenant}-full"), other)
    drain(queue_url)
    assert widen(Api(f"{tenant}-full"), other, 100).status == 200  # a full deployment: nothing to do


def test_no_other_deployment_while_a_canary_is_open(api: Api, queue_url: str) -> None:
    plan = approved(api, SESSIONS)
    deploy(api, plan, {"canary_percent": 10})
    drain(queue_url)
    later = propose(api, {**V2_DOWNSTREAM, "version": 3})
    assert later["from_version"] == 2  # plans start from the canary's version
    approve(api, later)
    refused = api.post(f"/api/v1/migration-plans/{later['id']}/deploy")
    assert refused.status == 409 and "canary" in refused.body["error"]["message"]
    assert widen(api, plan, 100).status == 200
    drain(queue_url)
    assert api.post(f"/api/v1/migration-plans/{later['id']}/deploy").status == 202


def test_cancel_closes_the_canary(api: Api, queue_url: str, tenant: str) -> None:
    plan = approved(api, SESSIONS)
    deploy(api, plan, {"canary_percent": 30})
    drain(queue_url)
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/cancel").status == 200
    drain(queue_url)
    counts = status(api, plan)
    assert counts["sessions_unmarked"] == counts["sessions_marked"] > 0
    assert widen(api, plan, 50).status == 409
    assert api.get("/api/v1/scenarios/order-flow").body["version"] == 1  # new sessions stay on V1
    later = propose(api, {**V2_DOWNSTREAM, "version": 3})
    approve(api, later)
    assert api.post(f"/api/v1/migration-plans/{later['id']}/deploy").status == 202  # not blocked any more


def guarded(api: Api, queue_url: str, tenant: str) -> dict:
    """A canary at 50 % where every customer in it paid and is 16: each is blocked."""
    paid = {
        f"p{i:02d}": report(
            "confirm", visited_step_ids=["welcome", "checkout", "payment"], variables={"age": 16}
        )
        for i in range(24)
    }
    plan = approved(api, paid, V1_PAYMENT, V2_FORK_PAYMENT)
    deploy(api, plan, {"canary_percent": 50})
    drain(queue_url)
    inside = in_canary(tenant, plan, list(paid), 0, 50)
    assert len(inside) >= 3
    for sid in inside:
        assert invoke_jit({"tenant_id": tenant, "session_id": sid})["outcome"] == "blocked"
    return plan | {"inside": len(inside)}


def test_the_guard_refuses_to_widen(
    api: Api, queue_url: str, tenant: str, configure: Callable[..., None], capsys: pytest.CaptureFixture
) -> None:
    configure(deployment__canary_guard_min_migrations=3)
    plan = guarded(api, queue_url, tenant)
    capsys.readouterr()
    with redirect_stdout(io.StringIO()) as emitted:
        refused = widen(api, plan, 100)
    assert refused.status == 409
    guard = refused.body["error"]["details"]["guard"]
    assert (guard["checkpoint_blocks"], guard["judged"], guard["share"], guard["tripped"]) == (
        plan["inside"],
        plan["inside"],
        1.0,
        True,
    )
    assert guard["threshold"] == 0.2 and guard["min_migrations"] == 3
    metrics = [json.loads(line) for line in emitted.getvalue().splitlines() if line.startswith("{")]
    assert any(m.get("CanaryGuardTripped") == [1.0] or m.get("CanaryGuardTripped") == 1.0 for m in metrics)
    found = status(api, plan)
    assert found["canary"]["percent"] == 50 and found["canary"]["guard"]["tripped"]
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/cancel").status == 200  # the way out


def test_retention_keeps_a_canarys_ledgers_until_it_can_widen_no_more(
    api: Api, queue_url: str, tenant: str
) -> None:
    """A canary whose slice is all settled is not finished: its next slice will be claimed."""
    from scenario_migration.services import retention  # noqa: PLC0415

    plan = approved(api, SESSIONS)
    deploy(api, plan, {"canary_percent": 30})
    drain(queue_url)
    for sid in in_canary(tenant, plan, list(SESSIONS), 0, 30):
        assert invoke_jit({"tenant_id": tenant, "session_id": sid})["outcome"] == "migrated"
    pages = [f"PAGE#{unit:06d}#000000" for unit in range(units_of(tenant, plan))]
    retention.run(page_items=100_000, budget_seconds=60)
    assert api.get(f"/api/v1/migration-plans/{plan['id']}").body["status"] == "deployed"
    assert any(ledger_exists(tenant, plan["id"], sk) for sk in pages)
    assert widen(api, plan, 100).status == 200
    drain(queue_url)
    for sid in set(SESSIONS) - in_canary(tenant, plan, list(SESSIONS), 0, 30):
        assert invoke_jit({"tenant_id": tenant, "session_id": sid})["outcome"] == "migrated"
    assert retention.run(page_items=100_000, budget_seconds=60).ledgers_deleted > 0
    assert not any(ledger_exists(tenant, plan["id"], sk) for sk in pages)


def ledger_exists(tenant: str, plan_id: str, sk: str) -> bool:
    from scenario_migration.store import dynamodb, plans  # noqa: PLC0415

    key = {"pk": {"S": keys.plan_pk(tenant, plan_id)}, "sk": {"S": sk}}
    return "Item" in dynamodb.client().get_item(TableName=dynamodb.table_name(plans.TABLE_ENV), Key=key)


# -- merged with the fault handling (reliability): each case found by review ------------------------------


def test_a_cancel_that_closes_a_slices_uncounted_pages_counts_them_in_that_slice(
    api: Api, queue_url: str, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A widening's pages marked but not counted yet (the worker died before its commit) when the
    plan is cancelled: the cancel closes them and counts their markers, in the total and in their
    slice, so the slices still add up to the total and each is its pages' markers."""
    plan = approved(api, SESSIONS)
    deploy(api, plan, {"canary_percent": 10})
    drain(queue_url)
    sent: list[dict] = []
    with monkeypatch.context() as patched:
        patched.setattr(
            work_queue, "send", lambda t, messages, **_: sent.extend({**m, "tenant": t} for m in messages)
        )
        assert widen(api, plan, 80).status == 200
        patched.setattr(deployments.store, "commit_page", _died_before_commit)
        for message in sent:  # grows: a page without sessions of the slice sends the next one
            with suppress(RuntimeError):  # a page with some: marked, then the commit fails
                deployments.handle(message)
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/cancel").status == 200
    drain(queue_url)
    found = status(api, plan)
    slices = {s["slice"]: s["sessions_marked"] for s in found["canary"]["slices"]}
    marked = markers(tenant, list(SESSIONS), plan["id"])
    assert slices[1] > 0 and sum(slices.values()) == found["sessions_marked"] == len(marked)
    for index, count in slices.items():
        assert count == sum(_slice_of(m["page_id"]) == index for m in marked.values()), index


def _died_before_commit(*_: object, **__: object) -> bool:
    raise RuntimeError("the worker died before its commit")


def test_a_widening_carries_on_a_deploy_cut_short(
    api: Api, queue_url: str, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A canary deploy that died after its status change, before its first pages: a widening
    sends the first slice's pages too, so every slice is marked and the plan ends deployed."""
    plan = approved(api, SESSIONS)
    with monkeypatch.context() as patched:
        patched.setattr(deployments, "_start_marking", _died_before_commit)
        with pytest.raises(RuntimeError):
            deployments.deploy(tenant, plan["id"], deployments.Canary(10))
    assert widen(api, plan, 100).status == 200
    drain(queue_url)
    assert_slices(api, tenant, plan, [0, 10, 100])


def test_a_percent_is_a_json_number(api: Api, queue_url: str) -> None:
    """`true` and "50" are 400s that deploy nothing (pydantic's lax int took them as 1 and 50);
    50.0 is 50, as JSON Schema's integer says (schemathesis sends it)."""
    plan = approved(api, SESSIONS)
    for odd in (True, "50", 50.5, 0, 101):
        response = api.post(f"/api/v1/migration-plans/{plan['id']}/deploy", {"canary_percent": odd})
        assert response.status == 400, (odd, response.body)
    assert api.get(f"/api/v1/migration-plans/{plan['id']}").body["status"] == "approved"
    assert deploy(api, plan, {"canary_percent": 50.0})["canary_percent"] == 50
    for odd in (True, "60"):
        assert widen(api, plan, odd).status == 400, odd  # type: ignore[arg-type]
    assert widen(api, plan, 60.0).status == 200  # type: ignore[arg-type]


def test_two_widenings_within_one_second(
    api: Api, queue_url: str, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's clock has whole seconds: two widenings in the same one are both recorded, in
    order (their action records shared a key, and the second widening was refused: a 409 that
    came and went with the machine's speed)."""
    plan = approved(api, SESSIONS)
    deploy(api, plan, {"canary_percent": 10})
    drain(queue_url)
    now = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(deployments, "utcnow", lambda: now)
    assert widen(api, plan, 40).status == 200
    assert widen(api, plan, 100).status == 200
    drain(queue_url)
    assert_slices(api, tenant, plan, [0, 10, 40, 100])
    actions = api.get(f"/api/v1/migration-plans/{plan['id']}").body["actions"]
    assert [(a["action"], a["details"]["to_percent"]) for a in actions] == [("widen", 40), ("widen", 100)]

"""Sessions: the sharded position index, moves, closing, revisions, the JIT's atomic write."""

from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from scenario_migration.domain.deployment import CounterMove
from scenario_migration.domain.session import AuditRecord, Marker, MarkerState, Outcome, Session
from scenario_migration.errors import PayloadTooLarge
from scenario_migration.store import deployments, dynamodb, keys, sessions
from scenario_migration.store import deployments as deployment_store
from scenario_migration.store.sessions import MarkTarget, Written
from tests import faults
from tests.store.helpers import EXPIRES, ids_in_every_shard, new_plan, new_tenant, race, report

CHECKOUT = ("c" * 16, "checkout")


def at_step(
    tenant: str, step: tuple[str, str], *, version: int = 1, page_size: int = 100
) -> dict[int, list[str]]:
    """Session ids at (step hash, step id) per shard, read page by page through the cursor."""
    found: dict[int, list[str]] = {}
    for shard in range(keys.POSITION_SHARDS):
        cursor: Any = None
        while True:
            items, cursor = sessions.sessions_at(
                tenant, ("order-flow", version, shard), step, cursor=cursor, page_size=page_size
            )
            found.setdefault(shard, []).extend(item["session_id"] for item in items)
            if not cursor:
                break
    return {shard: ids for shard, ids in found.items() if ids}


def all_at_step(tenant: str, step: tuple[str, str]) -> list[str]:
    return [session_id for ids in at_step(tenant, step).values() for session_id in ids]


def test_the_position_index_spreads_a_step_over_every_shard(tenant: str) -> None:
    by_shard = ids_in_every_shard(3)
    for ids in by_shard.values():
        for session_id in ids:
            report(tenant, session_id)
    report(tenant, "elsewhere", "confirm", step_hash="d" * 16)
    assert at_step(tenant, CHECKOUT) == {shard: sorted(ids) for shard, ids in by_shard.items()}
    assert at_step(tenant, CHECKOUT, page_size=2) == at_step(tenant, CHECKOUT)  # pages join up
    live = sum(map(len, by_shard.values()))
    assert sessions.census(tenant, "order-flow", 1) == Counter({"checkout": live, "confirm": 1})
    assert sessions.has_live_sessions(tenant, "order-flow", 1)
    assert not sessions.has_live_sessions(tenant, "order-flow", 2)


def test_twin_steps_are_told_apart_by_step_id(tenant: str) -> None:
    twin_hash = "e" * 16
    report(tenant, "one", "ask_email", step_hash=twin_hash)
    report(tenant, "two", "ask_email_again", step_hash=twin_hash)
    assert all_at_step(tenant, (twin_hash, "ask_email")) == ["one"]
    assert all_at_step(tenant, (twin_hash, "ask_email_again")) == ["two"]


def test_a_session_moving_step_leaves_its_old_index_entry(tenant: str, local_aws: dict[str, str]) -> None:
    report(tenant, "mover")
    assert all_at_step(tenant, CHECKOUT) == ["mover"]
    moved = report(tenant, "mover", "confirm", step_hash="d" * 16)
    assert at_step(tenant, CHECKOUT) == {}
    assert all_at_step(tenant, ("d" * 16, "confirm")) == ["mover"]
    assert moved.revision == 2
    report(tenant, "mover", "confirm", step_hash="d" * 16, version=2)  # a new version: a new partition
    assert at_step(tenant, ("d" * 16, "confirm")) == {}
    assert sessions.census(tenant, "order-flow", 1) == Counter()
    assert sessions.census(tenant, "order-flow", 2) == Counter({"confirm": 1})
    report(tenant, "mover", "confirm", step_hash="d" * 16, version=2, live=False)
    stored = dynamodb.client().get_item(
        TableName=local_aws["SessionsTable"],
        Key={"pk": {"S": keys.session_pk(tenant, "mover")}, "sk": {"S": keys.SESSION_SK}},
    )["Item"]
    assert "position_pk" not in stored and "position_sk" not in stored
    assert int(stored["expires_at"]["N"]) == EXPIRES  # a closed session's personal data expires
    assert sessions.census(tenant, "order-flow", 2) == Counter()
    assert not sessions.has_live_sessions(tenant, "order-flow", 2)
    assert sessions.get(tenant, "mover").status == "closed"
    report(tenant, "mover", "confirm", step_hash="d" * 16, version=2)  # reopened: it no longer expires
    assert (
        "expires_at"
        not in dynamodb.client().get_item(
            TableName=local_aws["SessionsTable"],
            Key={"pk": {"S": keys.session_pk(tenant, "mover")}, "sk": {"S": keys.SESSION_SK}},
        )["Item"]
    )


def marker(
    plan_id: str = "p1", page_id: str | None = "000000#000000", state: MarkerState = MarkerState.PENDING
) -> Marker:
    return Marker(plan_id=plan_id, from_version=1, target_version=2, page_id=page_id, state=state)


def targets(session_ids: list[str], found: Marker, step_id: str = "checkout") -> list[MarkTarget]:
    return [MarkTarget(session_id, step_id, found) for session_id in dict.fromkeys(session_ids)]


def mark(tenant: str, chosen: list[MarkTarget]) -> dict[str, Written]:
    """Mark with the fence of the targets' page, as the marking worker does."""
    found = chosen[0].marker
    assert found.page_id is not None
    return sessions.mark(tenant, chosen, deployment_store.fence_item(tenant, found.plan_id, found.page_id))


def test_a_report_keeps_the_marker_and_bumps_the_revision(tenant: str) -> None:
    first = report(tenant, "s1")
    assert mark(tenant, targets(["s1"], marker())) == {"s1": Written.DONE}
    marked = sessions.get(tenant, "s1")
    assert marked.revision == first.revision + 1  # a marker is a write like any other
    again = report(tenant, "s1")
    assert again.marker == marker()
    assert again.revision == marked.revision + 1
    assert again.created_at == first.created_at  # set on the first report only


def test_the_same_session_id_under_two_tenants(tenant: str) -> None:
    other = new_tenant()
    report(tenant, "shared-id")
    report(other, "shared-id", "confirm", step_hash="d" * 16)
    assert sessions.get(tenant, "shared-id").current_step_id == "checkout"
    assert sessions.get(other, "shared-id").current_step_id == "confirm"
    assert sessions.census(tenant, "order-flow", 1) == Counter({"checkout": 1})
    assert sessions.census(other, "order-flow", 1) == Counter({"confirm": 1})
    assert at_step(other, CHECKOUT) == {}
    assert mark(tenant, targets(["shared-id"], marker())) == {"shared-id": Written.DONE}
    assert sessions.get(other, "shared-id").marker is None
    assert sessions.get(new_tenant(), "shared-id") is None


def test_marking_is_conditional_on_position_and_plan(tenant: str) -> None:
    """One transaction per call: the failed conditions are classified, the rest written."""
    for session_id in ("here", "moved", "closed", "other-version"):
        report(tenant, session_id)
    report(tenant, "moved", "confirm", step_hash="d" * 16)
    report(tenant, "closed", live=False)
    report(tenant, "other-version", version=2)
    outcomes = mark(tenant, targets(["here", "moved", "closed", "other-version", "never-reported"], marker()))
    assert outcomes == {
        "here": Written.DONE,
        "moved": Written.SKIPPED,
        "closed": Written.SKIPPED,
        "other-version": Written.SKIPPED,
        "never-reported": Written.SKIPPED,
    }
    report(tenant, "late")
    # a redelivery; an id twice is one action (DynamoDB refuses two on one item in a transaction)
    again = mark(tenant, targets(["late", "here", "late"], marker()))
    assert again == {"late": Written.DONE, "here": Written.OURS}
    assert mark(tenant, targets(["here"], marker(page_id="000001#000000"))) == {"here": Written.SKIPPED}
    assert sessions.get(tenant, "never-reported") is None  # a failed condition creates nothing


def test_unmarking_settles_only_this_page_s_pending_markers_once(tenant: str) -> None:
    for session_id in ("a", "b", "c"):
        report(tenant, session_id)
    mark(tenant, targets(["a", "b"], marker()))
    mark(tenant, targets(["c"], marker(page_id="000009#000000")))
    applied = sessions.get(tenant, "b")
    settled = applied.model_copy(
        update={"marker": applied.marker.model_copy(update={"state": MarkerState.APPLIED})}
    )
    sessions.write_outcome(tenant, applied, settled, [], None)
    outcomes = sessions.unmark(tenant, ["a", "b", "c"], "p1", "000000#000000", "2026-01-03T00:00:00Z")
    assert outcomes == {"a": Written.DONE, "b": Written.SETTLED, "c": Written.SKIPPED}  # b: JIT applied it
    assert sessions.unmark(tenant, ["a"], "p1", "000000#000000", "2026-01-03T00:00:00Z") == {
        "a": Written.OURS
    }
    states = {sid: sessions.get(tenant, sid).marker.state for sid in ("a", "b", "c")}
    assert states == {"a": MarkerState.UNMARKED, "b": MarkerState.APPLIED, "c": MarkerState.PENDING}


def test_a_marking_transaction_holds_99_sessions_and_the_page_s_fence(tenant: str) -> None:
    with pytest.raises(ValueError, match="at most 99 sessions"):
        mark(tenant, targets([f"s{i}" for i in range(100)], marker()))


def test_a_page_s_fence_refuses_its_marks_once_the_page_has_a_state(tenant: str) -> None:
    """Counted by another attempt, or closed by a cancel: no marker of the page lands after."""
    for session_id in ("a", "b"):
        report(tenant, session_id)
    assert mark(tenant, targets(["a"], marker())) == {"a": Written.DONE}
    deployment_store.close_page(tenant, "p1", "000000#000000")
    with pytest.raises(sessions.PageClosed):
        mark(tenant, targets(["a", "b"], marker()))
    assert sessions.get(tenant, "b").marker is None  # all or nothing: b was not marked


@pytest.mark.parametrize(
    "codes", [["None", "TransactionConflict"], ["None", "ThrottlingError"], ["None", "None"]]
)
def test_a_marking_transaction_cancelled_for_another_reason_is_raised(tenant: str, codes: list[str]) -> None:
    """Only failed conditions are settled here; anything else fails the page (SQS redelivers)."""
    report(tenant, "a")
    report(tenant, "b")

    def cancel(request: Any) -> Any:
        if faults.operation(request) != "TransactWriteItems":
            return None
        reasons = [{"Code": code} for code in [*codes, "None"]]  # the sessions', then the fence's
        return faults.dynamodb_error(
            request, "TransactionCanceledException", "x", CancellationReasons=reasons
        )

    with faults.answering(dynamodb.client(), cancel), pytest.raises(ClientError) as raised:
        mark(tenant, targets(["a", "b"], marker()))
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"


def migrated(session: Session, to_step: str = "confirm") -> Session:
    return session.model_copy(
        update={
            "scenario_version": 2,
            "current_step_id": to_step,
            "step_hash": "d" * 16,
            "marker": marker(state=MarkerState.APPLIED),
        }
    )


def audit(session_id: str, plan_id: str, at: str) -> AuditRecord:
    return AuditRecord(
        at=at,
        session_id=session_id,
        plan_id=plan_id,
        scenario_id="order-flow",
        outcome=Outcome.MIGRATED,
        from_version=1,
        to_version=2,
        from_step_id="checkout",
        filled_fields={},
        blocked=False,
        reason="test",
        expires_at=EXPIRES,
    )


def test_the_atomic_write_is_conditional_on_the_revision(tenant: str) -> None:
    plan = new_plan(tenant)
    session = report(tenant, "s1")
    move = deployments.counter_item(tenant, plan.id, "COUNTERS#000", CounterMove({"migrations_applied": 1}))
    results = race(
        *(
            lambda n=n: sessions.write_outcome(
                tenant, session, migrated(session), [move], audit("s1", plan.id, f"2026-01-02T00:00:0{n}Z")
            )
            for n in range(4)
        )
    )
    assert sum(result is None for result in results) == 1, results
    assert all(isinstance(r, sessions.StaleSession) for r in results if r is not None), results
    stored = sessions.get(tenant, "s1")
    assert (stored.revision, stored.scenario_version, stored.current_step_id) == (2, 2, "confirm")
    assert sessions.sessions_at(
        tenant, ("order-flow", 2, keys.position_shard("s1")), ("d" * 16, "confirm"), cursor=None, page_size=10
    )[0]
    assert deployments.counters(tenant, plan.id).migrations_applied == 1  # moved once, with the winner
    assert [r.reason for r in sessions.list_migrations(tenant, "s1")] == ["test"]
    with pytest.raises(sessions.StaleSession):  # the revision read before is stale now
        sessions.write_outcome(tenant, session, migrated(session), [], None)


def test_a_marker_written_after_the_jit_read_makes_the_jit_write_stale(tenant: str) -> None:
    """Issue 10 §5: the marker bumps the revision, so a JIT decision taken on the unmarked
    session cannot overwrite the fresh marker (its plan's pending count would stay at 1)."""
    session = report(tenant, "s1")
    assert mark(tenant, targets(["s1"], marker())) == {"s1": Written.DONE}
    with pytest.raises(sessions.StaleSession):
        sessions.write_outcome(tenant, session, migrated(session), [], None)
    assert sessions.get(tenant, "s1").marker.state is MarkerState.PENDING


def test_an_atomic_write_with_no_attribute_to_set(tenant: str) -> None:
    """No ExpressionAttributeNames at all then: DynamoDB rejects an empty map (moto does not)."""
    session = report(tenant, "s1")
    sessions.write_outcome(tenant, session, session, [], None)
    assert sessions.get(tenant, "s1").revision == session.revision + 1


def test_settling_a_waiting_session_of_a_cancelled_plan(tenant: str) -> None:
    plan = new_plan(tenant)
    session = report(tenant, "s1")
    waiting = session.model_copy(update={"marker": marker(plan.id, state=MarkerState.AWAITING_INPUT)})
    sessions.write_outcome(tenant, session, waiting, [], None)
    at = "2026-01-03T00:00:00Z"
    assert sessions.settle_waiting(tenant, "s1", plan.id, at, [])
    assert sessions.get(tenant, "s1").marker.state is MarkerState.UNMARKED
    assert not sessions.settle_waiting(tenant, "s1", plan.id, at, [])  # not waiting any more


def test_a_session_larger_than_an_item_is_refused_as_too_large(tenant: str) -> None:
    """The API takes bodies up to 10 MB; an item stops at 400 KB: a 413, not a 500."""
    first = report(tenant, "big")
    position = {
        "scenario_id": first.scenario_id,
        "scenario_version": first.scenario_version,
        "current_step_id": first.current_step_id,
        "step_hash": first.step_hash,
        "variables_json": '{"notes": "' + "x" * 450_000 + '"}',
        "last_activity_at": "2026-01-02T00:00:00Z",
    }
    with pytest.raises(PayloadTooLarge):
        sessions.put_position(tenant, "big", position, True)
    assert sessions.get(tenant, "big").revision == first.revision

"""Sessions: the sharded position index, moves, closing, revisions, the JIT's atomic write."""

from collections import Counter
from typing import Any

import pytest

from scenario_migration.errors import PayloadTooLarge
from scenario_migration.store import deployments, keys, sessions
from tests.store.helpers import ids_in_every_shard, new_plan, new_tenant, race, report

CHECKOUT = ("c" * 16, "checkout")


def at_step(
    tenant: str, step: tuple[str, str], *, version: int = 1, page_size: int = 100
) -> dict[int, list[str]]:
    """Session ids at (step hash, step id) per shard, read page by page through the cursor."""
    found: dict[int, list[str]] = {}
    for shard in range(keys.POSITION_SHARDS):
        cursor: Any = None
        while True:
            items, cursor = deployments.sessions_at(
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


def test_a_session_moving_step_leaves_its_old_index_entry(tenant: str) -> None:
    report(tenant, "mover")
    assert all_at_step(tenant, CHECKOUT) == ["mover"]
    moved = report(tenant, "mover", "confirm", step_hash="d" * 16)
    assert at_step(tenant, CHECKOUT) == {}
    assert all_at_step(tenant, ("d" * 16, "confirm")) == ["mover"]
    assert moved["revision"] == 2
    report(tenant, "mover", "confirm", step_hash="d" * 16, version=2)  # a new version: a new partition
    assert at_step(tenant, ("d" * 16, "confirm")) == {}
    assert sessions.census(tenant, "order-flow", 1) == Counter()
    assert sessions.census(tenant, "order-flow", 2) == Counter({"confirm": 1})
    closed = report(tenant, "mover", "confirm", step_hash="d" * 16, version=2, live=False)
    assert "position_pk" not in closed and "position_sk" not in closed
    assert sessions.census(tenant, "order-flow", 2) == Counter()
    assert not sessions.has_live_sessions(tenant, "order-flow", 2)
    assert sessions.get_session(tenant, "mover")["status"] == "closed"


def test_a_report_keeps_the_marker_and_bumps_the_revision(tenant: str) -> None:
    first = report(tenant, "s1")
    marker = {"plan_id": "p", "page_id": "000000#000000", "state": "pending"}
    assert deployments.mark_sessions(tenant, ["s1"], marker, 1, "checkout") == {"s1": "marked"}
    again = report(tenant, "s1")
    assert again["marker"] == marker
    assert again["revision"] == first["revision"] + 1 == 2
    assert again["created_at"] == first["created_at"]  # set on the first report only


def test_the_same_session_id_under_two_tenants(tenant: str) -> None:
    other = new_tenant()
    report(tenant, "shared-id")
    report(other, "shared-id", "confirm", step_hash="d" * 16)
    assert sessions.get_session(tenant, "shared-id")["current_step_id"] == "checkout"
    assert sessions.get_session(other, "shared-id")["current_step_id"] == "confirm"
    assert sessions.census(tenant, "order-flow", 1) == Counter({"checkout": 1})
    assert sessions.census(other, "order-flow", 1) == Counter({"confirm": 1})
    assert at_step(other, CHECKOUT) == {}
    marker = {"plan_id": "p", "page_id": "x", "state": "pending"}
    assert deployments.mark_sessions(tenant, ["shared-id"], marker, 1, "checkout") == {"shared-id": "marked"}
    assert "marker" not in sessions.get_session(other, "shared-id")
    assert sessions.get_session(new_tenant(), "shared-id") is None


def migrated(session: dict[str, Any], to_step: str = "confirm") -> dict[str, Any]:
    return {
        "scenario_version": 2,
        "current_step_id": to_step,
        "step_hash": "d" * 16,
        "marker": {**(session.get("marker") or {}), "state": "applied"},
        "last_result": {"key": "k", "at": "2026-01-02T00:00:00Z", "response": "{}"},
    }


def audit(session_id: str, plan_id: str, at: str) -> dict[str, Any]:
    return {"at": at, "session_id": session_id, "plan_id": plan_id, "outcome": "migrated", "anchor": None}


def test_the_atomic_write_is_conditional_on_the_revision(tenant: str) -> None:
    plan = new_plan(tenant)
    session = report(tenant, "s1")
    counters = (plan.id, {"migrations_applied": 1}, {"last_migration_at": "2026-01-02T00:00:00Z"})
    results = race(
        *(
            lambda n=n: sessions.write_outcome(
                tenant, session, migrated(session), counters, audit("s1", plan.id, f"2026-01-02T00:00:0{n}Z")
            )
            for n in range(4)
        )
    )
    assert sum(result is None for result in results) == 1, results
    assert all(isinstance(r, sessions.StaleSession) for r in results if r is not None), results
    stored = sessions.get_session(tenant, "s1")
    assert (stored["revision"], stored["scenario_version"], stored["current_step_id"]) == (2, 2, "confirm")
    assert stored["position_pk"] == keys.position_pk(tenant, "order-flow", 2, keys.position_shard("s1"))
    assert deployments.counters(tenant, plan.id)["migrations_applied"] == 1  # moved once, with the winner
    assert len(sessions.list_migrations(tenant, "s1")) == 1
    with pytest.raises(sessions.StaleSession):  # the revision read before is stale now
        sessions.write_outcome(tenant, session, migrated(session), None, None)


def test_an_atomic_write_with_no_attribute_to_set(tenant: str) -> None:
    """No ExpressionAttributeNames at all then: DynamoDB rejects an empty map (moto does not)."""
    session = report(tenant, "s1")
    sessions.write_outcome(tenant, session, {}, None, None)
    assert sessions.get_session(tenant, "s1")["revision"] == session["revision"] + 1
    assert deployments.counter_update(tenant, "plan", {}, {"last_migration_at": None}) is None
    moves = ("plan", {}, {"last_migration_at": None})  # nothing to move: no counters item at all
    sessions.write_outcome(tenant, sessions.get_session(tenant, "s1"), {}, moves, None)
    assert sessions.get_session(tenant, "s1")["revision"] == session["revision"] + 2


def test_a_session_larger_than_an_item_is_refused_as_too_large(tenant: str) -> None:
    """The API takes bodies up to 10 MB; an item stops at 400 KB: a 413, not a 500."""
    first = report(tenant, "big")
    position = {k: first[k] for k in ("scenario_id", "scenario_version", "current_step_id", "step_hash")}
    position |= {
        "variables_json": '{"notes": "' + "x" * 450_000 + '"}',
        "last_activity_at": "2026-01-02T00:00:00Z",
    }
    with pytest.raises(PayloadTooLarge):
        sessions.put_position(tenant, "big", position, True)
    assert sessions.get_session(tenant, "big")["revision"] == first["revision"]

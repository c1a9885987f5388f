"""What "exact" means for one plan's deployment, checked against what is stored.

The counters of deployment-status are compared with the sessions' real states (their markers, their
versions, their audit trails) and the plan's list of waiting sessions, so a fault or a race that
loses or duplicates a marker, migrates a session twice, writes a second audit record or moves a
counter once too often (or not at all) fails here, whichever code path did it.
Valid for a world where one plan acted on the sessions (a newer plan takes over markers).
"""

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from scenario_migration.domain.deployment import Counters
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.session import MarkerState, Outcome
from scenario_migration.store import deployments as deployment_store
from scenario_migration.store import dynamodb, keys
from scenario_migration.store import plans as plan_store
from scenario_migration.store import sessions as session_store

RESOLVED = (MarkerState.APPLIED, MarkerState.BLOCKED, MarkerState.KEPT)


@dataclass
class Found:
    """A deployment's stored state, without ids and times: equal for equal histories."""

    status: str
    counters: dict[str, int]
    sessions: dict[str, tuple[Any, ...]]  # id -> version, step, marker state, by fan-out, audit outcomes
    waiting: list[str]
    ledger_items: int

    def comparable(self) -> dict[str, Any]:
        return asdict(self)


def assert_exact(tenant: str, plan_id: str, session_ids: list[str]) -> Found:
    plan = plan_store.get_plan(tenant, plan_id)
    counts = deployment_store.counters(tenant, plan_id) or Counters()
    markers, audits, rows = {}, {}, {}
    for session_id in session_ids:
        session = session_store.get(tenant, session_id)
        assert session is not None, session_id
        marker = session.marker if session.marker and session.marker.plan_id == plan_id else None
        records = [r for r in session_store.list_migrations(tenant, session_id) if r.plan_id == plan_id]
        markers[session_id], audits[session_id] = marker, records
        outcomes = sorted(r.outcome.value for r in records)
        assert outcomes.count(Outcome.MIGRATED.value) <= 1, f"{session_id} migrated twice: {records}"
        migrated = Outcome.MIGRATED.value in outcomes
        assert migrated == (marker is not None and marker.state is MarkerState.APPLIED), (session_id, marker)
        assert session.scenario_version == (plan.to_version if migrated else plan.from_version), session_id
        rows[session_id] = (
            session.scenario_version,
            session.current_step_id,
            marker.state.value if marker else None,
            marker.by_fanout if marker else None,
            tuple(outcomes),
        )
    states = Counter(m.state for m in markers.values() if m is not None)
    fanout = Counter(m.state for m in markers.values() if m is not None and m.by_fanout)
    every = [r for records in audits.values() for r in records]
    by_outcome = Counter(r.outcome for r in every)
    by_scenario = Counter(r.migration_scenario for r in every if r.outcome is Outcome.MIGRATED)
    waiting = _waiting(tenant, plan_id)
    expected = {
        "sessions_marked": sum(fanout.values()),
        "sessions_unmarked": fanout[MarkerState.UNMARKED],
        "marked_resolved": sum(fanout[state] for state in RESOLVED),
        "pending": fanout[MarkerState.PENDING],
        "sessions_awaiting_input": states[MarkerState.AWAITING_INPUT],
        "migrations_applied": by_outcome[Outcome.MIGRATED],
        "checkpoint_blocks": by_outcome[Outcome.BLOCKED],
        "sessions_kept": by_outcome[Outcome.KEPT],
        **{f"migrated_{s.value}": by_scenario[s] for s in MigrationScenario},
    }
    actual = {name: getattr(counts, name) for name in expected}
    assert actual == expected, f"counters {actual} != the sessions' states {expected}"
    if counts.slices:  # each canary slice's count is its pages' markers (the sum is the total)
        slices = Counter(
            deployment_store.PageRef.slice_of(m.page_id)
            for m in markers.values()
            if m and m.by_fanout and m.page_id
        )
        counted = {
            index: found.sessions_marked for index, found in counts.slices.items() if found.sessions_marked
        }
        assert counted == dict(slices), f"slices' counts {counted} != their pages' markers {dict(slices)}"
    awaiting = sorted(sid for sid, m in markers.items() if m and m.state is MarkerState.AWAITING_INPUT)
    assert waiting == awaiting, f"waiting list {waiting} != sessions waiting {awaiting}"
    if plan.status.value == "deployed":
        assert counts.units_done == counts.units_total, counts
    numbers = counts.model_dump(exclude={"last_migration_at"})
    return Found(plan.status.value, numbers, rows, waiting, _ledger_items(tenant, plan_id))


def _waiting(tenant: str, plan_id: str) -> list[str]:
    found, start = [], None
    while True:
        entries, start = deployment_store.list_waiting(tenant, plan_id, start, 100)
        found += [entry["session_id"] for entry in entries]
        if not start:
            return sorted(found)


def _ledger_items(tenant: str, plan_id: str) -> int:
    count = 0
    for prefix in (deployment_store.PAGE_PREFIX, deployment_store.STATE_PREFIX):
        response = dynamodb.client().query(
            TableName=dynamodb.table_name(plan_store.TABLE_ENV),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues=dynamodb.to_item({":pk": keys.plan_pk(tenant, plan_id), ":p": prefix}),
            Select="COUNT",
            ConsistentRead=True,
        )
        count += response["Count"]
    return count

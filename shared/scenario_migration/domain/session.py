"""Sessions (SPEC 11): what the runtime reports, what the service stores of a session, its
migration marker, and the customer's history as the replay walk reads it.

One model of a session for every module: the store maps items to `Session` and back, the JIT
decides on a `Session`, the API shows `Session.view()` (an allow-list, never storage details).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.scenario import Identifier, Scenario, Version
from scenario_migration.domain.values import unstorable_paths

Channel = Annotated[str, Field(min_length=1, max_length=64)]


class SessionStatus(StrEnum):
    ACTIVE = "active"
    IDLE = "idle"
    WAITING = "waiting"
    CLOSED = "closed"

    @property
    def live(self) -> bool:
        return self is not SessionStatus.CLOSED


class SessionReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario_id: Identifier
    scenario_version: Version
    current_step_id: Identifier
    channel: Channel
    customer_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    visited_step_ids: Annotated[list[Identifier], Field(max_length=10_000)] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    status: SessionStatus = SessionStatus.ACTIVE
    created_at: datetime | None = None
    last_activity_at: datetime | None = None

    @field_validator("created_at", "last_activity_at", mode="before")
    @classmethod
    def _text(cls, moment: Any) -> Any:
        """An RFC 3339 string (as the schema says), not a number of seconds pydantic would take."""
        if moment is not None and not isinstance(moment, str | datetime):
            raise ValueError("a date-time string such as 2026-01-31T09:30:00Z")
        return moment

    @field_validator("created_at", "last_activity_at")
    @classmethod
    def _in_utc(cls, moment: datetime | None) -> datetime | None:
        """Normalised to UTC (a time without offset is UTC), which is how it is stored and compared;
        refused when UTC cannot hold it (0001-01-01T00:00:00+14:00 is still year 0 in UTC)."""
        if moment is None:
            return None
        try:
            return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range once converted to UTC (years 1 to 9999)") from None

    @field_validator("variables")
    @classmethod
    def _storable(cls, variables: dict[str, Any]) -> dict[str, Any]:
        paths = unstorable_paths(variables)
        if paths:
            raise ValueError(f"numbers out of range (38 digits, 1e-130 to 1e126) at {', '.join(paths)}")
        return variables


def unknown_steps(report: SessionReport, scenario: Scenario) -> list[dict[str, str]]:
    """Problems: steps of the report that the reported scenario version does not have."""
    steps = scenario.step_by_id
    problems = []
    if report.current_step_id not in steps:
        problems.append(
            {"location": "current_step_id", "message": f"'{report.current_step_id}' is not a step of it"}
        )
    problems += [
        {"location": f"visited_step_ids[{i}]", "message": f"'{step_id}' is not a step of it"}
        for i, step_id in enumerate(report.visited_step_ids)
        if step_id not in steps
    ]
    return problems


# -- the customer's position --------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """What a session's place in a version implies (ScenarioGraph.position): its step's content
    hash (the position index's key) and the checkpoints it has certainly passed."""

    step_hash: str
    checkpoints_passed: list[str]


# -- the migration marker -------------------------------------------------------------------------------


class MarkerState(StrEnum):
    """Where a session stands in a plan's migration. `pending` and `awaiting_input` are open
    (JIT acts on the next message); the others are settled: `applied` moved the session on,
    `blocked`, `kept` and `unmarked` (a cancelled deployment) leave it on its version for good."""

    PENDING = "pending"
    AWAITING_INPUT = "awaiting_input"
    APPLIED = "applied"
    BLOCKED = "blocked"
    KEPT = "kept"
    UNMARKED = "unmarked"

    @property
    def open(self) -> bool:
        return self in (MarkerState.PENDING, MarkerState.AWAITING_INPUT)


class FieldSource(StrEnum):
    PROFILE = "profile"
    SESSION = "session"
    CONVERSATION = "conversation"
    CUSTOMER = "customer"


class FilledField(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: Any
    source: FieldSource
    confidence: float


class Confirmation(BaseModel):
    """An extracted value the customer is asked to confirm (yes/no)."""

    model_config = ConfigDict(frozen=True)

    field: str
    value: Any
    confidence: float


class PendingInput(BaseModel):
    """What a migration waiting on the customer remembers between messages (on the marker)."""

    asked: str | None = None  # the field asked for
    confirming: Confirmation | None = None
    attempts: int = 0  # unusable replies so far (capped by gap_fill.max_reasks)
    condition_errors: int = 0  # conditions that failed to evaluate so far (capped alike)
    collected: dict[str, FilledField] = Field(default_factory=dict)


class Marker(BaseModel):
    """A plan's mark on a session. `page_id` is set when the fan-out marked it (and only then
    does it count in `sessions_marked`); JIT marks sessions the fan-out did not reach."""

    plan_id: str
    anchor: str | None = None
    from_version: int
    target_version: int
    marked_at: str | None = None
    page_id: str | None = None
    state: MarkerState
    input: PendingInput | None = None
    resolved_at: str | None = None
    migration_scenario: MigrationScenario | None = None

    @property
    def by_fanout(self) -> bool:
        return self.page_id is not None


class Outcome(StrEnum):
    """What JIT apply did with one message (SPEC 7's `outcome`)."""

    NONE = "none"
    MIGRATED = "migrated"
    NEEDS_INPUT = "needs_input"
    BLOCKED = "blocked"
    KEPT = "kept"
    ERROR = "error"


class AuditRecord(BaseModel):
    """One JIT application, as the session's audit trail keeps it."""

    at: str
    session_id: str
    plan_id: str
    scenario_id: str
    anchor: str | None = None
    outcome: Outcome
    migration_scenario: MigrationScenario | None = None
    from_version: int
    to_version: int
    from_step_id: str
    to_step_id: str | None = None
    filled_fields: dict[str, FilledField]
    blocked: bool
    reason: str
    request_key: str | None = None
    expires_at: int | None = None  # epoch seconds: DynamoDB deletes the record then (TTL)


class LastResult(BaseModel):
    """The last JIT answer, for a retried invocation with the same request_id."""

    key: str
    at: str
    response: str  # JSON


class Session(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    session_id: str
    scenario_id: str
    scenario_version: int
    current_step_id: str
    step_hash: str
    channel: str | None = None
    customer_id: str | None = None
    visited_step_ids: list[str] = Field(default_factory=list)
    checkpoints_passed: list[str] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    status: SessionStatus = SessionStatus.ACTIVE
    created_at: datetime
    last_activity_at: datetime | None = None
    updated_at: datetime | None = None
    revision: int = 0
    marker: Marker | None = None
    last_result: LastResult | None = None

    @property
    def live(self) -> bool:
        return self.status.live

    def marker_of(self, plan_id: str) -> Marker | None:
        return self.marker if self.marker and self.marker.plan_id == plan_id else None

    def view(self) -> "SessionView":
        return SessionView.model_validate(self.model_dump())


class MarkerView(BaseModel):
    """The marker as the API shows it: the pending answers stay private."""

    model_config = ConfigDict(extra="ignore")

    plan_id: str
    anchor: str | None
    from_version: int
    target_version: int
    marked_at: str | None
    state: MarkerState
    resolved_at: str | None
    migration_scenario: MigrationScenario | None
    asked: str | None = None


class SessionView(BaseModel):
    """A session as the API shows it (an allow-list: no keys, revision, step hash or cached
    answers)."""

    model_config = ConfigDict(extra="ignore")

    session_id: str
    scenario_id: str
    scenario_version: int
    current_step_id: str
    channel: str | None
    customer_id: str | None
    visited_step_ids: list[str]
    checkpoints_passed: list[str]
    variables: dict[str, Any]
    status: SessionStatus
    created_at: datetime
    last_activity_at: datetime | None
    updated_at: datetime | None
    marker: MarkerView | None

    @field_validator("marker", mode="before")
    @classmethod
    def _marker(cls, marker: Any) -> Any:
        if isinstance(marker, dict):
            return {**marker, "asked": (marker.get("input") or {}).get("asked")}
        return marker

"""Sessions as the runtime reports them (SPEC 11), and what the service derives from a report."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


def checkpoints_passed(report: SessionReport, scenario: Scenario) -> list[str]:
    """Content hashes of the checkpoint steps the customer has been through (or is on)."""
    steps = scenario.step_by_id
    visited = [*report.visited_step_ids, report.current_step_id]
    return sorted({steps[s].content_hash for s in visited if s in steps and steps[s].is_checkpoint})

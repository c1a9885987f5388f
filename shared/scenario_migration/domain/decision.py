"""What a JIT decision is (domain/jit.py takes it): its outcome and everything written of it.

Its own module, below the decision machinery: the fast path's modules (settlement, observability)
name it without loading graphs, the replay walk or extraction.
"""

from dataclasses import dataclass, field

from pydantic import BaseModel

from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.session import FilledField, Outcome, PendingInput, Position


class Question(BaseModel):
    field: str
    text: str


@dataclass(frozen=True)
class ConditionFailure:
    """A transition's condition that failed to evaluate on the customer's data (replay walk)."""

    step_id: str
    expression: str
    problem: str


@dataclass
class Decision:
    outcome: Outcome
    reason: str
    final: bool = True  # a `kept` after a failed condition is tried again on the next message
    anchor: str | None = None
    migration_scenario: MigrationScenario | None = None
    to_step_id: str | None = None
    filled_fields: dict[str, FilledField] = field(default_factory=dict)
    questions: list[Question] = field(default_factory=list)
    message: str | None = None
    pending: PendingInput | None = None
    visited_after: list[str] = field(default_factory=list)  # new-version ids, when migrated
    position_after: Position | None = None  # in the new version, when migrated
    condition_failure: ConditionFailure | None = None

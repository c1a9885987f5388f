"""Migration plans as records: their lifecycle (SPEC 4) and per-anchor policies (SPEC 5)."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, model_validator

from scenario_migration.domain.canary import FULL, CanarySlice, NewSessions
from scenario_migration.domain.marking import MarkingLayout
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.plan import (
    MapPage,
    PlanSummary,
    PlanSummaryView,
    TransformationMap,
)
from scenario_migration.errors import Conflict


class PlanStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# target status -> the statuses it may be reached from
_ALLOWED_FROM: dict[PlanStatus, frozenset[PlanStatus]] = {
    PlanStatus.APPROVED: frozenset({PlanStatus.PENDING}),
    PlanStatus.REJECTED: frozenset({PlanStatus.PENDING}),
    PlanStatus.DEPLOYING: frozenset({PlanStatus.APPROVED}),
    PlanStatus.DEPLOYED: frozenset({PlanStatus.DEPLOYING}),
    PlanStatus.SUPERSEDED: frozenset({PlanStatus.PENDING, PlanStatus.APPROVED}),
    PlanStatus.EXPIRED: frozenset({PlanStatus.PENDING}),
    PlanStatus.CANCELLED: frozenset({PlanStatus.DEPLOYING, PlanStatus.DEPLOYED}),
}


# Open deployments: marking and JIT act for them. A widened canary goes from deployed back to
# deploying while its next slice is marked (issue 14), then to deployed again.
OPEN = frozenset({PlanStatus.DEPLOYING, PlanStatus.DEPLOYED})


def allowed_sources(target: PlanStatus, *, require_approval: bool = True) -> frozenset[PlanStatus]:
    """Statuses from which `target` can be reached (deploy accepts a pending plan when approval
    is not required)."""
    sources = _ALLOWED_FROM[target]
    if target is PlanStatus.DEPLOYING and not require_approval:
        sources = sources | {PlanStatus.PENDING}
    return sources


def check_transition(current: PlanStatus, target: PlanStatus, *, require_approval: bool = True) -> None:
    if current not in allowed_sources(target, require_approval=require_approval):
        raise Conflict(
            f"the plan is {current.value}: it cannot become {target.value}",
            {"status": current.value, "requested": target.value},
        )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


Days = Annotated[StrictInt, Field(ge=0, le=36500)]  # strict: no `true` as 1, as the schema says
Channel = Annotated[str, Field(min_length=1, max_length=64)]


class ScopeFilter(_Model):
    """Which sessions at an anchor migrate; the others stay on their version until they end."""

    include_channels: list[Channel] | None = None
    exclude_channels: list[Channel] | None = None
    max_session_age_days: Days | None = None
    min_session_age_days: Days | None = None

    @model_validator(mode="after")
    def _ages_consistent(self) -> Self:
        low, high = self.min_session_age_days, self.max_session_age_days
        if low is not None and high is not None and low > high:
            raise ValueError("min_session_age_days is above max_session_age_days")
        return self

    def admits(self, channel: str | None, age_days: int) -> bool:
        """Exclusion wins over inclusion; ages are whole days since the session started, and
        both bounds are inclusive (0 is a real bound)."""
        if self.exclude_channels and channel in self.exclude_channels:
            return False
        if self.include_channels is not None and channel not in self.include_channels:
            return False
        if self.max_session_age_days is not None and age_days > self.max_session_age_days:
            return False
        return self.min_session_age_days is None or age_days >= self.min_session_age_days


class AnchorPolicy(_Model):
    anchor_content_hash: str | None = None
    anchor_name: str | None = None
    scope_filter: ScopeFilter = Field(default_factory=ScopeFilter)
    update_downstream: StrictBool = True
    force_scenario: MigrationScenario | None = None

    def admits(self, channel: str | None, created_at: datetime, now: datetime) -> bool:
        """Whether a session of this channel, started then, migrates under this policy (the one
        rule marking and JIT both apply)."""
        return self.update_downstream and self.scope_filter.admits(channel, (now - created_at).days)


DEFAULT_POLICY = AnchorPolicy()


def _decoded_layout(value: Any) -> Any:
    return MarkingLayout.decode(value) if isinstance(value, str) else value


class PlanHeader(BaseModel):
    """What a plan listing shows: identity, versions, status and who did what when."""

    model_config = ConfigDict(extra="ignore")

    id: str
    tenant_id: str = Field(exclude=True)
    scenario_id: str
    from_version: int
    to_version: int
    status: PlanStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    acknowledged_warnings: list[str] | None = None
    rejected_by: str | None = None
    rejected_at: datetime | None = None
    rejection_reason: str | None = None
    deployed_at: datetime | None = None
    cancelled_at: datetime | None = None
    superseded_by: str | None = None
    # Canary (issue 14): the share of sessions the deployment migrates (None: not deployed yet,
    # or deployed before canaries), the version new sessions start on meanwhile, its slices.
    canary_percent: int | None = None
    new_sessions: NewSessions | None = None
    canary_slices: list[CanarySlice] = Field(default_factory=list)
    rollback_of: str | None = None  # a reverse plan: the plan it rolls back
    rolled_back_by_plan: str | None = None  # a rolled-back plan: its reverse plan
    # Its work units, as its deploy sized them (None: not deployed, or deployed before layouts
    # were sized: the configured uniform one). Internal: not in any response.
    marking_layout: Annotated[MarkingLayout | None, BeforeValidator(_decoded_layout)] = Field(
        default=None, exclude=True
    )

    @property
    def percent(self) -> int:
        """The share of sessions the deployment migrates (a plan without canary: all)."""
        return FULL if self.canary_percent is None else self.canary_percent

    def slice_bounds(self, index: int) -> tuple[int, int]:
        """[from, to) percent of a slice; a deployment without slices is one slice of 100."""
        if index < len(self.canary_slices):
            found = self.canary_slices[index]
            return found.from_percent, found.to_percent
        return 0, FULL


class OperatorAction(BaseModel):
    """A record of an operator's action on a deployment (widen, rollback): who, when, what.
    Stored beside the plan, written in the same transaction as the change it records."""

    action: str
    at: str
    by: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class MigrationPlan(PlanHeader):
    """A stored plan. `transformation_map` is loaded only where it is needed (it can be large)."""

    policies: dict[str, AnchorPolicy] = Field(default_factory=dict)
    summary: PlanSummary
    transformation_map: TransformationMap | None = None
    actions: list[OperatorAction] = Field(default_factory=list)

    @property
    def anchor_keys(self) -> set[str]:
        return set(self.summary.sessions_by_anchor)

    def policy_for(self, anchor_key: str) -> AnchorPolicy:
        """The policy of the anchor a session migrates to (see TransformationMap.anchor_for for
        which anchor that is, deleted steps included): the default when none was set."""
        return self.policies.get(anchor_key, DEFAULT_POLICY)


class PlanView(PlanHeader):
    """A plan as every response shows it (create, read, policies, approve, reject): its policies,
    its summary with the first page of warnings, and the first page of its transformation map
    (`transformation_map.next` reads on; a small plan's map fits its first page whole)."""

    policies: dict[str, AnchorPolicy]
    summary: PlanSummaryView
    transformation_map: MapPage
    actions: list[OperatorAction] = Field(default_factory=list)

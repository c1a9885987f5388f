"""A deployment's counters (SPEC 8): what deployment-status reports, exact at every moment.

Stored as shards (store/deployments.py) so that no single item takes every write of a busy
deployment; the shards add up to one `Counters`.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from scenario_migration.domain.canary import CanarySlice, GuardFigures
from scenario_migration.domain.migration_scenario import MigrationScenario

COUNTED = (
    "sessions_marked",  # markers written by the fan-out (each page counted once)
    "sessions_unmarked",  # of those, removed by a cancel before they were applied
    "marked_resolved",  # of those, settled by JIT (applied, blocked, kept, or by a newer plan)
    "migrations_applied",
    "migrated_clean_graft",
    "migrated_gap_fill",
    "migrated_re_route",
    "checkpoint_blocks",
    "sessions_kept",
    "sessions_awaiting_input",  # sessions of this plan waiting on the customer right now
    "condition_errors",  # conditions that failed to evaluate (each attempt)
    "units_total",
    "units_done",
)
# Per canary slice (issue 14): `<name>_slice_<nn>`, so that status shows each slice's marking.
SLICE_COUNTED = ("sessions_marked", "units_total", "units_done")
_SLICE_KEY = re.compile(r"^(sessions_marked|units_total|units_done)_slice_(\d+)$")


def slice_counter(name: str, slice_index: int) -> str:
    """The counter attribute of one slice (name: one of SLICE_COUNTED)."""
    return f"{name}_slice_{slice_index:02d}"


class SliceCounts(BaseModel):
    sessions_marked: int = 0
    units_total: int = 0
    units_done: int = 0


class Counters(BaseModel):
    sessions_marked: int = 0
    sessions_unmarked: int = 0
    marked_resolved: int = 0
    migrations_applied: int = 0
    migrated_clean_graft: int = 0
    migrated_gap_fill: int = 0
    migrated_re_route: int = 0
    checkpoint_blocks: int = 0
    sessions_kept: int = 0
    sessions_awaiting_input: int = 0
    condition_errors: int = 0
    units_total: int = 0
    units_done: int = 0
    last_migration_at: str | None = None
    slices: dict[int, SliceCounts] = Field(default_factory=dict)

    @property
    def pending(self) -> int:
        """Sessions marked by the fan-out that JIT has not settled yet (nor a cancel removed)."""
        return max(self.sessions_marked - self.sessions_unmarked - self.marked_resolved, 0)

    @property
    def marking_done(self) -> bool:
        return self.units_done >= self.units_total

    def slice_units(self, index: int) -> int:
        """A slice's work units (a deployment from before canaries has one slice: all its units)."""
        found = self.slices.get(index)
        return found.units_total if found else self.units_total

    @classmethod
    def total(cls, shards: list[dict[str, Any]]) -> "Counters":
        """The sum of a plan's counter shards (the latest `last_migration_at`)."""
        sums = {name: sum(int(shard.get(name, 0)) for shard in shards) for name in COUNTED}
        stamps = [shard["last_migration_at"] for shard in shards if shard.get("last_migration_at")]
        return cls(**sums, last_migration_at=max(stamps, default=None), slices=_slices(shards))

    def migrated(self, scenario: MigrationScenario) -> int:
        return getattr(self, f"migrated_{scenario.value}")


def _slices(shards: list[dict[str, Any]]) -> dict[int, SliceCounts]:
    sums: dict[int, dict[str, int]] = {}
    for shard in shards:
        for key, value in shard.items():
            found = _SLICE_KEY.match(key)
            if found:
                counts = sums.setdefault(int(found.group(2)), {})
                counts[found.group(1)] = counts.get(found.group(1), 0) + int(value)
    return {index: SliceCounts(**counts) for index, counts in sorted(sums.items())}


@dataclass(frozen=True)
class CounterMove:
    """Increments of one plan's counters in one write (never two writes to one shard)."""

    adds: dict[str, int] = field(default_factory=dict)
    last_migration_at: str | None = None

    def __bool__(self) -> bool:
        return bool(self.adds) or self.last_migration_at is not None

    def plus(self, other: "CounterMove") -> "CounterMove":
        adds = dict(self.adds)
        for name, n in other.adds.items():
            adds[name] = adds.get(name, 0) + n
        return CounterMove(
            {k: v for k, v in adds.items() if v}, other.last_migration_at or self.last_migration_at
        )


# -- what the deploy routes answer ----------------------------------------------------------------


class DeployStarted(BaseModel):
    """A deploy's outcome: the version is published, marking has started. `sessions_by_anchor`
    counts, per anchor (those with any), the live sessions that the plan's policies (scope
    filters) admit at the moment of the deploy: those marking will mark unless they move or end
    first (a deleted step's sessions under the anchor they move to); `sessions_to_mark` is their
    sum. `sessions_marked` is what marking has done so far."""

    plan_id: str
    status: str
    sessions_to_mark: int
    sessions_by_anchor: dict[str, int]
    sessions_marked: int
    deployed_at: str
    work_units: int
    auto_mark_sessions: bool
    canary_percent: int  # the share of sessions this deployment migrates (100: all)
    new_sessions_version: int  # the version new sessions start on


class CancelStarted(BaseModel):
    """Cancel's answer: the plan is cancelled; markers not yet applied are being removed."""

    plan_id: str
    status: str
    unmarking: str


class SliceStatus(CanarySlice, SliceCounts):
    """One canary slice: its bounds, who widened to it and when, and its marking."""

    slice: int


class CanaryStatus(BaseModel):
    """A canary deployment: its percent, each slice, where new sessions start, and what the
    guard judges of its outcomes so far (a widening is refused while it is tripped)."""

    percent: int
    new_sessions_version: int
    slices: list[SliceStatus]
    guard: GuardFigures


class FanoutProgress(BaseModel):
    units_total: int
    units_done: int


class DeploymentStatus(BaseModel):
    """A deployment's live progress (SPEC 8), from its counters."""

    plan_id: str
    status: str
    sessions_marked: int
    migrations_applied: int
    migrations_pending: int
    migrations_by_scenario: dict[MigrationScenario, int]
    checkpoint_blocks: int
    sessions_awaiting_input: int
    sessions_kept: int
    sessions_unmarked: int
    condition_errors: int
    deployed_at: str | None
    last_migration_at: str | None
    fanout: FanoutProgress
    canary: CanaryStatus | None = None  # None: not deployed, or deployed before canaries

"""What the planner produces (SPEC 3): the transformation map and its summary.

These models are also the API's response schemas, so their field names are the seed's.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scenario_migration.domain.migration_scenario import MigrationScenario


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Impact(IntEnum):
    """How much a change on the way to an anchor matters; anchors take the maximum."""

    NONE = 0
    GAP_FILL = 1
    RE_ROUTE = 2

    @property
    def scenario(self) -> MigrationScenario:
        return (MigrationScenario.CLEAN_GRAFT, MigrationScenario.GAP_FILL, MigrationScenario.RE_ROUTE)[self]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class NodeChange(_Out):
    """A step inserted in the new version, or removed from the old one."""

    node_id: str
    node_name: str
    content_hash: str
    collects_fields: list[str]
    is_checkpoint: bool
    performs_action: bool


class Branch(_Out):
    to_step_id: str
    condition: str | None
    priority: int


class ForkChange(_Out):
    """A fork that can send customers elsewhere than V1 did.

    kind: `new_step` (an inserted step with several or conditional exits), `new_branch`,
    `changed_condition`, `changed_priority` (on a step that exists in both versions).
    """

    step_id: str
    step_name: str
    kinds: list[str]
    branches: list[Branch]


class TransitionChange(_Out):
    """A transition between existing steps that was added, removed or retargeted."""

    from_step_id: str
    to_step_id: str
    change: str
    condition: str | None = None


class GapPath(_Out):
    """One way through the inserted steps into an anchor: which fields belong to which path."""

    from_step_id: str | None
    via_step_ids: list[str]
    fields: list[str]
    conditions: list[str]


class Changes(_Out):
    inserted_nodes: list[NodeChange] = Field(default_factory=list)
    removed_nodes: list[NodeChange] = Field(default_factory=list)
    new_forks: list[ForkChange] = Field(default_factory=list)
    modified_transitions: list[TransitionChange] = Field(default_factory=list)
    paths: list[GapPath] = Field(default_factory=list)
    paths_truncated: bool = False


class Anchor(_Out):
    """A step of the new version that stands for one of the old: same content hash, or the same
    id and name with edited content (`edited`: then `from_content_hash` differs)."""

    anchor_content_hash: str
    content_hash: str
    from_content_hash: str
    edited: bool = False
    anchor_name: str
    from_step_id: str
    to_step_id: str
    migration_scenario: MigrationScenario
    # The fields a customer here may be asked for: stored as a reference into the map's
    # `field_sets` (a long chain would otherwise store anchors x fields); the list itself is
    # filled in where the map is shown (TransformationMap.with_fields).
    field_set: int | None = None
    fields_on_the_way: list[str] | None = None
    upstream_changes: Changes
    downstream_changes: Changes


class DeletedNode(_Out):
    node_id: str
    node_name: str
    content_hash: str
    nearest_anchor: str | None
    nearest_anchor_name: str | None
    relocation: str | None  # "downstream" (preferred), "upstream", or None: no anchor at all


class AmbiguousStep(_Out):
    content_hash: str
    node_name: str
    from_step_ids: list[str]
    to_step_ids: list[str]


class FieldSet(_Out):
    """A distinct set of fields on the way to anchors, as a change from the set before it in the
    map, or listed in full (`keyframe`) once the changes since the last full listing add up to
    its size: along a chain each set adds a field or two, so the sets take space linear in the
    scenario (at most twice their changes), not anchors x fields, and any set is rebuilt from
    at most about twice its own size."""

    added: list[str]
    dropped: list[str] = Field(default_factory=list)
    keyframe: bool = False


class TransformationMap(_Out):
    anchors: list[Anchor]
    deleted_nodes: list[DeletedNode]
    ambiguous_steps: list[AmbiguousStep]
    changed_forks: list[str]  # V2 step ids whose exits must be evaluated with customer data
    edited_steps: list[str] = Field(default_factory=list)  # V2 ids of steps edited in place
    field_sets: list[FieldSet] = Field(default_factory=list)

    def fields_of(self, field_set: int | None) -> list[str]:
        """The fields of one set: from the last keyframe before it, the changes up to it."""
        if field_set is None:
            return []
        start = field_set
        while not self.field_sets[start].keyframe:
            start -= 1
        fields = set(self.field_sets[start].added)
        for change in self.field_sets[start + 1 : field_set + 1]:
            fields.update(change.added)
            fields.difference_update(change.dropped)
        return sorted(fields)

    def with_fields(self, anchors: list["Anchor"] | None = None) -> list["Anchor"]:
        """Anchors (all, or a page of them) with `fields_on_the_way` filled in."""
        return [
            a.model_copy(update={"fields_on_the_way": self.fields_of(a.field_set)})
            for a in (self.anchors if anchors is None else anchors)
        ]

    def anchor_for(self, old_step_id: str) -> Anchor | None:
        """The anchor a session on this old-version step migrates to: its own step's anchor, or
        for a deleted step its nearest anchor; None when nothing stands for it. The one place
        marking and JIT resolve a session's anchor (and so its policy)."""
        return self._anchor_by_step.get(old_step_id)

    @cached_property
    def _anchor_by_step(self) -> dict[str, Anchor]:
        by_key = {a.anchor_content_hash: a for a in self.anchors}
        found = {d.node_id: by_key[d.nearest_anchor] for d in self.deleted_nodes if d.nearest_anchor}
        return found | {a.from_step_id: a for a in self.anchors}

    @cached_property
    def new_of_old(self) -> dict[str, str]:
        """Old step id -> new step id of every matched step (the planner's step matching)."""
        return {a.from_step_id: a.to_step_id for a in self.anchors}


@dataclass(frozen=True)
class StepCensus:
    """A step of the plan's source version with its plan-time census: where those sessions sit
    in the position index (`step_hash`, `step_id`), and whether they migrate (an anchor's, or a
    deleted step's relocated to one) or stay (a deleted step with no anchor to go to)."""

    step_hash: str
    step_id: str
    sessions: int
    migrates: bool


def census_by_step(tmap: "TransformationMap", summary: "PlanSummary") -> list[StepCensus]:
    """The plan-time census of the source version, step by step (what sampling and the sizing
    of a deployment's work units go by: no read of the index)."""
    anchors = [
        StepCensus(
            a.from_content_hash,
            a.from_step_id,
            summary.sessions_by_anchor.get(a.anchor_content_hash, 0),
            True,
        )
        for a in tmap.anchors
    ]
    deleted = [
        StepCensus(
            d.content_hash,
            d.node_id,
            summary.sessions_on_deleted_steps.get(d.node_id, 0),
            bool(d.nearest_anchor),
        )
        for d in tmap.deleted_nodes
    ]
    return anchors + deleted


class Warning(_Out):
    """`code` names the warning for `acknowledged_warnings` (stable across identical plans);
    `anchor_name` the anchor it concerns, `step_name` the step (a new or changed one) it is about."""

    severity: Severity
    code: str
    anchor_name: str | None
    step_name: str | None = None
    message: str
    affected_sessions_estimate: int = 0

    @property
    def names(self) -> set[str]:
        """What acknowledges it: its code, its message, or its kind (the code's first part, e.g.
        `condition_type`): a large plan can have thousands of critical warnings of one kind."""
        return {self.code, self.message, self.code.split(":", 1)[0]}


class FieldToCollect(_Out):
    """A field customers may be asked for: the first FIRST_ANCHORS anchors where (in the map's
    order) and how many in all (the map's anchors list every one, with their fields)."""

    field: str
    display_name: str
    anchors: list[str]
    anchors_total: int = 0


FIRST_ANCHORS = 20


class PlanSummary(_Out):
    total_anchors: int
    anchors_with_clean_graft: int
    anchors_with_gap_fill: int
    anchors_with_re_route: int
    nodes_deleted: int
    estimated_sessions_affected: int
    sessions_by_anchor: dict[str, int]
    sessions_on_deleted_steps: dict[str, int]
    fields_to_collect: list[FieldToCollect]
    warnings: list[Warning]

    @property
    def has_critical(self) -> bool:
        return any(w.severity is Severity.CRITICAL for w in self.warnings)

    def unacknowledged_critical(self, acknowledged: set[str]) -> list[Warning]:
        """Critical warnings not acknowledged (`Warning.names`): they block approval."""
        return [w for w in self.warnings if w.severity is Severity.CRITICAL and not w.names & acknowledged]


# -- pages: what one response carries of a large plan ------------------------------------------------
# Lambda answers at most 6 MB (a larger answer is a 502 at API Gateway) and a 50,000-step plan's
# map is about 30 MB of JSON: the map and the warnings are served in pages, each bounded by a
# count and by bytes (at least one entry per page, each entry bounded by the document's limits).

MAP_LISTS = ("anchors", "deleted_nodes", "ambiguous_steps", "changed_forks", "edited_steps")


@dataclass(frozen=True)
class Slice[T]:
    """The entries of one page, and where the next page starts (None: this was the last)."""

    entries: list[T]
    next_start: int | None


def page_of[T](
    entries: Sequence[T], start: int, limit: int, budget: int, total: int | None = None
) -> Slice[T]:
    """The page of `entries` (the sequence from `start` on; `total` long in all, by default
    start + len(entries)): at most `limit` entries and no more than `budget` bytes of JSON, but
    at least one when there is one (an entry is never split)."""
    taken = used = 0
    for entry in entries[:limit]:
        size = json_size(entry)
        if taken and used + size > budget:
            break
        taken, used = taken + 1, used + size
    end, total = start + taken, start + len(entries) if total is None else total
    return Slice(list(entries[:taken]), end if end < total else None)


def json_size(entry: Any) -> int:
    """An entry's size as a response carries it (its JSON, plus a separator)."""
    if isinstance(entry, tuple):  # (list name, entry) of a map page
        return json_size(entry[1])
    return len(entry.model_dump_json()) + 1 if isinstance(entry, BaseModel) else len(entry) + 3


class MapTotals(_Out):
    anchors: int
    deleted_nodes: int
    ambiguous_steps: int
    changed_forks: int
    edited_steps: int

    @property
    def entries(self) -> int:
        return sum(getattr(self, name) for name in MAP_LISTS)


class MapPage(_Out):
    """A page of a transformation map: its lists read as one sequence (the anchors, then the
    deleted steps, the ambiguous steps, the changed forks and the edited steps), a page holding
    the next entries of it. Anchors list their `fields_on_the_way` (the stored map refers to
    shared field sets instead). `totals` counts every list whole; `next_token` (and `next`, the
    URL that reads it) is null on the last page."""

    anchors: list[Anchor] = Field(default_factory=list)
    deleted_nodes: list[DeletedNode] = Field(default_factory=list)
    ambiguous_steps: list[AmbiguousStep] = Field(default_factory=list)
    changed_forks: list[str] = Field(default_factory=list)
    edited_steps: list[str] = Field(default_factory=list)
    totals: MapTotals
    next_token: str | None = None
    next: str | None = None


def map_totals(lists: dict[str, list[Any]]) -> MapTotals:
    return MapTotals(**{name: len(lists.get(name, [])) for name in MAP_LISTS})


def map_window(lists: dict[str, list[Any]], start: int, count: int) -> dict[str, list[Any]]:
    """Entries [start, start + count) of the map's lists read as one sequence, list by list."""
    window, offset = {}, 0
    for name in MAP_LISTS:
        entries = lists.get(name, [])
        first, last = max(start - offset, 0), min(start + count - offset, len(entries))
        window[name] = entries[first:last] if first < last else []
        offset += len(entries)
    return window


def map_page(
    window: TransformationMap, totals: MapTotals, start: int, limit: int, budget: int
) -> tuple[MapPage, int | None]:
    """The page starting at `start`, from `window` (the map's entries from `start` on, at least
    `limit` of them when there are, with every field set), and where the next page starts (the
    service makes it a token): anchors list their fields, not a field set."""
    entries = [
        (name, entry)
        for name in MAP_LISTS
        for entry in (window.with_fields() if name == "anchors" else getattr(window, name))
    ]
    found = page_of(entries, start, limit, budget, totals.entries)
    chosen: dict[str, list[Any]] = {name: [] for name in MAP_LISTS}
    for name, entry in found.entries:
        chosen[name].append(entry.model_copy(update={"field_set": None}) if name == "anchors" else entry)
    return MapPage(**chosen, totals=totals), found.next_start


class PlanSummaryView(PlanSummary):
    """The summary as responses carry it: the first page of its warnings (the most severe
    first), how many there are in all, and the next page's token and URL (null: none)."""

    warnings_total: int
    warnings_next_token: str | None = None
    warnings_next: str | None = None


class WarningsPage(_Out):
    """A page of a plan's warnings, most severe first."""

    plan_id: str
    warnings: list[Warning]
    total: int
    next_token: str | None = None
    next: str | None = None


class PlanResult(_Out):
    transformation_map: TransformationMap
    summary: PlanSummary

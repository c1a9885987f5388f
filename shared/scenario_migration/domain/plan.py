"""What the planner produces (SPEC 3): the transformation map and its summary.

These models are also the API's response schemas, so their field names are the seed's.
"""

from enum import IntEnum, StrEnum
from functools import cached_property

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


class Warning(_Out):
    """`code` names the warning for `acknowledged_warnings` (stable across identical plans);
    `anchor_name` the anchor it concerns, `step_name` the step (a new or changed one) it is about."""

    severity: Severity
    code: str
    anchor_name: str | None
    step_name: str | None = None
    message: str
    affected_sessions_estimate: int = 0


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
        """Critical warnings not listed (by code or message) in `acknowledged`: they block approval."""
        return [
            w
            for w in self.warnings
            if w.severity is Severity.CRITICAL
            and w.code not in acknowledged
            and w.message not in acknowledged
        ]


class PlanResult(_Out):
    transformation_map: TransformationMap
    summary: PlanSummary

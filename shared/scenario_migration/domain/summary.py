"""The plan summary and its warnings (SPEC 3.1), from the diff and plan-time session counts.

Session estimates only visit anchors that have sessions, so a large scenario with few occupied
steps costs little. Checkpoint conflicts use reachability in the new version (loops included):
a redirect target must lie strictly after every checkpoint the customer may have passed.
"""

from collections.abc import Iterable, Mapping

from scenario_migration.domain.conditions import compile_condition
from scenario_migration.domain.graph import flow_backward, flow_forward, reached_from
from scenario_migration.domain.plan import (
    FieldToCollect,
    MigrationScenario,
    PlanSummary,
    Severity,
    TransformationMap,
    Warning,
)
from scenario_migration.domain.planner import ScenarioDiff, iter_bits

_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def summarize(diff: ScenarioDiff, tmap: TransformationMap, sessions_at: Mapping[str, int]) -> PlanSummary:
    by_anchor = {a.anchor_content_hash: int(sessions_at.get(a.from_step_id, 0)) for a in tmap.anchors}
    on_deleted = {
        d.node_id: int(sessions_at[d.node_id]) for d in tmap.deleted_nodes if sessions_at.get(d.node_id)
    }
    review = _Review(diff, tmap, sessions_at)
    warnings = sorted(review.warnings(), key=lambda w: _SEVERITY_ORDER[w.severity])
    scenarios = [a.migration_scenario for a in tmap.anchors]
    return PlanSummary(
        total_anchors=len(tmap.anchors),
        anchors_with_clean_graft=scenarios.count(MigrationScenario.CLEAN_GRAFT),
        anchors_with_gap_fill=scenarios.count(MigrationScenario.GAP_FILL),
        anchors_with_re_route=scenarios.count(MigrationScenario.RE_ROUTE),
        nodes_deleted=len(tmap.deleted_nodes),
        estimated_sessions_affected=sum(by_anchor.values()) + sum(on_deleted.values()),
        sessions_by_anchor=by_anchor,
        sessions_on_deleted_steps=on_deleted,
        fields_to_collect=review.fields_to_collect(),
        warnings=warnings,
    )


class _Review:
    def __init__(self, diff: ScenarioDiff, tmap: TransformationMap, sessions_at: Mapping[str, int]) -> None:
        self.diff = diff
        self.tmap = tmap
        self.sessions_at = sessions_at
        # (old index, new index, sessions) of the anchors customers sit on now
        self.occupied = [
            (o, n, int(sessions_at[diff.old.ids[o]]))
            for o, n in diff.matching.pairs
            if sessions_at.get(diff.old.ids[o])
        ]

    def warnings(self) -> Iterable[Warning]:
        yield from self._critical()
        yield from self._fork_warnings()
        yield from self._checkpoint_warnings()
        yield from self._deleted_warnings()
        yield from self._skipped_action_warnings()
        yield from self._field_warnings()

    def _sessions_where(self, bits: list[int], bit: int) -> int:
        return sum(count for _, n, count in self.occupied if bits[n] >> bit & 1)

    # -- fields --------------------------------------------------------------------------------

    def fields_to_collect(self) -> list[FieldToCollect]:
        anchors: dict[str, list[str]] = {name: [] for name in self.diff.field_names}
        for anchor in self.tmap.anchors:
            for name in anchor.fields_on_the_way:
                anchors[name].append(anchor.anchor_content_hash)
        scenario = self.diff.new.scenario
        return [
            FieldToCollect(field=name, display_name=scenario.field(name).label, anchors=keys)
            for name, keys in anchors.items()
        ]

    def _field_warnings(self) -> Iterable[Warning]:
        first_anchor = {}
        for anchor in self.tmap.anchors:
            for name in anchor.fields_on_the_way:
                first_anchor.setdefault(name, anchor.anchor_name)
        for i, name in enumerate(self.diff.field_names):
            yield Warning(
                severity=Severity.INFO,
                anchor_name=first_anchor.get(name),
                message=f"Customers may be asked for '{name}' if not in profile",
                affected_sessions_estimate=self._sessions_where(self.diff.fields_before, i),
            )

    # -- forks and checkpoints -----------------------------------------------------------------

    def _fork_warnings(self) -> Iterable[Warning]:
        for i, n in enumerate(self.diff.forks):
            change = self.diff.fork_changes[n]
            yield Warning(
                severity=Severity.WARNING,
                anchor_name=change.step_name,
                message=(
                    f"Sessions after '{change.step_name}' may be redirected by a new or changed fork "
                    f"({', '.join(change.kinds)})"
                ),
                affected_sessions_estimate=self._sessions_where(self.diff.forks_before, i),
            )

    def _checkpoint_warnings(self) -> Iterable[Warning]:
        checks = CheckpointAnalysis(self.diff)
        for fork_index, n in enumerate(self.diff.forks):
            for target, blocked in checks.blocked_redirects(n):
                for c in iter_bits(blocked):
                    yield self._blocked_redirect(fork_index, n, target, c, checks)
        for o, n in self.diff.matching.pairs:
            for c in iter_bits(checks.reordered(o, n)):
                name = self.diff.new.step(n).name
                yield Warning(
                    severity=Severity.WARNING,
                    anchor_name=name,
                    message=(
                        f"Customers at '{name}' may have passed checkpoint '{checks.name(c)}', which the "
                        f"new version does not place before '{name}': they will be blocked and stay on their "
                        "version"
                    ),
                    affected_sessions_estimate=int(self.sessions_at.get(self.diff.old.ids[o], 0)),
                )

    def _blocked_redirect(
        self, fork_index: int, n: int, target: int, c: int, checks: "CheckpointAnalysis"
    ) -> Warning:
        fork, to = self.diff.new.step(n).name, self.diff.new.step(target).name
        affected = sum(
            count
            for o, m, count in self.occupied
            if self.diff.forks_before[m] >> fork_index & 1 and checks.passed[o] >> c & 1
        )
        return Warning(
            severity=Severity.WARNING,
            anchor_name=checks.name(c),
            message=(
                f"Customers who passed checkpoint '{checks.name(c)}' cannot be redirected to '{to}' by "
                f"the fork at '{fork}': they will be blocked and stay on their version"
            ),
            affected_sessions_estimate=affected,
        )

    # -- deleted and skipped steps -------------------------------------------------------------

    def _deleted_warnings(self) -> Iterable[Warning]:
        for node in self.tmap.deleted_nodes:
            count = int(self.sessions_at.get(node.node_id, 0))
            if not count:
                continue
            where = (
                f"they will move to '{node.nearest_anchor_name}' ({node.relocation})"
                if node.nearest_anchor
                else "no step of the new version is near it: they will stay on their version"
            )
            yield Warning(
                severity=Severity.WARNING,
                anchor_name=node.node_name,
                message=f"{count} session(s) sit on deleted step '{node.node_name}': {where}",
                affected_sessions_estimate=count,
            )

    def _skipped_action_warnings(self) -> Iterable[Warning]:
        new = self.diff.new
        actions = [n for n in self.diff.inserted if new.step(n).performs_action or new.step(n).is_checkpoint]
        own = [0] * len(new)
        for i, n in enumerate(actions):
            own[n] = 1 << i
        before = flow_forward(new, own) if actions else own
        for i, n in enumerate(actions):
            name = new.step(n).name
            yield Warning(
                severity=Severity.WARNING,
                anchor_name=name,
                message=(
                    f"'{name}' performs an irreversible action and is inserted before existing steps: "
                    "migrated customers will skip it"
                ),
                affected_sessions_estimate=self._sessions_where(before, i),
            )

    # -- critical ------------------------------------------------------------------------------

    def _critical(self) -> Iterable[Warning]:
        if not self.tmap.anchors:
            yield Warning(
                severity=Severity.CRITICAL,
                anchor_name=None,
                message="The versions have no step in common: no live session can be migrated",
                affected_sessions_estimate=sum(int(v) for v in self.sessions_at.values()),
            )
        for twin in self.tmap.ambiguous_steps:
            yield Warning(
                severity=Severity.CRITICAL,
                anchor_name=twin.node_name,
                message=(
                    f"Step '{twin.node_name}' occurs several times and its copies cannot be told apart by "
                    f"position (old {twin.from_step_ids}, new {twin.to_step_ids}): make them differ"
                ),
                affected_sessions_estimate=sum(int(self.sessions_at.get(s, 0)) for s in twin.from_step_ids),
            )
        yield from self._uncollected_condition_fields()

    def _uncollected_condition_fields(self) -> Iterable[Warning]:
        scenario = self.diff.new.scenario
        collected = {f for step in scenario.steps for f in step.collects_fields}
        for step in scenario.steps:
            for transition in step.transitions:
                if not transition.condition:
                    continue
                for name in sorted(compile_condition(transition.condition).variables - collected):
                    yield Warning(
                        severity=Severity.CRITICAL,
                        anchor_name=step.name,
                        message=(
                            f"Condition '{transition.condition}' on '{step.name}' uses '{name}', "
                            "which no step collects"
                        ),
                    )


class CheckpointAnalysis:
    """Which checkpoints customers at each old anchor may have passed, and which new steps lie
    strictly after each of them."""

    def __init__(self, diff: ScenarioDiff) -> None:
        old, new = diff.old, diff.new
        self.diff = diff
        self.checkpoints = [o for o in old.order if old.step(o).is_checkpoint]
        own_old = [0] * len(old)
        own_new = [0] * len(new)
        for c, o in enumerate(self.checkpoints):
            own_old[o] = 1 << c
            if o in diff.new_of_old:
                own_new[diff.new_of_old[o]] = 1 << c
        before = flow_forward(old, own_old)
        self.own_old = own_old
        self.passed = [before[o] | own_old[o] for o in range(len(old))]
        self.after = reached_from(new, own_new)  # checkpoints each new step lies strictly after
        passed_at_new = [0] * len(new)
        for o, n in diff.matching.pairs:
            passed_at_new[n] = self.passed[o]
        self.passed_later = flow_backward(new, passed_at_new)

    def name(self, c: int) -> str:
        return self.diff.old.step(self.checkpoints[c]).name

    def blocked_redirects(self, fork: int) -> list[tuple[int, int]]:
        """(target, checkpoints blocking it) for each exit of a changed fork."""
        new = self.diff.new
        passed = 0
        for edge in new.forward_out[fork]:
            passed |= self.passed_later[edge.target]
        targets = sorted({e.target for e in new.out_edges[fork]}, key=new.rank.__getitem__)
        return [(t, passed & ~self.after[t]) for t in targets if passed & ~self.after[t]]

    def reordered(self, o: int, n: int) -> int:
        """Checkpoints passed before old anchor o that do not lie before it in the new version."""
        return self.passed[o] & ~self.own_old[o] & ~self.after[n]

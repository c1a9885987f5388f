"""The plan summary and its warnings (SPEC 3.1), from the diff and plan-time session counts.

Session estimates are bitsets of the anchors that have sessions, flowed once through each
version, so each warning's estimate is a few integer operations, not a scan of the anchors.
Checkpoint conflicts use reachability in the new version (loops included): a redirect target
must lie strictly after every checkpoint the customer may have passed. Warnings are one per
fork, per blocked redirect, per checkpoint, per field: never one per anchor and checkpoint.
"""

from collections.abc import Iterable, Mapping
from functools import cached_property

from scenario_migration.domain.conditions import compile_condition, type_problem, witnesses
from scenario_migration.domain.graph import ScenarioGraph, flow_backward, flow_forward, reached_from
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.plan import (
    FIRST_ANCHORS,
    Anchor,
    FieldSet,
    FieldToCollect,
    PlanSummary,
    Severity,
    TransformationMap,
    Warning,
)
from scenario_migration.domain.planner import ScenarioDiff, iter_bits
from scenario_migration.domain.scenario import Scenario, Transition

_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def summarize(diff: ScenarioDiff, tmap: TransformationMap, sessions_at: Mapping[str, int]) -> PlanSummary:
    on_deleted = {
        d.node_id: int(sessions_at[d.node_id]) for d in tmap.deleted_nodes if sessions_at.get(d.node_id)
    }
    review = _Review(diff, tmap, sessions_at)
    by_anchor = review.by_anchor
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
        self.by_anchor = {
            a.anchor_content_hash: int(sessions_at.get(a.from_step_id, 0)) for a in tmap.anchors
        }
        # (old index, new index, sessions) of the anchors customers sit on now
        self.occupied = [
            (o, n, int(sessions_at[diff.old.ids[o]]))
            for o, n in diff.matching.pairs
            if sessions_at.get(diff.old.ids[o])
        ]
        self.sessions = _Occupancy(diff, self.occupied)

    def warnings(self) -> Iterable[Warning]:
        yield from self._critical()
        yield from self._fork_warnings()
        yield from self._checkpoint_warnings()
        yield from self._deleted_warnings()
        yield from self._routed_to_warnings()
        yield from self._deleted_checkpoint_warnings()
        yield from self._unreachable_anchor_warnings()
        yield from self._field_warnings()
        yield from self._edited_step_warnings()

    def _anchor_after(self, n: int) -> str | None:
        """Name of the first anchor a customer reaches from new step n (itself if an anchor)."""
        new, keyed = self.diff.new, self.diff.new_of_key
        found = [keyed[k] for k in self.diff.first_anchors_new[n] if k in keyed]
        return new.step(min(found, key=new.rank.__getitem__)).name if found else None

    # -- fields --------------------------------------------------------------------------------

    @cached_property
    def _census(self) -> "_FieldCensus":
        return _FieldCensus(self.tmap, self.by_anchor)

    def fields_to_collect(self) -> list[FieldToCollect]:
        census, scenario = self._census, self.diff.new.scenario
        return [
            FieldToCollect(
                field=name,
                display_name=scenario.field(name).label,
                anchors=census.first_anchors(name),
                anchors_total=census.total(name, census.anchors_upto),
            )
            for name in self.diff.field_names
        ]

    def _field_warnings(self) -> Iterable[Warning]:
        census = self._census
        for name in self.diff.field_names:
            yield Warning(
                severity=Severity.INFO,
                code=f"field_may_be_asked:{name}",
                anchor_name=census.first_anchor_name(name),
                message=f"Customers may be asked for '{name}' if not in profile",
                affected_sessions_estimate=census.total(name, census.sessions_upto),
            )

    def _edited_step_warnings(self) -> Iterable[Warning]:
        edited = self.tmap.edited_steps
        if not edited:
            return
        names = [self.diff.new.step(self.diff.new.index[step_id]).name for step_id in edited]
        shown = ", ".join(f"'{name}'" for name in names[:3]) + (
            f" and {len(names) - 3} more" if len(names) > 3 else ""
        )
        yield Warning(
            severity=Severity.INFO,
            code="edited_steps",
            anchor_name=names[0],
            message=(
                f"{len(names)} step(s) keep their id and name but changed ({shown}): they are the same "
                "steps, edited; customers who went through them count as having done them"
            ),
        )

    # -- forks and checkpoints -----------------------------------------------------------------

    def _fork_warnings(self) -> Iterable[Warning]:
        for n in self.diff.forks:
            if n not in self.diff.redirecting:
                continue  # every exit leads to the same anchors: nobody is sent elsewhere
            change = self.diff.fork_changes[n]
            yield Warning(
                severity=Severity.WARNING,
                code=f"redirecting_fork:{change.step_id}",
                anchor_name=self._anchor_after(n),
                step_name=change.step_name,
                message=(
                    f"Sessions after '{change.step_name}' may be redirected by a new or changed fork "
                    f"({', '.join(change.kinds)})"
                ),
                affected_sessions_estimate=self.sessions.count(self.sessions.after_new(n)),
            )

    def _checkpoint_warnings(self) -> Iterable[Warning]:
        """One warning per redirect a checkpoint blocks (fork, target), and one per checkpoint
        that anchors no longer lie after: never one per (anchor, checkpoint) pair, which would
        grow with the square of the scenario."""
        checks = CheckpointAnalysis(self.diff)
        for n in self.diff.forks:
            if n not in self.diff.redirecting:
                continue
            for target, blocked in checks.blocked_redirects(n):
                yield self._blocked_redirect(n, target, blocked, checks)
        yield from self._reordered_checkpoints(checks)

    def _blocked_redirect(self, n: int, target: int, blocked: int, checks: "CheckpointAnalysis") -> Warning:
        fork, to = self.diff.new.step(n).name, self.diff.new.step(target).name
        # sessions after the fork, except where this exit leads (they are not redirected)
        after_fork = self.sessions.after_new(n) & ~self.sessions.at_or_after_new[target]
        passed = 0
        for c in iter_bits(blocked):  # earliest first: usually the first one covers them all
            passed |= self.sessions.at_or_after_old[checks.checkpoints[c]] & after_fork
            if passed == after_fork:
                break
        return Warning(
            severity=Severity.WARNING,
            code=f"checkpoint_blocks_redirect:{self.diff.new.ids[n]}:{self.diff.new.ids[target]}",
            anchor_name=self._anchor_after(n),
            step_name=fork,
            message=(
                f"Customers who passed checkpoint {_names(checks, blocked)} cannot be redirected to "
                f"'{to}' by the fork at '{fork}': they will be blocked and stay on their version"
            ),
            affected_sessions_estimate=self.sessions.count(passed),
        )

    def _reordered_checkpoints(self, checks: "CheckpointAnalysis") -> Iterable[Warning]:
        new = self.diff.new
        first: dict[int, int] = {}  # checkpoint -> the first anchor (new order) it is no longer before
        seen = seen_twice = 0
        reordered = {(o, n): checks.reordered(o, n) for o, n in self.diff.matching.pairs}
        for (_, n), bits in sorted(reordered.items(), key=lambda item: new.rank[item[0][1]]):
            for c in iter_bits(bits & ~seen):
                first[c] = n
            seen_twice |= seen & bits
            seen |= bits
        affected = dict.fromkeys(first, 0)
        for o, n, count in self.occupied:
            for c in iter_bits(reordered[o, n]):
                affected[c] += count
        for c, n in sorted(first.items(), key=lambda item: (new.rank[item[1]], item[0])):
            name = new.step(n).name
            where, them = (
                (f"'{name}' and other steps", "them") if seen_twice >> c & 1 else (f"'{name}'", f"'{name}'")
            )
            yield Warning(
                severity=Severity.WARNING,
                code=f"checkpoint_reordered:{self.diff.old.ids[checks.checkpoints[c]]}",
                anchor_name=name,
                step_name=checks.name(c),
                message=(
                    f"Customers at {where} may have passed checkpoint '{checks.name(c)}', which the new "
                    f"version does not place before {them}: they will be blocked and stay on their version"
                ),
                affected_sessions_estimate=affected[c],
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
                code=f"deleted_step_sessions:{node.node_id}",
                anchor_name=node.nearest_anchor_name,
                step_name=node.node_name,
                message=f"{count} session(s) sit on deleted step '{node.node_name}': {where}",
                affected_sessions_estimate=count,
            )

    def _routed_to_warnings(self) -> Iterable[Warning]:
        """Checkpoints and actions inserted, or moved before anchors they were not before: a
        customer who has not been through one is routed to it (never skips it)."""
        diff, new = self.diff, self.diff.new
        before_some_anchor = 0
        for o, n in diff.matching.pairs:
            before_some_anchor |= diff.rerouting_gaps(o, n)
        moved_affected = [0] * len(diff.rerouting)
        for o, n, count in self.occupied:
            for j in iter_bits(diff.rerouting_gaps(o, n)):
                moved_affected[j] += count
        steps = [
            (n, self.sessions.count(self.sessions.after_new(n)))
            for n in diff.inserted
            if diff.first_anchors_new[n] and _irreversible(new, n)
        ]
        steps += [(n, moved_affected[j]) for j, n in enumerate(diff.rerouting) if before_some_anchor >> j & 1]
        for n, affected in sorted(steps, key=lambda item: new.rank[item[0]]):
            yield self._routed_to(n, affected)

    def _routed_to(self, n: int, affected: int) -> Warning:
        step = self.diff.new.step(n)
        how = "now comes before steps it was not before" if n in self.diff.matching.key_new else "is inserted"
        kind = "checkpoint" if step.is_checkpoint else "action"
        return Warning(
            severity=Severity.WARNING,
            code=f"routed_to_step:{step.id}",
            anchor_name=self._anchor_after(n),
            step_name=step.name,
            message=(
                f"'{step.name}' ({kind}) {how}: customers after it who have not been through it "
                "will be routed to it, not migrated past it"
            ),
            affected_sessions_estimate=affected,
        )

    def _deleted_checkpoint_warnings(self) -> Iterable[Warning]:
        old = self.diff.old
        for o in self.diff.deleted:
            step = old.step(o)
            if not step.is_checkpoint:
                continue
            after = 0
            for edge in old.forward_out[o]:
                after |= self.sessions.at_or_after_old[edge.target]
            yield Warning(
                severity=Severity.WARNING,
                code=f"deleted_checkpoint:{step.id}",
                anchor_name=None,
                step_name=step.name,
                message=(
                    f"Checkpoint '{step.name}' is deleted: customers who passed it are not blocked by it "
                    "(the new version has nothing of it to undo)"
                ),
                affected_sessions_estimate=self.sessions.count(after),
            )

    def _unreachable_anchor_warnings(self) -> Iterable[Warning]:
        new, diff = self.diff.new, self.diff
        reachable, reached_before = new.reachable_from_entry, diff.old.reachable_from_entry
        stranded = [(o, n) for o, n in diff.matching.pairs if n not in reachable and o in reached_before]
        if not stranded:
            return
        stranded.sort(key=lambda pair: new.rank[pair[1]])
        names = [new.step(n).name for _, n in stranded]
        shown = ", ".join(f"'{name}'" for name in names[:3]) + (
            f" and {len(names) - 3} more" if len(names) > 3 else ""
        )
        sessions = sum(int(self.sessions_at.get(diff.old.ids[o], 0)) for o, _ in stranded)
        yield Warning(
            severity=Severity.WARNING,
            code="unreachable_anchors",
            anchor_name=names[0],
            message=(
                f"{len(names)} step(s) the old entry step reached cannot be reached from the new one "
                f"({shown}): customers there migrate to a place no new conversation passes"
            ),
            affected_sessions_estimate=sessions,
        )

    # -- critical ------------------------------------------------------------------------------

    def _critical(self) -> Iterable[Warning]:
        if not self.tmap.anchors:
            yield Warning(
                severity=Severity.CRITICAL,
                code="no_anchors",
                anchor_name=None,
                message="The versions have no step in common: no live session can be migrated",
                affected_sessions_estimate=sum(int(v) for v in self.sessions_at.values()),
            )
        for twin in self.tmap.ambiguous_steps:
            yield Warning(
                severity=Severity.CRITICAL,
                code=f"ambiguous_step:{twin.content_hash}",
                anchor_name=None,
                step_name=twin.node_name,
                message=(
                    f"Step '{twin.node_name}' occurs several times and its copies cannot be told apart by "
                    f"position (old {twin.from_step_ids}, new {twin.to_step_ids}): make them differ"
                ),
                affected_sessions_estimate=sum(int(self.sessions_at.get(s, 0)) for s in twin.from_step_ids),
            )
        yield from self._condition_warnings()

    def _condition_warnings(self) -> Iterable[Warning]:
        """Conditions that would fail customers at run time: a field nothing can collect (no
        step collects it and the catalogue has no question to ask), or a condition that does not
        type-check against the catalogue (an uncatalogued field is a string)."""
        new = self.diff.new
        scenario = new.scenario
        collectable = {f for step in scenario.steps for f in step.collects_fields}
        collectable |= {spec.name for spec in scenario.fields if spec.question}
        for n in new.order:  # topological, not the document's order
            step = new.step(n)
            for index, transition in enumerate(step.transitions):
                if not transition.condition:
                    continue
                for problem, code in _condition_problems(scenario, transition, collectable):
                    yield Warning(
                        severity=Severity.CRITICAL,
                        code=f"{code}:{step.id}:{index}",
                        anchor_name=self._anchor_after(n),
                        step_name=step.name,
                        message=f"Condition '{transition.condition}' on '{step.name}': {problem}",
                        affected_sessions_estimate=self.sessions.count(self.sessions.after_new(n)),
                    )


def _condition_problems(
    scenario: Scenario, transition: Transition, collectable: set[str]
) -> list[tuple[str, str]]:
    condition = compile_condition(transition.condition or "")
    problems = [
        (
            f"it uses '{name}', which no step collects and the catalogue has no question for",
            "uncollectable_field",
        )
        for name in sorted(condition.variables - collectable)
    ]
    variables = tuple(
        (name, witnesses(scenario.field(name).type.value, scenario.field(name).values))
        for name in sorted(condition.variables)
    )
    problem = type_problem(condition.source, variables)
    if problem:
        problems.append(
            (
                f"{problem}; fields are typed by the catalogue, an uncatalogued field is a string",
                "condition_type",
            )
        )
    return problems


def _irreversible(graph: ScenarioGraph, n: int) -> bool:
    step = graph.step(n)
    return step.is_checkpoint or step.performs_action


def _names(checks: "CheckpointAnalysis", bits: int, shown: int = 3) -> str:
    """'A', 'A' or 'B', 'A', 'B', 'C' or 2 more."""
    names = []
    for c in iter_bits(bits):
        if len(names) == shown:
            return f"{', '.join(names)} or {bits.bit_count() - shown} more"
        names.append(f"'{checks.name(c)}'")
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


class _FieldCensus:
    """Which anchors (and how many sessions) each field concerns, from the map's field sets: one
    sweep over the sets' changes, in their order of first use, finds each field's runs of sets
    (usually one); prefix sums over the sets then give every total. Linear in the sets' changes,
    never anchors x fields."""

    def __init__(self, tmap: TransformationMap, sessions_by_anchor: Mapping[str, int]) -> None:
        count = len(tmap.field_sets)
        self.anchors_of_set: list[list[Anchor]] = [[] for _ in range(count)]
        sessions = [0] * count
        for anchor in tmap.anchors:
            if anchor.field_set is not None:
                self.anchors_of_set[anchor.field_set].append(anchor)
                sessions[anchor.field_set] += sessions_by_anchor.get(anchor.anchor_content_hash, 0)
        self.anchors_upto = _prefix([len(anchors) for anchors in self.anchors_of_set])
        self.sessions_upto = _prefix(sessions)
        self.runs = _runs(tmap.field_sets)

    def total(self, name: str, upto: list[int]) -> int:
        return sum(upto[end] - upto[start] for start, end in self.runs.get(name, []))

    def first_anchors(self, name: str) -> list[str]:
        found: list[str] = []
        for start, end in self.runs.get(name, []):
            for field_set in range(start, end):
                found += [
                    a.anchor_content_hash
                    for a in self.anchors_of_set[field_set][: FIRST_ANCHORS - len(found)]
                ]
                if len(found) == FIRST_ANCHORS:
                    return found
        return found

    def first_anchor_name(self, name: str) -> str | None:
        runs = self.runs.get(name)
        return self.anchors_of_set[runs[0][0]][0].anchor_name if runs else None


def _prefix(values: list[int]) -> list[int]:
    sums = [0]
    for value in values:
        sums.append(sums[-1] + value)
    return sums


def _runs(field_sets: list[FieldSet]) -> dict[str, list[tuple[int, int]]]:
    """Per field: the [start, end) runs of set indices it belongs to."""
    runs: dict[str, list[tuple[int, int]]] = {}
    opened: dict[str, int] = {}
    current: set[str] = set()
    for i, entry in enumerate(field_sets):
        listed = set(entry.added)
        added, dropped = (
            (listed - current, current - listed) if entry.keyframe else (listed, set(entry.dropped))
        )
        for name in dropped:
            runs.setdefault(name, []).append((opened.pop(name), i))
        for name in added:
            opened[name] = i
        current = (current - dropped) | added
    for name, start in opened.items():
        runs.setdefault(name, []).append((start, len(field_sets)))
    return runs


class _Occupancy:
    """Live sessions on anchors as bitsets (bit j: the j-th occupied anchor), so "how many
    sessions sit after step v" costs one flow per version and a weighted popcount, not a scan
    of the occupied anchors per warning."""

    def __init__(self, diff: ScenarioDiff, occupied: list[tuple[int, int, int]]) -> None:
        own_old, own_new = [0] * len(diff.old), [0] * len(diff.new)
        for j, (o, n, _) in enumerate(occupied):
            own_old[o] |= 1 << j
            own_new[n] |= 1 << j
        self.new = diff.new
        self.at_or_after_old = flow_backward(diff.old, own_old) if occupied else own_old
        self.at_or_after_new = flow_backward(diff.new, own_new) if occupied else own_new
        width = max((count for *_, count in occupied), default=0).bit_length()
        self.planes = [0] * width  # plane k: the occupied anchors whose count has bit k set
        for j, (*_, count) in enumerate(occupied):
            for k in range(width):
                if count >> k & 1:
                    self.planes[k] |= 1 << j

    def after_new(self, v: int) -> int:
        """The occupied anchors strictly after new step v on a forward path."""
        bits = 0
        for edge in self.new.forward_out[v]:
            bits |= self.at_or_after_new[edge.target]
        return bits

    def count(self, bits: int) -> int:
        """Sessions on the occupied anchors in `bits`."""
        return sum((bits & plane).bit_count() << k for k, plane in enumerate(self.planes))


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
        """The checkpoint's name in the new version, or the old one's if the new deleted it: the
        name an operator finds in the version they are deploying (or among its deleted steps)."""
        o = self.checkpoints[c]
        n = self.diff.new_of_old.get(o)
        return self.diff.new.step(n).name if n is not None else self.diff.old.step(o).name

    def blocked_redirects(self, fork: int) -> list[tuple[int, int]]:
        """(target, checkpoints blocking it) for each exit of a changed fork. Customers are
        redirected to an exit only if their anchor does not come after it: the checkpoints that
        count are those passed at the anchors first reached through the *other* exits (and
        beyond them), not at the anchors this exit leads to (no one is redirected there)."""
        diff, new = self.diff, self.diff.new
        first = diff.first_anchors_new
        reached = frozenset().union(*(first[e.target] for e in new.forward_out[fork]))
        blocked = []
        for t in sorted({e.target for e in new.out_edges[fork]}, key=new.rank.__getitem__):
            passed = 0
            for key in reached - first[t]:
                b = diff.new_of_key.get(key)  # None for a twin no anchor stands for
                if b is not None:
                    passed |= self.passed_later[b]
            if passed & ~self.after[t]:
                blocked.append((t, passed & ~self.after[t]))
        return blocked

    def reordered(self, o: int, n: int) -> int:
        """Checkpoints passed before old anchor o that do not lie before it in the new version."""
        return self.passed[o] & ~self.own_old[o] & ~self.after[n]

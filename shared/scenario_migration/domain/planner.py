"""The graph diff (SPEC 3): classify every anchor by what changed on the way to it.

Cost is linear in steps + transitions (plus output): no graph search per anchor. Each version is
walked a fixed number of times in topological order of its forward DAG (graph.py), carrying
bitsets (Python ints) of change ids, so unions are a few machine-word operations.

Two notions of "on the way", on purpose:
- the *gap* of an anchor (what lies between it and the nearest anchors before or after it)
  gives `upstream_changes` / `downstream_changes`, so the listing stays linear in size;
- the *impact* (clean graft < gap fill < re-route) and `fields_on_the_way` flow through anchors:
  a customer anywhere after a new fork may be redirected by it (unless every exit of the fork
  leads to the same anchors: then it only picks which fields are asked, see `redirecting`).

The impact follows the JIT's replay walk (docs/architecture.md): a step on the way that a
customer at the anchor may not have been through is a gap, whether inserted or an existing step
reached in a new way (moved, or on a new transition: `novel`), unless it dominated the anchor in
the old version (every customer there went through it). A checkpoint or action among them
re-routes; fields among them are gap fills.

Everything emitted is ordered by the graphs (topological, ties by id), never by the position of
a step in the document, so renaming or reordering steps changes nothing but the ids.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from scenario_migration.domain.anchors import AnchorMatching, match_anchors
from scenario_migration.domain.graph import Edge, ScenarioGraph, flow_forward
from scenario_migration.domain.plan import (
    AmbiguousStep,
    Anchor,
    Branch,
    Changes,
    DeletedNode,
    FieldSet,
    ForkChange,
    GapPath,
    Impact,
    NodeChange,
    TransformationMap,
    TransitionChange,
)
from scenario_migration.domain.relocation import nearest_anchors

MAX_PATHS_PER_ANCHOR = 16
NO_CHANGES = Changes()  # shared by the many anchors with nothing on one side (models are frozen)


def iter_bits(bits: int) -> Iterator[int]:
    """Indices of the set bits, lowest first."""
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


@dataclass
class ScenarioDiff:
    old: ScenarioGraph
    new: ScenarioGraph
    matching: AnchorMatching
    fork_changes: dict[int, ForkChange] = field(default_factory=dict)  # by new step index
    added_edges: dict[tuple[int, int], TransitionChange] = field(default_factory=dict)  # new edges
    removed_edges: dict[tuple[int, int], TransitionChange] = field(default_factory=dict)  # old edges

    @classmethod
    def build(cls, old: ScenarioGraph, new: ScenarioGraph) -> "ScenarioDiff":
        diff = cls(old, new, match_anchors(old, new))
        for o, n in diff.matching.pairs:
            diff._compare_exits(o, n)
        for n in diff.inserted:
            if new.is_fork(n):
                diff.fork_changes[n] = _fork(new, n, ["new_step"])
        return diff

    @cached_property
    def inserted(self) -> list[int]:
        """New steps that stand for no old one (ambiguous twins are neither: see anchors.py)."""
        twins = self.twins_new
        return [n for n in self.new.order if n not in self.matching.key_new and n not in twins]

    @cached_property
    def deleted(self) -> list[int]:
        """Old steps no new one stands for (ambiguous twins excepted)."""
        twins = self.twins_old
        return [o for o in self.old.order if o not in self.matching.key_old and o not in twins]

    @cached_property
    def twins_new(self) -> dict[int, str]:
        """New steps among ambiguous twins -> "<hash>?": "some copy of that step"."""
        return {n: f"{h}?" for h, _, news in self.matching.ambiguous for n in news}

    @cached_property
    def twins_old(self) -> dict[int, str]:
        return {o: f"{h}?" for h, olds, _ in self.matching.ambiguous for o in olds}

    @cached_property
    def new_of_old(self) -> dict[int, int]:
        return dict(self.matching.pairs)

    @cached_property
    def new_of_key(self) -> dict[str, int]:
        return {key: n for n, key in self.matching.key_new.items()}

    # -- exits of anchors ----------------------------------------------------------------------

    def _compare_exits(self, o: int, n: int) -> None:
        """Match each exit of the anchor in V2 with one in V1 by where it leads (an inserted
        target stands for the anchors right after it), then compare conditions and priorities."""
        if self._same_exits(self.old.out_edges[o], self.new.out_edges[n]):
            return
        old_exits = [(e, self.first_anchors_old[e.target]) for e in self.old.out_edges[o]]
        new_exits = [(e, self.first_anchors_new[e.target]) for e in self.new.out_edges[n]]
        kinds: set[str] = set()
        unmatched_old = list(range(len(old_exits)))
        for new_edge, targets in new_exits:
            k = next((k for k in unmatched_old if old_exits[k][1] & targets), None)
            if k is None:
                kinds.add("new_branch")
                if new_edge.target in self.matching.key_new:
                    self.added_edges[(n, new_edge.target)] = _transition_change(self.new, new_edge, "added")
                continue
            unmatched_old.remove(k)
            old_t, new_t = old_exits[k][0].transition, new_edge.transition
            if old_t.normalized_condition != new_t.normalized_condition:
                kinds.add("changed_condition")
            elif old_t.priority != new_t.priority and len(new_exits) > 1:
                kinds.add("changed_priority")
        for k in unmatched_old:
            edge = old_exits[k][0]
            self.removed_edges[(o, edge.target)] = _transition_change(self.old, edge, "removed")
        if kinds and self.new.is_fork(n):
            self.fork_changes[n] = _fork(self.new, n, sorted(kinds))

    def _same_exits(self, old: list[Edge], new: list[Edge]) -> bool:
        """The common case, cheaply: the same exits, in the same order, to the same places (so
        the general matching below would find nothing)."""
        if len(old) != len(new):
            return False
        first_old, first_new = self.first_anchors_old, self.first_anchors_new
        for old_edge, new_edge in zip(old, new, strict=True):
            targets = first_new[new_edge.target]
            old_t, new_t = old_edge.transition, new_edge.transition
            if (
                not targets
                or targets != first_old[old_edge.target]
                or old_t.condition != new_t.condition
                or old_t.priority != new_t.priority
            ):
                return False
        return True

    @cached_property
    def first_anchors_new(self) -> list[frozenset[str]]:
        """Per new step: the anchor keys first reached after it (itself if an anchor)."""
        return _first_anchors(self.new, self.matching.key_new | self.twins_new)

    @cached_property
    def first_anchors_old(self) -> list[frozenset[str]]:
        return _first_anchors(self.old, self.matching.key_old | self.twins_old)

    # -- what flows along the new version ------------------------------------------------------

    @cached_property
    def impact_before(self) -> list[int]:
        """Per new step: OR of Impact bits (1 gap fill, 2 re-route) of the changes before it."""
        own = [0] * len(self.new)
        for n in self.redirecting:
            own[n] = 1 << Impact.RE_ROUTE
        for n in self.inserted:
            impact = _impact_of(self.new, n)
            if impact:
                own[n] |= 1 << impact
        return flow_forward(self.new, own)

    @cached_property
    def redirecting(self) -> frozenset[int]:
        """The new or changed forks that can send a customer elsewhere. A fork whose every exit
        leads, without loops or dead ends, to the same first anchors (V2 `A -> {Ask Phone | Ask
        Email} -> B`) only decides which way to B, hence which fields are asked: its anchors are
        gap fills, not re-routes. It stays a changed fork so the JIT walk evaluates it."""
        first, escapes = self.first_anchors_new, self._escapes_new
        redirecting = set()
        for n in self.fork_changes:
            exits = {e.target for e in self.new.out_edges[n]}
            sets = {first[t] for t in exits}
            if len(sets) != 1 or not next(iter(sets)) or any(escapes[t] for t in exits):
                redirecting.add(n)
        return frozenset(redirecting)

    @cached_property
    def _escapes_new(self) -> list[bool]:
        """Per new step: a customer leaving it may loop back or stop before the first anchors
        (a dead end, or a cycle through steps that are not anchors)."""
        keyed = self.matching.key_new.keys() | self.twins_new.keys()
        back, graph = self.new.back_edges, self.new
        escapes = [False] * len(graph)
        for v in reversed(graph.order):
            if v in keyed:
                continue
            edges = graph.out_edges[v]
            escapes[v] = (
                not edges
                or any((v, e.target) in back for e in edges)
                or any(escapes[e.target] for e in graph.forward_out[v])
            )
        return escapes

    def impact_at(self, o: int, n: int) -> Impact:
        """A few integer operations per anchor: novel gaps are judged by masks, not one by one."""
        bits = self.impact_before[n]
        if self.rerouting_gaps(o, n):
            bits |= 1 << Impact.RE_ROUTE
        if self._novel_fields_before[n] & ~self._novel_fields_dominating[o]:
            bits |= 1 << Impact.GAP_FILL
        return (
            Impact.RE_ROUTE
            if bits >> Impact.RE_ROUTE & 1
            else Impact.GAP_FILL
            if bits >> Impact.GAP_FILL & 1
            else Impact.NONE
        )

    # -- existing steps reached in a new way ---------------------------------------------------

    @cached_property
    def novel(self) -> list[int]:
        """Matched new steps that matter to a customer (checkpoints, actions, steps collecting
        fields) and that a forward transition reaches in a way the old version did not have:
        from an inserted step, or between matched steps that had no such transition (a moved
        step, an existing step on a new edge)."""
        old_of_new = {n: o for o, n in self.matching.pairs}
        old_edges, twins = self.old.edge_set, self.twins_new
        found = []
        for n in self.new.order:
            if n not in old_of_new or not _impact_of(self.new, n):
                continue
            if any(
                e.source not in twins
                and (e.source not in old_of_new or (old_of_new[e.source], old_of_new[n]) not in old_edges)
                for e in self.new.forward_in[n]
            ):
                found.append(n)
        return found

    @cached_property
    def rerouting(self) -> list[int]:
        """The novel steps that re-route a customer who has not been through them (checkpoints,
        actions): usually a handful. Bit j of `rerouting_gaps` is rerouting[j]."""
        return [n for n in self.novel if _impact_of(self.new, n) is Impact.RE_ROUTE]

    @cached_property
    def _rerouting_before(self) -> list[int]:
        own = [0] * len(self.new)
        for j, n in enumerate(self.rerouting):
            own[n] = 1 << j
        return flow_forward(self.new, own) if self.rerouting else own

    @cached_property
    def _rerouting_dominating(self) -> list[int]:
        """Per old step: the rerouting novel steps whose old counterpart dominates it (every
        customer there went through them)."""
        return self._down_the_dominator_tree({n: 1 << j for j, n in enumerate(self.rerouting)})

    def _down_the_dominator_tree(self, bits_of: dict[int, int]) -> list[int]:
        """Per old step: the OR of the bits of the new steps (keys of `bits_of`) whose old
        counterparts dominate it, flowed down the old version's dominator tree (linear)."""
        own = [0] * len(self.old)
        old_of_new = {n: o for o, n in self.matching.pairs}
        for n, bits in bits_of.items():
            own[old_of_new[n]] |= bits
        if not bits_of:
            return own
        idom = self.old.idom
        dominating = [0] * len(self.old)
        for v in _tree_order(idom, self.old.entry):
            if idom[v] != -1:
                dominating[v] = dominating[idom[v]] | own[idom[v]]
        return dominating

    def rerouting_gaps(self, o: int, n: int) -> int:
        """Bits of the rerouting steps on the way to anchor (o, n) that customers at o may not
        have been through (narrow integers: one bit per checkpoint or action moved)."""
        return self._rerouting_before[n] & ~self._rerouting_dominating[o]

    # -- fields ----------------------------------------------------------------------------------

    @cached_property
    def field_names(self) -> list[str]:
        """Fields of inserted and novel steps: what a migrated customer may be asked for."""
        steps = [*self.inserted, *self.novel]
        return sorted({f for n in steps for f in self.new.step(n).collects_fields})

    @cached_property
    def _field_bit(self) -> dict[str, int]:
        return {name: 1 << i for i, name in enumerate(self.field_names)}

    @cached_property
    def fields_before(self) -> list[int]:
        own = [0] * len(self.new)
        for n in self.inserted:
            for name in self.new.step(n).collects_fields:
                own[n] |= self._field_bit[name]
        return flow_forward(self.new, own)

    @cached_property
    def _novel_field_bits(self) -> dict[int, int]:
        """Per novel step collecting fields: its fields' bits."""
        bit = self._field_bit
        steps = ((n, set(self.new.step(n).collects_fields)) for n in self.novel)
        return {n: sum(bit[name] for name in names) for n, names in steps if names}

    @cached_property
    def _novel_fields_before(self) -> list[int]:
        own = [0] * len(self.new)
        for n, bits in self._novel_field_bits.items():
            own[n] |= bits
        return flow_forward(self.new, own) if self._novel_field_bits else own

    @cached_property
    def _novel_fields_dominating(self) -> list[int]:
        return self._down_the_dominator_tree(self._novel_field_bits)

    def field_bits(self, o: int, n: int) -> int:
        """The fields a customer at anchor (o, n) may be asked for, as bits of field_names: those
        of inserted steps before it, and those of novel steps before it unless a novel step
        collecting the same field dominated o (the customer gave it there). Two integer
        operations: no per-anchor list is built (a long chain would make anchors x fields)."""
        return self.fields_before[n] | (self._novel_fields_before[n] & ~self._novel_fields_dominating[o])

    def field_list(self, bits: int) -> list[str]:
        return [self.field_names[i] for i in iter_bits(bits)]

    @cached_property
    def forks(self) -> list[int]:
        return sorted(self.fork_changes, key=self.new.rank.__getitem__)

    # -- the transformation map ----------------------------------------------------------------

    @cached_property
    def anchor_pairs(self) -> list[tuple[int, int]]:
        """(old, new) of every anchor, in the map's order (topological in the new version)."""
        return sorted(self.matching.pairs, key=lambda pair: self.new.rank[pair[1]])

    def transformation_map(self) -> TransformationMap:
        gaps = _GapListing(self)
        sets = _FieldSetTable(self)
        anchors = [
            Anchor.model_construct(  # built from validated parts: validating again doubles the cost
                anchor_content_hash=self.matching.key_new[n],
                content_hash=self.new.hashes[n],
                from_content_hash=self.old.hashes[o],
                edited=n in self.matching.edited,
                anchor_name=self.new.step(n).name,
                from_step_id=self.old.ids[o],
                to_step_id=self.new.ids[n],
                migration_scenario=self.impact_at(o, n).scenario,
                field_set=sets.id_of(self.field_bits(o, n)),
                upstream_changes=gaps.upstream(o, n),
                downstream_changes=gaps.downstream(o, n),
            )
            for o, n in self.anchor_pairs
        ]
        return TransformationMap(
            field_sets=sets.sets,
            edited_steps=[self.new.ids[n] for n in self.new.order if n in self.matching.edited],
            anchors=anchors,
            deleted_nodes=self._deleted_nodes(),
            ambiguous_steps=[
                AmbiguousStep(
                    content_hash=content_hash,
                    node_name=self.new.step(news[0]).name,
                    from_step_ids=sorted(self.old.ids[o] for o in olds),
                    to_step_ids=sorted(self.new.ids[n] for n in news),
                )
                for content_hash, olds, news in self.matching.ambiguous
            ],
            changed_forks=[self.new.ids[n] for n in self.forks],
        )

    def _deleted_nodes(self) -> list[DeletedNode]:
        anchors_old = [o for o, _ in self.matching.pairs]
        nearest = nearest_anchors(self.old, anchors_old, lambda o: self.new.rank[self.new_of_old[o]])
        deleted = []
        for o in self.deleted:
            anchor, relocation = nearest.get(o, (None, None))
            step = self.old.step(o)
            deleted.append(
                DeletedNode(
                    node_id=step.id,
                    node_name=step.name,
                    content_hash=step.content_hash,
                    nearest_anchor=None if anchor is None else self.matching.key_old[anchor],
                    nearest_anchor_name=None if anchor is None else self.old.step(anchor).name,
                    relocation=relocation,
                )
            )
        return deleted


class _FieldSetTable:
    """Distinct field sets (bits of field_names) in order of first use, each stored as its change
    from the set before it, or in full once the changes since the last full listing add up to
    the set's size (see FieldSet)."""

    def __init__(self, diff: ScenarioDiff) -> None:
        self.diff = diff
        self.ids: dict[int, int] = {}
        self.sets: list[FieldSet] = []
        self.last = 0
        self.changes = 0  # field entries written since the last keyframe

    def id_of(self, bits: int) -> int | None:
        if not bits:
            return None
        found = self.ids.get(bits)
        if found is None:
            found = self.ids[bits] = len(self.sets)
            self.sets.append(self._entry(bits))
            self.last = bits
        return found

    def _entry(self, bits: int) -> FieldSet:
        names = self.diff.field_list
        added, dropped = bits & ~self.last, self.last & ~bits
        change = added.bit_count() + dropped.bit_count()
        if not self.sets or self.changes + change >= bits.bit_count():
            self.changes = 0
            return FieldSet.model_construct(added=names(bits), dropped=[], keyframe=True)
        self.changes += change
        return FieldSet.model_construct(added=names(added), dropped=names(dropped), keyframe=False)


def _impact_of(graph: ScenarioGraph, n: int) -> Impact:
    """What being a gap on a customer's way makes of step n: a checkpoint or an action stops the
    replay walk there (re-route), fields are asked or filled (gap fill)."""
    step = graph.step(n)
    if step.is_checkpoint or step.performs_action:
        return Impact.RE_ROUTE
    return Impact.GAP_FILL if step.collects_fields else Impact.NONE


def _tree_order(parent: list[int], root: int) -> list[int]:
    """The nodes of a tree given by parent links, each after its parent (breadth first)."""
    children: list[list[int]] = [[] for _ in parent]
    for v, p in enumerate(parent):
        if p != -1:
            children[p].append(v)
    order = [root]
    for v in order:
        order.extend(children[v])
    return order


def _first_anchors(graph: ScenarioGraph, keys: dict[int, str]) -> list[frozenset[str]]:
    """Per step: itself if an anchor, else the first anchors reached after it. Ambiguous twins
    stand for "some copy of that step" here, so an exit to one matches an exit to another."""
    first: list[frozenset[str]] = [frozenset()] * len(graph)
    for i in reversed(graph.order):
        if i in keys:
            first[i] = frozenset((keys[i],))
        else:
            first[i] = frozenset().union(*(first[e.target] for e in graph.forward_out[i]))
    return first


def _fork(graph: ScenarioGraph, n: int, kinds: list[str]) -> ForkChange:
    step = graph.step(n)
    return ForkChange(
        step_id=step.id,
        step_name=step.name,
        kinds=kinds,
        branches=[
            Branch(
                to_step_id=e.transition.to_step_id,
                condition=e.transition.condition,
                priority=e.transition.priority,
            )
            for e in graph.out_edges[n]
        ],
    )


def _transition_change(graph: ScenarioGraph, edge: Edge, change: str) -> TransitionChange:
    return TransitionChange(
        from_step_id=graph.ids[edge.source],
        to_step_id=graph.ids[edge.target],
        change=change,
        condition=edge.transition.condition,
    )


def _node_change(graph: ScenarioGraph, i: int) -> NodeChange:
    step = graph.step(i)
    return NodeChange(
        node_id=step.id,
        node_name=step.name,
        content_hash=step.content_hash,
        collects_fields=list(step.collects_fields),
        is_checkpoint=step.is_checkpoint,
        performs_action=step.performs_action,
    )


class _Catalogue:
    """Changes of one version, each with a bit: steps (inserted or removed), forks at anchors
    and transitions (added or removed)."""

    def __init__(self, graph: ScenarioGraph) -> None:
        self.graph = graph
        self.entries: list[tuple[str, object]] = []
        self.node_bits = [0] * len(graph)
        self.edge_bits: dict[tuple[int, int], int] = {}

    def add_node(self, kind: str, i: int, payload: object) -> None:
        self.node_bits[i] |= 1 << len(self.entries)
        self.entries.append((kind, payload))

    def add_edge(self, key: tuple[int, int], payload: TransitionChange) -> None:
        self.edge_bits[key] = self.edge_bits.get(key, 0) | 1 << len(self.entries)
        self.entries.append(("transition", payload))

    def gaps(self, is_anchor: dict[int, str], upstream: bool) -> dict[int, int]:
        """Per anchor: bits of the changes between it and the nearest anchors before it
        (upstream) or after it (downstream). An anchor's own bits (its fork) count as after it."""
        graph = self.graph
        order = graph.order if upstream else list(reversed(graph.order))
        incoming = graph.forward_in if upstream else graph.forward_out
        out = [0] * len(graph)
        found: dict[int, int] = {}
        for v in order:
            arrive = 0
            for e in incoming[v]:
                arrive |= out[e.source if upstream else e.target] | self.edge_bits.get(
                    (e.source, e.target), 0
                )
            if v in is_anchor:
                found[v] = arrive if upstream else arrive | self.node_bits[v]
                out[v] = self.node_bits[v] if upstream else 0
            else:
                out[v] = arrive | self.node_bits[v]
        return found

    def decode(self, bits: int) -> dict[str, list]:
        lists: dict[str, list] = {"inserted": [], "removed": [], "fork": [], "transition": []}
        for i in iter_bits(bits):
            kind, payload = self.entries[i]
            lists[kind].append(payload)
        return lists


def _edge_rank(graph: ScenarioGraph) -> Callable[[tuple[int, int]], tuple[int, int]]:
    """Sort key of an edge (source, target): topological, not by position in the document."""
    return lambda key: (graph.rank[key[0]], graph.rank[key[1]])


class _GapListing:
    """upstream_changes / downstream_changes of each anchor, from both versions' catalogues."""

    def __init__(self, diff: ScenarioDiff) -> None:
        self.diff = diff
        self.new = _Catalogue(diff.new)
        for n in diff.inserted:
            self.new.add_node("inserted", n, _node_change(diff.new, n))
        for n in diff.forks:
            self.new.add_node("fork", n, diff.fork_changes[n])
        for key in sorted(diff.added_edges, key=_edge_rank(diff.new)):
            self.new.add_edge(key, diff.added_edges[key])
        self.old = _Catalogue(diff.old)
        for o in diff.deleted:
            self.old.add_node("removed", o, _node_change(diff.old, o))
        for key in sorted(diff.removed_edges, key=_edge_rank(diff.old)):
            self.old.add_edge(key, diff.removed_edges[key])
        keys_new, keys_old = diff.matching.key_new, diff.matching.key_old
        self.up_new, self.down_new = self.new.gaps(keys_new, True), self.new.gaps(keys_new, False)
        self.up_old, self.down_old = self.old.gaps(keys_old, True), self.old.gaps(keys_old, False)

    def upstream(self, o: int, n: int) -> Changes:
        if not (self.up_new[n] or self.up_old[o]):
            return NO_CHANGES
        new, old = self.new.decode(self.up_new[n]), self.old.decode(self.up_old[o])
        paths, truncated = self._paths(n) if new["inserted"] or new["fork"] else ([], False)
        return self._changes(new, old, paths, truncated)

    def downstream(self, o: int, n: int) -> Changes:
        if not (self.down_new[n] or self.down_old[o]):
            return NO_CHANGES
        return self._changes(self.new.decode(self.down_new[n]), self.old.decode(self.down_old[o]), [], False)

    @staticmethod
    def _changes(
        new: dict[str, list], old: dict[str, list], paths: list[GapPath], truncated: bool
    ) -> Changes:
        if not (paths or any(new.values()) or any(old.values())):
            return NO_CHANGES
        return Changes.model_construct(
            inserted_nodes=new["inserted"],
            removed_nodes=old["removed"],
            new_forks=new["fork"],
            modified_transitions=new["transition"] + old["transition"],
            paths=paths,
            paths_truncated=truncated,
        )

    def _paths(self, n: int) -> tuple[list[GapPath], bool]:
        """The ways into anchor n from the anchors before it, through inserted steps; at most
        MAX_PATHS_PER_ANCHOR, in topological order of the steps they come from (not the
        document's order). Trails are linked tuples so extending one costs O(1)."""
        graph, keys = self.diff.new, self.diff.matching.key_new
        rank = graph.rank

        def _source_rank(edge: Edge) -> tuple[int, int]:
            return rank[edge.source], -edge.transition.priority

        paths: list[GapPath] = []
        stack: list[tuple[int, tuple | None]] = [(n, None)]
        while stack:
            v, trail = stack.pop()
            if trail is not None and (v in keys or not graph.forward_in[v]):
                if len(paths) == MAX_PATHS_PER_ANCHOR:
                    return paths, True
                paths.append(self._path(trail))
                continue
            for edge in sorted(graph.forward_in[v], key=_source_rank, reverse=True):
                stack.append((edge.source, (edge, trail)))
        return paths, False

    def _path(self, trail: tuple) -> GapPath:
        graph, keys = self.diff.new, self.diff.matching.key_new
        edges: list[Edge] = []
        while trail is not None:
            edges.append(trail[0])
            trail = trail[1]
        start = edges[0].source
        via = [e.source for e in edges if e.source not in keys]
        return GapPath(
            from_step_id=graph.ids[start] if start in keys else None,
            via_step_ids=[graph.ids[v] for v in via],
            fields=sorted({f for v in via for f in graph.step(v).collects_fields}),
            conditions=[e.transition.condition for e in edges if e.transition.condition],
        )

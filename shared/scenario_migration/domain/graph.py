"""An integer-indexed view of a scenario graph, built once per version and shared read-only.

Conversations loop, so "on the way to a step" cannot mean "is an ancestor of it": in a loop
everything is. It means "on a forward path from the entry": a depth-first search from the entry
(transitions in priority order, then by id) classifies edges, and the edges that close a cycle
(back edges) are left out of the forward DAG. Everything here is linear in steps + transitions.
"""

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from scenario_migration.domain.scenario import Scenario, Step, Transition
from scenario_migration.domain.session import Position


class Edge(NamedTuple):  # a tuple: a frozen dataclass costs several times more to build
    source: int
    target: int
    transition: Transition


@dataclass(eq=False)
class ScenarioGraph:
    scenario: Scenario
    ids: list[str] = field(init=False)
    index: dict[str, int] = field(init=False)
    hashes: list[str] = field(init=False)
    out_edges: list[list[Edge]] = field(init=False)
    in_edges: list[list[Edge]] = field(init=False)

    def __post_init__(self) -> None:
        steps = self.scenario.steps
        self.ids = [step.id for step in steps]
        self.index = {step_id: i for i, step_id in enumerate(self.ids)}
        self.hashes = [step.content_hash for step in steps]
        self.out_edges = [[] for _ in steps]
        self.in_edges = [[] for _ in steps]
        index, in_edges = self.index, self.in_edges
        for source, step in enumerate(steps):
            out = self.out_edges[source]
            for transition in evaluation_order(step):
                edge = Edge(source, index[transition.to_step_id], transition)
                out.append(edge)
                in_edges[edge.target].append(edge)

    def __len__(self) -> int:
        return len(self.ids)

    def step(self, i: int) -> Step:
        return self.scenario.steps[i]

    @property
    def entry(self) -> int:
        return self.index[self.scenario.entry_step_id]

    @cached_property
    def back_edges(self) -> frozenset[tuple[int, int]]:
        """Edges that close a cycle in the depth-first search from the entry (exits in
        evaluation order). Among steps the entry cannot reach, every edge inside a strongly
        connected component: no search order there would be canonical (ids and document order
        must not change the diff), and nothing reaches those steps from the entry anyway."""
        state = [0] * len(self)  # 0 unseen, 1 on the stack, 2 done
        back: set[tuple[int, int]] = set()
        state[self.entry] = 1
        stack = [(self.entry, iter(self.out_edges[self.entry]))]
        while stack:
            node, edges = stack[-1]
            edge = next(edges, None)
            if edge is None:
                state[node] = 2
                stack.pop()
            elif state[edge.target] == 1:
                back.add((node, edge.target))
            elif state[edge.target] == 0:
                state[edge.target] = 1
                stack.append((edge.target, iter(self.out_edges[edge.target])))
        if all(state):
            return frozenset(back)
        component = self.components
        for source, edges in enumerate(self.out_edges):
            if not state[source]:
                back.update((source, e.target) for e in edges if component[e.target] == component[source])
        return frozenset(back)

    @cached_property
    def forward_out(self) -> list[list[Edge]]:
        """out_edges without the back edges (the same lists where a step has none)."""
        return self._without_back_edges(self.out_edges, {source for source, _ in self.back_edges})

    @cached_property
    def forward_in(self) -> list[list[Edge]]:
        return self._without_back_edges(self.in_edges, {target for _, target in self.back_edges})

    def _without_back_edges(self, edges: list[list[Edge]], touched: set[int]) -> list[list[Edge]]:
        back = self.back_edges
        forward = list(edges)
        for v in touched:
            forward[v] = [e for e in edges[v] if (e.source, e.target) not in back]
        return forward

    @cached_property
    def order(self) -> list[int]:
        """Topological order of the forward DAG from the entry; ready steps are taken by id."""
        indegree = [len(edges) for edges in self.forward_in]
        ready = [(0 if i == self.entry else 1, self.ids[i], i) for i, d in enumerate(indegree) if d == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            _, _, node = heapq.heappop(ready)
            order.append(node)
            for edge in self.forward_out[node]:
                indegree[edge.target] -= 1
                if indegree[edge.target] == 0:
                    heapq.heappush(ready, (1, self.ids[edge.target], edge.target))
        return order

    @cached_property
    def rank(self) -> list[int]:
        """Position of each step in `order` (deterministic sort key for every list we emit)."""
        rank = [0] * len(self)
        for position, node in enumerate(self.order):
            rank[node] = position
        return rank

    @cached_property
    def components(self) -> list[int]:
        """Strongly connected component of each step, numbered in topological order of the
        condensation (Tarjan, iterative)."""
        return _tarjan(self.out_edges)

    def is_fork(self, i: int) -> bool:
        """A step whose exits can send customers different ways."""
        edges = self.out_edges[i]
        return len(edges) > 1 or any(e.transition.condition for e in edges)

    @cached_property
    def edge_set(self) -> frozenset[tuple[int, int]]:
        """Every transition as (source, target): "did this version have that edge?" in O(1)."""
        return frozenset((e.source, e.target) for edges in self.out_edges for e in edges)

    @cached_property
    def idom(self) -> list[int]:
        """Immediate dominator of each step (-1 for the entry and for steps it cannot reach): a
        step every path from the entry to v goes through, loops included. A customer on v has
        certainly been through all of v's dominators, whatever the runtime reported."""
        return _dominators(self)

    def history(self, visited_step_ids: list[str], current_step_id: str) -> set[int]:
        """Steps the customer has certainly been through: those the runtime reported, the
        current one, and every dominator of them (a step on every path from the entry to where
        they were: they went through it whatever the runtime reported). Linear: each dominator
        chain stops at the first step already known."""
        known: set[int] = set()
        for step_id in [*visited_step_ids, current_step_id]:
            v = self.index.get(step_id)
            if v is None or v in known:
                continue
            known.add(v)
            for d in self.dominators(v):
                if d in known:
                    break
                known.add(d)
        return known

    def position(self, visited_step_ids: list[str], current_step_id: str) -> Position:
        """The step hash of `current_step_id` and the content hashes of the checkpoints in the
        history (the current step included)."""
        known = self.history(visited_step_ids, current_step_id)
        passed = sorted({self.hashes[v] for v in known if self.step(v).is_checkpoint})
        return Position(self.hashes[self.index[current_step_id]], passed)

    def dominators(self, v: int) -> Iterator[int]:
        """v's dominators, nearest first (the entry last), v excluded."""
        idom = self.idom
        v = idom[v]
        while v != -1:
            yield v
            v = idom[v]

    @cached_property
    def reachable_from_entry(self) -> frozenset[int]:
        return frozenset(_postorder(self))

    def reaching(self, target: int) -> frozenset[int]:
        """Steps from which `target` can be reached (itself included), remembered per target:
        the JIT asks it for the same few anchors over and over."""
        found = self._reaching.get(target)
        if found is None:
            found = self._reaching[target] = _reached_backwards(self, target)
        return found

    @cached_property
    def _reaching(self) -> dict[int, frozenset[int]]:
        return {}

    def reachable_after(self, start: int) -> frozenset[int]:
        """Steps reachable from `start` by at least one transition (loops included), remembered
        per step like `reaching`."""
        found = self._after.get(start)
        if found is None:
            found = self._after[start] = _reached_forwards(self, start)
        return found

    @cached_property
    def _after(self) -> dict[int, frozenset[int]]:
        return {}


def evaluation_order(step: Step) -> list[Transition]:
    """Transitions in the order the runtime tries them: higher priority first, then as written."""
    transitions = step.transitions
    if len(transitions) < 2:
        return transitions
    return sorted(transitions, key=_descending_priority)


def _descending_priority(transition: Transition) -> int:
    return -transition.priority


class _Tarjan:
    """Tarjan's strongly connected components, iterative (a recursive one would overflow the
    stack on long chains)."""

    def __init__(self, out_edges: list[list[Edge]]) -> None:
        n = len(out_edges)
        self.out_edges = out_edges
        self.index = [-1] * n
        self.low = [0] * n
        self.on_stack = [False] * n
        self.stack: list[int] = []
        self.found: list[list[int]] = []
        self.counter = 0

    def run(self) -> list[int]:
        for root in range(len(self.out_edges)):
            if self.index[root] == -1:
                self._visit(root)
        component = [-1] * len(self.out_edges)
        for number, members in enumerate(reversed(self.found)):  # Tarjan emits sinks first
            for member in members:
                component[member] = number
        return component

    def _visit(self, root: int) -> None:
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                self._enter(node)
            edges = self.out_edges[node]
            if child < len(edges):
                work.append((node, child + 1))
                target = edges[child].target
                if self.index[target] == -1:
                    work.append((target, 0))
                elif self.on_stack[target]:
                    self.low[node] = min(self.low[node], self.index[target])
                continue
            self._leave(node)
            if work:
                parent = work[-1][0]
                self.low[parent] = min(self.low[parent], self.low[node])

    def _enter(self, node: int) -> None:
        self.index[node] = self.low[node] = self.counter
        self.counter += 1
        self.stack.append(node)
        self.on_stack[node] = True

    def _leave(self, node: int) -> None:
        if self.low[node] != self.index[node]:
            return
        members = []
        while True:
            member = self.stack.pop()
            self.on_stack[member] = False
            members.append(member)
            if member == node:
                break
        self.found.append(members)


def _tarjan(out_edges: list[list[Edge]]) -> list[int]:
    return _Tarjan(out_edges).run()


def flow_forward(graph: ScenarioGraph, own: list[int]) -> list[int]:
    """For each step, the OR of `own` over every step strictly before it on a forward path."""
    before = [0] * len(graph)
    for v in graph.order:
        carried = before[v] | own[v]
        for edge in graph.forward_out[v]:
            before[edge.target] |= carried
    return before


def flow_backward(graph: ScenarioGraph, own: list[int]) -> list[int]:
    """For each step, the OR of `own` over itself and every step after it on a forward path."""
    after = list(own)
    for v in reversed(graph.order):
        for edge in graph.forward_out[v]:
            after[v] |= after[edge.target]
    return after


def reached_from(graph: ScenarioGraph, own: list[int]) -> list[int]:
    """For each step, the OR of `own` over every step it can be reached from by at least one
    transition, loops included (on the condensation, so linear)."""
    component = graph.components
    count = max(component, default=-1) + 1
    members: list[list[int]] = [[] for _ in range(count)]
    for v, c in enumerate(component):
        members[c].append(v)
    reach = [0] * count
    for c in range(count):  # components are numbered in topological order
        cyclic = len(members[c]) > 1 or any(e.target == members[c][0] for e in graph.out_edges[members[c][0]])
        if cyclic:
            for v in members[c]:
                reach[c] |= own[v]
        for v in members[c]:
            for edge in graph.out_edges[v]:
                target = component[edge.target]
                if target != c:
                    reach[target] |= reach[c] | own[v]
    return [reach[component[v]] for v in range(len(graph))]


def _reached_backwards(graph: ScenarioGraph, target: int) -> frozenset[int]:
    found, stack = {target}, [target]
    while stack:
        for edge in graph.in_edges[stack.pop()]:
            if edge.source not in found:
                found.add(edge.source)
                stack.append(edge.source)
    return frozenset(found)


def _reached_forwards(graph: ScenarioGraph, start: int) -> frozenset[int]:
    found: set[int] = set()
    stack = [e.target for e in graph.out_edges[start]]
    while stack:
        v = stack.pop()
        if v not in found:
            found.add(v)
            stack.extend(e.target for e in graph.out_edges[v])
    return frozenset(found)


def _dominators(graph: ScenarioGraph) -> list[int]:
    """Cooper, Harvey and Kennedy's iterative algorithm ("A Simple, Fast Dominance Algorithm"):
    intersect the predecessors' dominators in reverse postorder until nothing changes; a couple
    of passes on scenario graphs, linear in practice."""
    postorder = _postorder(graph)
    number = [-1] * len(graph)
    for i, v in enumerate(postorder):
        number[v] = i
    idom = [-1] * len(graph)
    entry = graph.entry
    idom[entry] = entry
    changed = True
    while changed:
        changed = False
        for v in reversed(postorder):
            if v == entry:
                continue
            new = -1
            for edge in graph.in_edges[v]:
                u = edge.source
                if idom[u] != -1:
                    new = u if new == -1 else _intersect(idom, number, u, new)
            if new != idom[v]:
                idom[v], changed = new, True
    idom[entry] = -1
    return idom


def _intersect(idom: list[int], number: list[int], a: int, b: int) -> int:
    while a != b:
        while number[a] < number[b]:
            a = idom[a]
        while number[b] < number[a]:
            b = idom[b]
    return a


def _postorder(graph: ScenarioGraph) -> list[int]:
    """Steps reachable from the entry, in depth-first postorder (iterative)."""
    seen = [False] * len(graph)
    seen[graph.entry] = True
    order: list[int] = []
    stack = [(graph.entry, iter(graph.out_edges[graph.entry]))]
    while stack:
        node, edges = stack[-1]
        edge = next(edges, None)
        if edge is None:
            order.append(node)
            stack.pop()
        elif not seen[edge.target]:
            seen[edge.target] = True
            stack.append((edge.target, iter(graph.out_edges[edge.target])))
    return order

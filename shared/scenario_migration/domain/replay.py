"""The replay walk (SPEC 7, docs/architecture.md): the new version walked from its entry as the
customer would have walked it, to find where their session lands and what they still owe.

Along the walk, a step is on the customer's *own way* when they have certainly been through it
(their history: reported steps, where they stand, and the dominators of both) or when the walk
reached it from their own way along a transition the old version had, taken because the old and
new versions agree there. Any other step on the walk is a *gap*: an inserted step, a moved step,
an existing step reached by a new transition, a step a changed fork now sends them through.
- a gap that is a checkpoint or performs an action stops the walk: the session goes there;
- a gap that collects fields owes those fields (filled from what is known, or asked);
- at a fork, their history decides where the versions agree (the exit towards steps they went
  through, so a sibling branch they never took is never asked); where the fork is new or changed,
  or history cannot tell, their data decides (conditions in priority order; a field the data
  lacks is asked; no exit matching stops the walk at the fork);
- an exit that cannot lead to the anchor any more sends the session there (re-route).
Pure: no I/O; the graphs' per-target reachability is remembered by the graphs themselves.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from scenario_migration.domain.conditions import ConditionEvaluationError, compile_condition
from scenario_migration.domain.decision import ConditionFailure
from scenario_migration.domain.graph import Edge, ScenarioGraph


class Stop(StrEnum):
    REACHED = "reached"  # the anchor
    GAP_ACTION = "gap_action"  # a checkpoint or action the customer has not been through
    NO_EXIT = "no_exit"  # a fork where no exit matches the customer's data
    REDIRECTED = "redirected"  # their data sends them where the anchor cannot be reached
    LOOP = "loop"  # their data sends them round a loop: they stay where it closes


@dataclass
class WalkResult:
    landing: int
    stop: Stop
    path: list[int] = field(default_factory=list)  # steps walked past, before the landing step
    needed: list[str] = field(default_factory=list)  # fields of the gaps on the path, in order
    missing: str | None = None  # set: a fork needs this field first (the walk is paused)
    failure: ConditionFailure | None = None  # set: a condition failed to evaluate (paused)

    @property
    def paused(self) -> bool:
        return self.missing is not None or self.failure is not None


@dataclass(frozen=True)
class _Missing:
    name: str


_Choice = Edge | _Missing | ConditionFailure | None


@dataclass
class ReplayWalk:
    """One walk of the new version for one customer.

    `visited`: new-version steps the customer has certainly been through; `old_of_new`: the
    step matching (new index -> old index); `data_forks`: forks whose exits the customer's data
    decides (new or changed forks); `may_redirect`: whether data may send the customer off the
    way to the anchor (re-routing enabled, not forced to a graft); `value(name)`: what is known
    of a field (None when unknown)."""

    new: ScenarioGraph
    old: ScenarioGraph
    old_of_new: dict[int, int]
    visited: frozenset[int]
    data_forks: frozenset[int]
    may_redirect: bool
    value: Callable[[str], Any]
    _leads_back: dict[int, bool] = field(default_factory=dict)

    def run(self, target: int) -> WalkResult:
        new, reach = self.new, self.new.reaching(target)
        result = WalkResult(landing=new.entry, stop=Stop.REACHED)
        v, own, seen = new.entry, self._starts_own_way(), set()
        while v != target:
            gap = not own and v not in self.visited
            step = new.step(v)
            if gap and (step.is_checkpoint or step.performs_action):
                return self._land(result, v, Stop.GAP_ACTION)
            owed = [f for f in step.collects_fields if f not in result.needed] if gap else []
            choice, by_data = self._exit(v, reach, own, seen)
            if not isinstance(choice, Edge):
                return self._paused(result, v, owed, choice)
            seen.add(v)
            result.path.append(v)
            result.needed += owed
            w = choice.target
            if w not in reach:
                return self._land(result, w, Stop.REDIRECTED)
            if w in seen:
                return self._land(result, w, Stop.LOOP)
            own = w in self.visited or (own and self._followed_old_way(v, w, by_data))
            v = w
        return self._land(result, target, Stop.REACHED)

    # -- the way in ---------------------------------------------------------------------------------

    def _starts_own_way(self) -> bool:
        """Every customer has been through the old entry: if the new entry is that step, the walk
        starts on their own way."""
        entry = self.new.entry
        return entry in self.visited or self.old_of_new.get(entry) == self.old.entry

    def _followed_old_way(self, v: int, w: int, by_data: bool) -> bool:
        """Whether a customer on their own way at v went on to w in the old version too: the
        old version had v -> w, and either it was v's only exit there, or both versions give v
        the same exits and the walk took one of them as the customer would (not by data at a
        changed fork). Where v lost or gained exits (a skippable step made mandatory), w is
        theirs only if they went through it."""
        o, p = self.old_of_new.get(v), self.old_of_new.get(w)
        if o is None or p is None or (o, p) not in self.old.edge_set:
            return False
        return len(self.old.out_edges[o]) == 1 or (not by_data and self._same_exits(v, o))

    def _same_exits(self, v: int, o: int) -> bool:
        old_exits = {(e.target, e.transition.normalized_condition) for e in self.old.out_edges[o]}
        new_exits = {
            (self.old_of_new.get(e.target, -1), e.transition.normalized_condition)
            for e in self.new.out_edges[v]
        }
        return old_exits == new_exits

    # -- forks ----------------------------------------------------------------------------------------

    def _exit(self, v: int, reach: frozenset[int], own: bool, seen: set[int]) -> tuple[_Choice, bool]:
        """The exit taken at v, and whether the customer's data chose it at a data-decided fork."""
        edges = self.new.out_edges[v]
        if len(edges) == 1 and not edges[0].transition.condition:
            return edges[0], False
        if own and v not in self.data_forks:
            history = [e for e in edges if e.target in reach and self._leads_back_to_visited(e.target)]
            if history:
                return history[0], False
            return self._agreed_fork(v, edges, reach, seen), False
        choice = _decide(v, edges, self.new, self.value, ask=True)
        if isinstance(choice, Edge) and choice.target not in reach and not self.may_redirect:
            return self._agreed_fork(v, edges, reach, seen), False
        return choice, v in self.data_forks

    def _agreed_fork(self, v: int, edges: list[Edge], reach: frozenset[int], seen: set[int]) -> Edge | None:
        """A fork the versions agree on, on the customer's own way, that their history does not
        settle: their old path went one of these ways, and each is still theirs. Known data picks
        the exit; else the first exit (evaluation order) that still leads to the anchor."""
        decided = _decide(v, edges, self.new, self.value, ask=False)
        if isinstance(decided, Edge) and decided.target in reach:
            return decided
        onward = [e for e in edges if e.target in reach]
        return next((e for e in onward if e.target not in seen), onward[0] if onward else None)

    def _leads_back_to_visited(self, start: int) -> bool:
        """Whether `start` is a step the customer went through, or leads to one through inserted
        steps only (a branch into which the new version inserted steps is still their branch)."""
        known = self._leads_back.get(start)
        if known is None:
            known = self._leads_back[start] = self._search_back(start)
        return known

    def _search_back(self, start: int) -> bool:
        if start in self.visited:
            return True
        if start in self.old_of_new:
            return False  # an old step they did not go through: not their branch
        stack, seen = [start], {start}
        while stack:
            for edge in self.new.out_edges[stack.pop()]:
                target = edge.target
                if target in self.visited:
                    return True
                if target not in seen and target not in self.old_of_new:
                    seen.add(target)
                    stack.append(target)
        return False

    # -- endings --------------------------------------------------------------------------------------

    @staticmethod
    def _land(result: WalkResult, landing: int, stop: Stop) -> WalkResult:
        result.landing, result.stop = landing, stop
        return result

    @staticmethod
    def _paused(result: WalkResult, v: int, owed: list[str], choice: _Choice) -> WalkResult:
        """The walk cannot go past v: a field to ask, a condition that failed, or no exit."""
        result.landing = v
        if choice is None:
            result.stop = Stop.NO_EXIT
            return result
        result.needed += owed  # the fork's own fields come before its conditions' fields
        if isinstance(choice, _Missing):
            result.missing = choice.name
        else:
            result.failure = choice
        return result


def _decide(
    v: int, edges: list[Edge], graph: ScenarioGraph, value: Callable[[str], Any], *, ask: bool
) -> _Choice:
    """The exit the customer's data takes (conditions in evaluation order; an exit without a
    condition is taken when reached), the field to ask first, a failed condition, or None when no
    exit matches. With `ask` off, an unknown field means "undecided" (None)."""
    data: dict[str, Any] = {}
    for edge in edges:
        source = edge.transition.condition
        if not source:
            return edge
        condition = compile_condition(source)
        for name in condition.variables:
            if name not in data:
                data[name] = value(name)
        missing = condition.missing(data)
        if missing:
            return _Missing(missing[0]) if ask else None
        try:
            if condition.evaluate(data):
                return edge
        except ConditionEvaluationError as exc:
            return ConditionFailure(graph.ids[v], source, str(exc)) if ask else None
    return None

"""The just-in-time decision for one session (SPEC 7), as if the customer had walked the active
version from its entry with everything known about them. Pure: the service does the I/O.

The walk goes from the entry of the new version to the anchor the session maps to:
- at a fork that is new or changed, the customer's data decides (conditions in priority order);
  a condition whose fields are unknown stops the walk to ask for them first;
- at any other fork, the walk keeps to the customer's own way: the exit that can still reach the
  anchor, preferring steps they visited;
- inserted steps on the way contribute the fields they collect (gap fill).
If the data sends the customer somewhere the anchor cannot be reached from, that is a re-route.
"""

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scenario_migration.config import MigrationSettings
from scenario_migration.domain.conditions import compile_condition
from scenario_migration.domain.extraction import Extractor, parse_answer, parse_value, yes_or_no
from scenario_migration.domain.graph import Edge, ScenarioGraph
from scenario_migration.domain.lifecycle import AnchorPolicy
from scenario_migration.domain.plan import Anchor, MigrationScenario, TransformationMap


@dataclass(frozen=True)
class SessionState:
    current_step_id: str
    visited_step_ids: list[str]
    variables: dict[str, Any]
    checkpoints_passed: list[str]
    channel: str | None
    created_at: datetime


@dataclass
class PendingInput:
    """What a migration waiting on the customer remembers between messages (on the marker)."""

    asked: str | None = None  # field asked for
    confirming: dict[str, Any] | None = None  # {"field", "value", "confidence"} awaiting yes/no
    attempts: int = 0  # answers that could not be used for `asked`
    collected: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> {value, source, confidence}

    @classmethod
    def from_marker(cls, marker: dict[str, Any] | None) -> "PendingInput":
        data = (marker or {}).get("input") or {}
        return cls(
            asked=data.get("asked"),
            confirming=data.get("confirming"),
            attempts=int(data.get("attempts", 0)),
            collected=dict(data.get("collected") or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "asked": self.asked,
            "confirming": self.confirming,
            "attempts": self.attempts,
            "collected": self.collected,
        }


@dataclass(frozen=True)
class Customer:
    """What the runtime sends with this message."""

    message: str | None
    conversation: list[str]  # the customer's recent turns, oldest first
    profile: dict[str, Any]


@dataclass(frozen=True)
class Situation:
    old: ScenarioGraph
    new: ScenarioGraph
    tmap: TransformationMap
    session: SessionState
    policy: AnchorPolicy | None
    pending: PendingInput
    customer: Customer
    settings: MigrationSettings
    now: datetime
    max_reasks: int


@dataclass
class Decision:
    outcome: str  # migrated | needs_input | blocked | kept
    reason: str
    anchor: str | None = None
    migration_scenario: MigrationScenario | None = None
    to_step_id: str | None = None
    filled_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    questions: list[dict[str, str]] = field(default_factory=list)
    message: str | None = None
    pending: PendingInput | None = None
    redirected: bool = False


def decide(s: Situation, extractor: Extractor) -> Decision:
    anchor = _anchor_of(s)
    if anchor is None:
        return Decision("kept", "no step of the new version stands for the session's step")
    if not _in_scope(s, anchor):
        return Decision(
            "kept",
            "outside the anchor's scope filter or update_downstream is off",
            anchor.anchor_content_hash,
        )
    knowledge = Knowledge(s)
    answer = knowledge.take_answer()
    if answer is not None:
        return _with_anchor(answer, anchor)
    return _with_anchor(decide_with(s, anchor, knowledge, extractor), anchor)


def _with_anchor(decision: Decision, anchor: Anchor) -> Decision:
    decision.anchor = anchor.anchor_content_hash
    decision.migration_scenario = decision.migration_scenario or anchor.migration_scenario
    return decision


def _anchor_of(s: Situation) -> Anchor | None:
    by_old_step = {a.from_step_id: a for a in s.tmap.anchors}
    if s.session.current_step_id in by_old_step:
        return by_old_step[s.session.current_step_id]
    deleted = next((d for d in s.tmap.deleted_nodes if d.node_id == s.session.current_step_id), None)
    if deleted is None or deleted.nearest_anchor is None:
        return None
    return next(a for a in s.tmap.anchors if a.anchor_content_hash == deleted.nearest_anchor)


def _in_scope(s: Situation, anchor: Anchor) -> bool:
    policy = s.policy
    if policy is None:
        return True
    age_days = (s.now - s.session.created_at).days
    return policy.update_downstream and policy.scope_filter.admits(s.session.channel, age_days)


# -- what we know about the customer -----------------------------------------------------------------


class Knowledge:
    """Field values by precedence: answers given during this migration, profile, session
    variables, then extraction from the recent conversation."""

    def __init__(self, s: Situation) -> None:
        self.s = s
        self.pending = PendingInput(**vars(s.pending))
        self.pending.collected = dict(s.pending.collected)

    def value(self, name: str) -> Any | None:
        found = self.lookup(name)
        return None if found is None else found["value"]

    def lookup(self, name: str) -> dict[str, Any] | None:
        spec = self.s.new.scenario.field(name)
        if name in self.pending.collected:
            return self.pending.collected[name]
        for source, values in (("profile", self.s.customer.profile), ("session", self.s.session.variables)):
            value = parse_value(spec, values.get(name))
            if value is not None:
                return {"value": value, "source": source, "confidence": 1.0}
        return None

    def extracted(self, name: str, extractor: Extractor) -> dict[str, Any] | None:
        gap = self.s.settings.gap_fill
        if not gap.extraction_enabled or gap.max_conversation_turns == 0:
            return None
        turns = self.recent_turns()[-gap.max_conversation_turns :]
        found = extractor.extract(self.s.new.scenario.field(name), turns)
        if found is None or found.confidence < gap.extraction_confidence_threshold:
            return None
        return {"value": found.value, "source": "conversation", "confidence": found.confidence}

    def recent_turns(self) -> list[str]:
        """The customer's recent turns, this message last: "I'm 34, where is my order?" is
        the freshest thing they told us (unless it answers a question, see take_answer)."""
        turns, message = self.s.customer.conversation, self.s.customer.message
        answering = self.pending.asked is not None or self.pending.confirming is not None
        if not message or answering or (turns and turns[-1] == message):
            return turns
        return [*turns, message]

    def take_answer(self) -> Decision | None:
        """Use the message as the answer to what was asked; a Decision only when the migration
        must stop here (the re-ask cap is passed)."""
        p, message = self.pending, self.s.customer.message
        if p.confirming is not None:
            verdict = yes_or_no(message)
            name = p.confirming["field"]
            if verdict:
                p.collected[name] = {**p.confirming, "source": "conversation"}
                p.collected[name].pop("field", None)
            elif verdict is False:
                p.asked = name
            p.confirming = None if verdict is not None else p.confirming
            return None
        if p.asked is None or message is None:
            return None
        value = parse_answer(self.s.new.scenario.field(p.asked), message)
        if value is not None:
            p.collected[p.asked] = {"value": value, "source": "customer", "confidence": 1.0}
            p.asked, p.attempts = None, 0
            return None
        p.attempts += 1
        if p.attempts > self.s.max_reasks:
            return Decision("kept", f"no usable answer for '{p.asked}' after {p.attempts} attempts")
        return None


# -- the walk ---------------------------------------------------------------------------------------


@dataclass
class Walk:
    target: int
    redirected: bool
    path: list[int]
    needed: list[str]  # fields of inserted steps on the way, in order
    missing_condition_field: str | None = None


def decide_with(s: Situation, anchor: Anchor, knowledge: Knowledge, extractor: Extractor) -> Decision:
    forced = s.policy.force_scenario if s.policy else None
    walk = walk_to(s, anchor, knowledge, forced)
    if walk.missing_condition_field:
        return _ask_or_confirm(s, anchor, knowledge, extractor, [walk.missing_condition_field])
    needed = [] if forced is MigrationScenario.CLEAN_GRAFT else walk.needed
    missing = [f for f in needed if knowledge.lookup(f) is None]
    if missing:
        return _ask_or_confirm(s, anchor, knowledge, extractor, missing)
    blocking = _blocking_checkpoints(s, anchor, walk.target)
    if blocking:
        return Decision(
            "blocked", f"would undo checkpoint(s) {', '.join(blocking)}", to_step_id=s.new.ids[walk.target]
        )
    return _migrated(s, knowledge, walk, needed)


def _ask_or_confirm(
    s: Situation, anchor: Anchor, knowledge: Knowledge, extractor: Extractor, missing: list[str]
) -> Decision:
    """Fill what extraction can; ask (or confirm) the first field still unknown. When extraction
    filled them all, decide again: a fork may now be decidable."""
    confirm_at = s.settings.gap_fill.confirmation_threshold
    for name in missing:
        found = knowledge.extracted(name, extractor)
        if found is not None and found["confidence"] >= confirm_at:
            knowledge.pending.collected[name] = found
            continue
        spec = s.new.scenario.field(name)
        p = knowledge.pending
        if found is not None:
            p.confirming = {"field": name, **found}
            text = f"Just to confirm: is your {spec.label} {found['value']}? (yes/no)"
        else:
            p.asked = name
            text = spec.prompt if p.attempts == 0 else f"Sorry, I could not use that answer. {spec.prompt}"
        question = {"field": name, "text": text}
        return Decision(
            "needs_input", f"'{name}' is needed on the way", questions=[question], message=text, pending=p
        )
    return decide_with(s, anchor, knowledge, extractor)


def walk_to(s: Situation, anchor: Anchor, knowledge: Knowledge, forced: MigrationScenario | None) -> Walk:
    new = s.new
    target = new.index[anchor.to_step_id]
    reach = _reaching(new, target)
    changed = set(s.tmap.changed_forks) if s.settings.re_routing.enabled else set()
    if forced in (MigrationScenario.CLEAN_GRAFT, MigrationScenario.GAP_FILL):
        changed = set()
    own_way = _own_way(s)
    anchors_new = {a.to_step_id for a in s.tmap.anchors}
    path: list[int] = []
    needed: list[str] = []
    v, seen = new.entry, set()
    while v != target and v not in seen:
        seen.add(v)
        path.append(v)
        if new.ids[v] not in anchors_new:
            needed += [f for f in new.step(v).collects_fields if f not in needed]
        if new.ids[v] in changed:
            edge, missing = _decided_exit(new, v, knowledge)
            if missing:
                return Walk(target, False, path, needed, missing_condition_field=missing)
            if edge is not None and edge.target not in reach:
                return Walk(edge.target, True, path, needed)
            if edge is not None:
                v = edge.target
                continue
        v = _exit_on_own_way(new, v, reach, own_way)
        if v is None:
            break
    return Walk(target, False, path, needed)


def _decided_exit(new: ScenarioGraph, v: int, knowledge: Knowledge) -> tuple[Edge | None, str | None]:
    """The exit the customer's data takes at a new or changed fork, or the first field the data
    lacks to decide."""
    data: dict[str, Any] = {}
    for edge in new.out_edges[v]:
        if not edge.transition.condition:
            return edge, None
        condition = compile_condition(edge.transition.condition)
        for name in sorted(condition.variables):
            if name not in data:
                data[name] = knowledge.value(name)
        missing = condition.missing(data)
        if missing:
            return None, missing[0]
        if condition.evaluate(data):
            return edge, None
    return None, None


def _exit_on_own_way(new: ScenarioGraph, v: int, reach: set[int], own_way: set[str]) -> int | None:
    candidates = [e for e in new.out_edges[v] if e.target in reach]
    if not candidates:
        return None
    back = new.back_edges
    candidates.sort(key=lambda e: (new.ids[e.target] not in own_way, (e.source, e.target) in back))
    return candidates[0].target


def _own_way(s: Situation) -> set[str]:
    """New-version ids of the steps the customer went through (via anchors), and its own step."""
    by_old = {a.from_step_id: a.to_step_id for a in s.tmap.anchors}
    visited = [*s.session.visited_step_ids, s.session.current_step_id]
    return {by_old[step] for step in visited if step in by_old}


def _reaching(graph: ScenarioGraph, target: int) -> set[int]:
    """Steps from which `target` can be reached (itself included)."""
    found, queue = {target}, deque([target])
    while queue:
        for edge in graph.in_edges[queue.popleft()]:
            if edge.source not in found:
                found.add(edge.source)
                queue.append(edge.source)
    return found


def _after(graph: ScenarioGraph, start: int) -> set[int]:
    """Steps reachable from `start` by at least one transition."""
    found: set[int] = set()
    queue = deque(e.target for e in graph.out_edges[start])
    while queue:
        v = queue.popleft()
        if v not in found:
            found.add(v)
            queue.extend(e.target for e in graph.out_edges[v])
    return found


def _blocking_checkpoints(s: Situation, anchor: Anchor, target: int) -> list[str]:
    """Names of checkpoints the customer passed that `target` does not lie after in the new
    version (the customer's own step counts as passed only when it is not the target)."""
    if not s.settings.checkpoints.block_teleport_past_checkpoint:
        return []
    new = s.new
    blocking = []
    for content_hash in s.session.checkpoints_passed:
        places = [i for i, h in enumerate(new.hashes) if h == content_hash]
        same_step = target in places and new.ids[target] == anchor.to_step_id
        if same_step or any(target in _after(new, c) for c in places):
            continue
        blocking.append(new.step(places[0]).name if places else content_hash)
    return blocking


def _migrated(s: Situation, knowledge: Knowledge, walk: Walk, needed: list[str]) -> Decision:
    filled = {name: found for name in needed if (found := knowledge.lookup(name)) is not None}
    filled |= {k: v for k, v in knowledge.pending.collected.items() if k not in filled}
    message = None
    if walk.redirected and s.settings.re_routing.notify_user:
        message = s.settings.re_routing.notification_template
    scenario = MigrationScenario.RE_ROUTE if walk.redirected else None
    return Decision(
        "migrated",
        "redirected by the customer's data" if walk.redirected else "teleported to the anchor",
        migration_scenario=scenario,
        to_step_id=s.new.ids[walk.target],
        filled_fields=filled,
        message=message,
        redirected=walk.redirected,
    )

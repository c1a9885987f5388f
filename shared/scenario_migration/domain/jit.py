"""The just-in-time decision for one session (SPEC 7). Pure: the service loads, this decides, the
service writes.

The session's anchor and policy are resolved first (TransformationMap.anchor_for: deleted steps
go to their nearest anchor; AnchorPolicy.admits: scope filter and update_downstream). Then the
replay walk (replay.py) finds where the customer lands and which fields they owe; owed fields
are filled from what is known (answers given during this migration, profile, session variables,
the recent conversation) or asked, one question per message. A landing step that is not
strictly after a checkpoint the customer passed blocks the migration for good.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from scenario_migration.config import MigrationSettings
from scenario_migration.domain.decision import ConditionFailure, Decision, Question
from scenario_migration.domain.extraction import Extractor, parse_answer, parse_value, yes_or_no
from scenario_migration.domain.graph import ScenarioGraph
from scenario_migration.domain.lifecycle import AnchorPolicy
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.plan import Anchor, TransformationMap
from scenario_migration.domain.replay import ReplayWalk, Stop, WalkResult
from scenario_migration.domain.session import (
    Confirmation,
    FieldSource,
    FilledField,
    Outcome,
    PendingInput,
    Session,
)

MAX_ROUNDS = 64  # walks per decision: each round after the first follows a field extraction filled


@dataclass(frozen=True)
class Customer:
    """What the runtime sends with this message."""

    message: str | None
    conversation: list[str]  # the customer's recent turns, oldest first
    profile: dict[str, Any]


class PolicySource(Protocol):
    def policy_for(self, anchor_key: str) -> AnchorPolicy: ...


@dataclass(frozen=True)
class Situation:
    old: ScenarioGraph
    new: ScenarioGraph
    tmap: TransformationMap
    session: Session
    plan: PolicySource
    customer: Customer
    settings: MigrationSettings
    now: datetime


def decide(s: Situation, extractor: Extractor) -> Decision:
    anchor = s.tmap.anchor_for(s.session.current_step_id)
    if anchor is None:
        return Decision(Outcome.KEPT, "no step of the new version stands for the session's step")
    policy = s.plan.policy_for(anchor.anchor_content_hash)
    if not policy.admits(s.session.channel, s.session.created_at, s.now):
        return _with_anchor(
            Decision(Outcome.KEPT, "outside the anchor's scope filter, or update_downstream is off"), anchor
        )
    knowledge = Knowledge(s)
    stopped = knowledge.take_answer()
    if stopped is not None:
        return _with_anchor(stopped, anchor)
    return _with_anchor(_walk_and_fill(s, anchor, policy, knowledge, extractor), anchor)


def _with_anchor(decision: Decision, anchor: Anchor) -> Decision:
    decision.anchor = anchor.anchor_content_hash
    return decision


# -- what we know about the customer -----------------------------------------------------------------


class Knowledge:
    """Field values by precedence: answers given during this migration, profile, session
    variables, then extraction from the recent conversation."""

    def __init__(self, s: Situation) -> None:
        self.s = s
        marker = s.session.marker
        before = marker.input if marker and marker.input else PendingInput()
        self.pending = before.model_copy(deep=True)

    def value(self, name: str) -> Any | None:
        found = self.lookup(name)
        return None if found is None else found.value

    def lookup(self, name: str) -> FilledField | None:
        if name in self.pending.collected:
            return self.pending.collected[name]
        spec = self.s.new.scenario.field(name)
        sources = (
            (FieldSource.PROFILE, self.s.customer.profile),
            (FieldSource.SESSION, self.s.session.variables),
        )
        for source, values in sources:
            value = parse_value(spec, values.get(name))
            if value is not None:
                return FilledField(value=value, source=source, confidence=1.0)
        return None

    def extracted(self, name: str, extractor: Extractor) -> FilledField | None:
        gap = self.s.settings.gap_fill
        if not gap.extraction_enabled or gap.max_conversation_turns == 0:
            return None
        turns = self.recent_turns()[-gap.max_conversation_turns :]
        found = extractor.extract(self.s.new.scenario.field(name), turns)
        if found is None or found.confidence < gap.extraction_confidence_threshold:
            return None
        return FilledField(value=found.value, source=FieldSource.CONVERSATION, confidence=found.confidence)

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
        p = self.pending
        if p.asked is not None and p.confirming is None and self.lookup(p.asked) is not None:
            p.asked, p.attempts = None, 0  # known meanwhile (profile, session): nothing to answer
        if p.confirming is not None:
            self._take_confirmation(p.confirming)
        elif p.asked is not None:
            self._take_reply(p.asked)
        if p.attempts > self.s.settings.gap_fill.max_reasks:
            return Decision(Outcome.KEPT, f"no usable answer for '{p.asked}' after {p.attempts} attempts")
        return None

    def _take_confirmation(self, confirming: Confirmation) -> None:
        """After "is your age 33? (yes/no)": "yes" confirms, "no" asks the question plainly, and a
        value ("43", "no, I'm 43") is the answer. Anything else is an unusable reply."""
        p, message = self.pending, self.s.customer.message or ""
        verdict = yes_or_no(message)
        value = parse_answer(self.s.new.scenario.field(confirming.field), message)
        p.confirming = None
        if value is not None and not (verdict and value == confirming.value):
            self._answered(confirming.field, value)
        elif verdict:
            p.collected[confirming.field] = FilledField(
                value=confirming.value, source=FieldSource.CONVERSATION, confidence=confirming.confidence
            )
        else:
            p.asked = confirming.field
            p.attempts += verdict is None  # "no" is an answer; anything else is not

    def _take_reply(self, name: str) -> None:
        value = parse_answer(self.s.new.scenario.field(name), self.s.customer.message or "")
        if value is None:
            self.pending.attempts += 1  # an unusable reply, or a message with no text at all
        else:
            self._answered(name, value)

    def _answered(self, name: str, value: Any) -> None:
        p = self.pending
        p.collected[name] = FilledField(value=value, source=FieldSource.CUSTOMER, confidence=1.0)
        p.asked, p.attempts = None, 0


# -- the walk and the fields it owes ------------------------------------------------------------------


def _walk_and_fill(
    s: Situation, anchor: Anchor, policy: AnchorPolicy, knowledge: Knowledge, extractor: Extractor
) -> Decision:
    walker = _walker(s, policy.force_scenario, knowledge)
    target = s.new.index[anchor.to_step_id]
    forced_graft = policy.force_scenario is MigrationScenario.CLEAN_GRAFT
    for _ in range(MAX_ROUNDS):
        walk = walker.run(target)
        if walk.failure is not None:
            return _condition_failed(s, knowledge, walk.failure)
        owed = [] if forced_graft else _owed(walk, knowledge)
        if not owed:
            return _landed(s, anchor, knowledge, walk, [] if forced_graft else walk.needed)
        question = _fill_or_ask(s, knowledge, extractor, owed)
        if question is not None:
            return question
    raise RuntimeError("the replay walk did not settle")  # each round fills a field: unreachable


def _walker(s: Situation, forced: MigrationScenario | None, knowledge: Knowledge) -> ReplayWalk:
    old, new, tmap = s.old, s.new, s.tmap
    old_of_new = {new.index[a.to_step_id]: old.index[a.from_step_id] for a in tmap.anchors}
    new_of_old = {o: n for n, o in old_of_new.items()}
    known = old.history(s.session.visited_step_ids, s.session.current_step_id)
    redirect = s.settings.re_routing.enabled and forced not in (
        MigrationScenario.CLEAN_GRAFT,
        MigrationScenario.GAP_FILL,
    )
    return ReplayWalk(
        new=new,
        old=old,
        old_of_new=old_of_new,
        visited=frozenset(new_of_old[o] for o in known if o in new_of_old),
        data_forks=frozenset(new.index[i] for i in tmap.changed_forks) if redirect else frozenset(),
        may_redirect=redirect,
        value=knowledge.value,
    )


def _owed(walk: WalkResult, knowledge: Knowledge) -> list[str]:
    wanted = [*walk.needed, *([walk.missing] if walk.missing else [])]
    return [name for name in dict.fromkeys(wanted) if knowledge.lookup(name) is None]


def _fill_or_ask(
    s: Situation, knowledge: Knowledge, extractor: Extractor, owed: list[str]
) -> Decision | None:
    """Fill what extraction can; ask (or confirm) the first field still unknown; None when
    extraction filled them all (the walk goes again: a fork may now be decidable)."""
    confirm_at = s.settings.gap_fill.confirmation_threshold
    p = knowledge.pending
    for name in owed:
        # a field asked plainly is not mined again: the customer said no to what was found
        found = None if name == p.asked else knowledge.extracted(name, extractor)
        if found is not None and found.confidence >= confirm_at:
            p.collected[name] = found
            continue
        spec = s.new.scenario.field(name)
        if found is not None:
            p.confirming = Confirmation(field=name, value=found.value, confidence=found.confidence)
            text = f"Just to confirm: is your {spec.label} {found.value}? (yes/no)"
        else:
            p.asked = name
            text = spec.prompt if p.attempts == 0 else f"Sorry, I could not use that answer. {spec.prompt}"
        return Decision(
            Outcome.NEEDS_INPUT,
            f"'{name}' is needed on the way",
            questions=[Question(field=name, text=text)],
            message=text,
            pending=p,
        )
    return None


def _condition_failed(s: Situation, knowledge: Knowledge, failure: ConditionFailure) -> Decision:
    """A condition that fails to evaluate leaves the session where it is; the next message tries
    again (the data may have changed), at most gap_fill.max_reasks times."""
    p = knowledge.pending
    p.condition_errors += 1
    final = p.condition_errors > s.settings.gap_fill.max_reasks
    then = (
        "the session stays on its version"
        if final
        else f"attempt {p.condition_errors}; tried again on the next message"
    )
    return Decision(
        Outcome.KEPT,
        f"condition '{failure.expression}' on step '{failure.step_id}' failed ({failure.problem}): {then}",
        final=final,
        pending=p,
        condition_failure=failure,
    )


# -- where the session lands ---------------------------------------------------------------------------


def _landed(
    s: Situation, anchor: Anchor, knowledge: Knowledge, walk: WalkResult, needed: list[str]
) -> Decision:
    new = s.new
    landing = walk.landing
    blocking = _blocking_checkpoints(s, landing)
    if blocking:
        return Decision(
            Outcome.BLOCKED,
            f"would undo checkpoint(s) {', '.join(blocking)}",
            to_step_id=new.ids[landing],
        )
    redirected = new.ids[landing] != anchor.to_step_id
    filled = {name: found for name in needed if (found := knowledge.lookup(name)) is not None}
    filled |= {k: v for k, v in knowledge.pending.collected.items() if k not in filled}
    notify = redirected and s.settings.re_routing.notify_user
    visited = _visited_after(s, walk)
    return Decision(
        Outcome.MIGRATED,
        _landing_reason(new, walk),
        migration_scenario=(
            MigrationScenario.RE_ROUTE
            if redirected
            else MigrationScenario.GAP_FILL
            if needed
            else MigrationScenario.CLEAN_GRAFT
        ),
        to_step_id=new.ids[landing],
        filled_fields=filled,
        message=s.settings.re_routing.notification_template if notify else None,
        visited_after=visited,
        position_after=new.position(visited, new.ids[landing]),
    )


def _landing_reason(new: ScenarioGraph, walk: WalkResult) -> str:
    name = new.step(walk.landing).name
    return {
        Stop.REACHED: "replayed the new version to the anchor",
        Stop.GAP_ACTION: f"routed to '{name}': an irreversible step the customer has not been through",
        Stop.NO_EXIT: f"stopped at '{name}': no exit of this fork matches the customer's data",
        Stop.REDIRECTED: f"redirected to '{name}' by the customer's data",
        Stop.LOOP: f"the customer's data loops back to '{name}'",
    }[walk.stop]


def _visited_after(s: Situation, walk: WalkResult) -> list[str]:
    """The new-version steps the session has now been through: its history's counterparts and
    every step the walk went past (gaps included: they are filled or were empty)."""
    new_of_old = s.tmap.new_of_old
    known = [
        new_of_old[i] for i in [*s.session.visited_step_ids, s.session.current_step_id] if i in new_of_old
    ]
    walked = [s.new.ids[v] for v in walk.path]
    return list(dict.fromkeys([*known, *walked]))


def _blocking_checkpoints(s: Situation, landing: int) -> list[str]:
    """Names of checkpoints the customer passed that the landing step does not lie strictly
    after in the new version. Their own step counts as passed unless they stay on it; a passed
    checkpoint the new version deleted blocks nothing (there is nothing of it to undo)."""
    if not s.settings.checkpoints.block_teleport_past_checkpoint:
        return []
    old, new, new_of_old = s.old, s.new, s.tmap.new_of_old
    current = old.index.get(s.session.current_step_id)
    blocking = []
    for o in sorted(old.history(s.session.visited_step_ids, s.session.current_step_id)):
        if not old.step(o).is_checkpoint or old.ids[o] not in new_of_old:
            continue
        c = new.index[new_of_old[old.ids[o]]]
        if (o == current and c == landing) or landing in new.reachable_after(c):
            continue
        blocking.append(new.step(c).name)
    return blocking

"""The JIT decision (domain/jit.py) on the seed's examples and the issue's edge cases, no AWS."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scenario_migration.config import load_settings
from scenario_migration.domain.extraction import RuleExtractor
from scenario_migration.domain.graph import ScenarioGraph
from scenario_migration.domain.jit import Customer, Situation, decide
from scenario_migration.domain.lifecycle import DEFAULT_POLICY, AnchorPolicy, ScopeFilter
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.planning import plan_migration
from scenario_migration.domain.scenario import Scenario
from scenario_migration.domain.session import Marker, MarkerState, Outcome, PendingInput, Session
from tests import documents
from tests.documents import AGE_FIELD, order_flow
from tests.documents import step as s

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def scenario(version: int, steps: list[dict[str, Any]], fields: tuple = (AGE_FIELD,)) -> Scenario:
    return Scenario.model_validate(order_flow(version, steps, fields=fields))


V1, PAYMENT_V1, DOWNSTREAM, GAP, FORK, FORK_WITH_PAYMENT = (
    Scenario.model_validate(document)
    for document in (
        documents.V1,
        documents.V1_PAYMENT,
        documents.V2_DOWNSTREAM,
        documents.V2_GAP,
        documents.V2_FORK,
        documents.V2_FORK_PAYMENT,
    )
)


class OnePolicy:
    """A plan whose every anchor has `policy`."""

    def __init__(self, policy: AnchorPolicy | None) -> None:
        self.policy = policy or DEFAULT_POLICY

    def policy_for(self, anchor_key: str) -> AnchorPolicy:
        return self.policy


def session(old: Scenario, step: str, **kw: Any) -> Session:
    pending: PendingInput | None = kw.pop("pending", None)
    marker = (
        Marker(
            plan_id="p",
            from_version=old.version,
            target_version=2,
            state=MarkerState.AWAITING_INPUT,
            input=pending,
        )
        if pending
        else None
    )
    return Session(
        tenant_id="t",
        session_id="s",
        scenario_id="order-flow",
        scenario_version=old.version,
        current_step_id=step,
        step_hash=old.step_by_id[step].content_hash,
        channel=kw.pop("channel", "whatsapp"),
        visited_step_ids=kw.pop("visited", []),
        variables=kw.pop("variables", {}),
        created_at=NOW - timedelta(days=kw.pop("age_days", 3)),
        marker=marker,
    )


def situation(old: Scenario, new: Scenario, step: str, **kw: Any) -> Situation:
    settings = kw.pop("settings", load_settings())
    return Situation(
        old=ScenarioGraph(old),
        new=ScenarioGraph(new),
        tmap=plan_migration(old, new).transformation_map,
        session=session(
            old,
            step,
            **{k: kw.pop(k) for k in ("pending", "channel", "visited", "variables", "age_days") if k in kw},
        ),
        plan=OnePolicy(kw.pop("policy", None)),
        customer=Customer(
            message=kw.pop("message", None),
            conversation=kw.pop("conversation", []),
            profile=kw.pop("profile", {}),
        ),
        settings=settings,
        now=NOW,
    )


def run(sit: Situation):
    return decide(sit, RuleExtractor())


def test_clean_graft_teleports_silently_to_the_anchor() -> None:
    d = run(situation(V1, DOWNSTREAM, "checkout"))
    assert (d.outcome, d.to_step_id, d.migration_scenario) == (
        Outcome.MIGRATED,
        "checkout",
        MigrationScenario.CLEAN_GRAFT,
    )
    assert d.message is None and d.questions == [] and d.filled_fields == {}


@pytest.mark.parametrize(
    ("profile", "conversation", "source"),
    [({"age": 40}, [], "profile"), ({}, ["I'm 34 years old"], "conversation")],
)
def test_gap_fill_is_silent_when_the_field_is_known(profile: dict, conversation: list, source: str) -> None:
    d = run(situation(V1, GAP, "checkout", profile=profile, conversation=conversation))
    assert (d.outcome, d.to_step_id, d.migration_scenario) == (
        Outcome.MIGRATED,
        "checkout",
        MigrationScenario.GAP_FILL,
    )
    assert d.filled_fields["age"].source == source
    assert d.message is None


def test_the_current_message_counts_as_the_latest_turn() -> None:
    d = run(situation(V1, GAP, "checkout", message="I'm 34 years old, where is my order?"))
    assert (d.outcome, d.to_step_id) == (Outcome.MIGRATED, "checkout")
    assert d.filled_fields["age"].value == 34 and d.filled_fields["age"].source == "conversation"


def test_an_unusable_answer_is_not_mined_as_conversation() -> None:
    asked = run(situation(V1, GAP, "checkout"))
    again = run(situation(V1, GAP, "checkout", pending=asked.pending, message="I am 20 and my brother is 12"))
    assert again.outcome == Outcome.NEEDS_INPUT and again.pending.attempts == 1


def test_gap_fill_asks_then_completes_with_the_answer() -> None:
    asked = run(situation(V1, GAP, "checkout"))
    assert asked.outcome == Outcome.NEEDS_INPUT
    assert [q.model_dump() for q in asked.questions] == [
        {"field": "age", "text": "Before we continue, what is your age?"}
    ]
    done = run(situation(V1, GAP, "checkout", pending=asked.pending, message="34"))
    assert (done.outcome, done.to_step_id) == (Outcome.MIGRATED, "checkout")
    assert done.filled_fields["age"].model_dump(mode="json") == {
        "value": 34,
        "source": "customer",
        "confidence": 1.0,
    }


def test_unusable_answers_are_asked_again_at_most_max_reasks_times() -> None:
    d = run(situation(V1, GAP, "checkout"))
    outcomes = []
    for answer in ["I'd rather not say", "no idea", "dunno"]:
        d = run(situation(V1, GAP, "checkout", pending=d.pending, message=answer))
        outcomes.append(d.outcome)
    assert outcomes == [Outcome.NEEDS_INPUT, Outcome.NEEDS_INPUT, Outcome.KEPT]


def test_session_variables_fill_the_gap_and_nothing_known_is_asked() -> None:
    d = run(situation(V1, GAP, "checkout", variables={"age": "52"}))
    assert d.outcome == Outcome.MIGRATED and d.filled_fields["age"].source == "session"


def test_low_confidence_extraction_is_confirmed_with_the_customer() -> None:
    asked = run(situation(V1, GAP, "checkout", conversation=["34"]))  # a bare number: 0.6 < 0.85
    assert asked.outcome == Outcome.NEEDS_INPUT and asked.questions[0].text.startswith("Before we continue")
    settings = load_settings(
        gap_fill={**load_settings().gap_fill.model_dump(), "extraction_confidence_threshold": 0.5}
    )
    confirm = run(situation(V1, GAP, "checkout", conversation=["34"], settings=settings))
    assert confirm.outcome == Outcome.NEEDS_INPUT and "confirm" in confirm.questions[0].text
    yes = run(
        situation(
            V1,
            GAP,
            "checkout",
            conversation=["34"],
            settings=settings,
            pending=confirm.pending,
            message="yes",
        )
    )
    assert yes.outcome == Outcome.MIGRATED and yes.filled_fields["age"].value == 34


@pytest.mark.parametrize(
    ("age", "target", "scenario"),
    [(17, "rejection", MigrationScenario.RE_ROUTE), (30, "checkout", MigrationScenario.GAP_FILL)],
)
def test_re_route_follows_the_customer_data(age: int, target: str, scenario: MigrationScenario) -> None:
    """Per customer: redirected is a re-route; reaching the anchor through the new Age Verification
    (its field filled from the profile) is a gap fill."""
    d = run(situation(V1, FORK, "checkout", profile={"age": age}))
    assert (d.outcome, d.to_step_id, d.migration_scenario) == (Outcome.MIGRATED, target, scenario)
    redirected = scenario is MigrationScenario.RE_ROUTE
    expected_message = load_settings().re_routing.notification_template if redirected else None
    assert d.message == expected_message


def test_re_route_asks_for_the_condition_field_first() -> None:
    d = run(situation(V1, FORK, "checkout"))
    assert d.outcome == Outcome.NEEDS_INPUT and d.questions[0].field == "age"
    answered = run(situation(V1, FORK, "checkout", pending=d.pending, message="17"))
    assert (answered.outcome, answered.to_step_id) == (Outcome.MIGRATED, "rejection")


def test_checkpoint_passed_blocks_a_redirect_that_would_undo_it() -> None:
    payment_hash = PAYMENT_V1.step_by_id["payment"].content_hash
    d = run(
        situation(
            PAYMENT_V1,
            FORK_WITH_PAYMENT,
            "confirm",
            profile={"age": 17},
            checkpoints=[payment_hash],
            visited=["welcome", "checkout", "payment"],
        )
    )
    assert d.outcome == Outcome.BLOCKED and "Payment" in d.reason
    adult = run(
        situation(PAYMENT_V1, FORK_WITH_PAYMENT, "confirm", profile={"age": 30}, checkpoints=[payment_hash])
    )
    assert (adult.outcome, adult.to_step_id) == (Outcome.MIGRATED, "confirm")


def test_checkpoint_blocking_can_be_turned_off() -> None:
    payment_hash = PAYMENT_V1.step_by_id["payment"].content_hash
    settings = load_settings(checkpoints={"block_teleport_past_checkpoint": False})
    d = run(
        situation(
            PAYMENT_V1,
            FORK_WITH_PAYMENT,
            "confirm",
            profile={"age": 17},
            checkpoints=[payment_hash],
            settings=settings,
        )
    )
    assert (d.outcome, d.to_step_id) == (Outcome.MIGRATED, "rejection")


def test_sibling_branches_ask_only_the_customer_s_own_way() -> None:
    contact = ({"name": "phone", "type": "phone"}, {"name": "email", "type": "email"})
    old = scenario(
        1,
        [
            s("start", "Start", ("by_phone", "channel == 'sms'", 1), ("by_email", None, 0)),
            s("by_phone", "Phone Route", "done"),
            s("by_email", "Email Route", "done"),
            s("done", "Done"),
        ],
        fields=contact,
    )
    new = scenario(
        2,
        [
            s("start", "Start", ("by_phone", "channel == 'sms'", 1), ("by_email", None, 0)),
            s("by_phone", "Phone Route", "ask_phone"),
            s("ask_phone", "Ask Phone", "done", collects_fields=["phone"]),
            s("by_email", "Email Route", "ask_email"),
            s("ask_email", "Ask Email", "done", collects_fields=["email"]),
            s("done", "Done"),
        ],
        fields=contact,
    )
    d = run(situation(old, new, "done", visited=["start", "by_phone"]))
    assert d.outcome == Outcome.NEEDS_INPUT and d.questions[0].field == "phone"
    d = run(
        situation(
            old, new, "done", visited=["start", "by_phone"], pending=d.pending, message="+33 6 12 34 56 78"
        )
    )
    assert d.outcome == Outcome.MIGRATED and set(d.filled_fields) == {"phone"}


def test_deleted_step_lands_on_the_nearest_anchor_not_the_entry() -> None:
    old = scenario(
        1,
        [
            s("welcome", "Welcome", "survey"),
            s("survey", "Survey", "checkout"),
            s("checkout", "Checkout", "confirm"),
            s("confirm", "Confirm"),
        ],
    )
    d = run(situation(old, DOWNSTREAM, "survey"))
    assert (d.outcome, d.to_step_id) == (Outcome.MIGRATED, "checkout")


def test_three_versions_straight_to_the_active_one_asking_only_what_it_needs() -> None:
    v3 = scenario(
        3,
        [
            s("welcome", "Welcome", "checkout"),
            s("checkout", "Checkout", "age_check"),
            s("age_check", "Age Check", "confirm", collects_fields=["age"]),
            s("confirm", "Confirm"),
        ],
    )
    at_checkout = run(situation(V1, v3, "checkout"))
    assert (at_checkout.outcome, at_checkout.to_step_id) == (
        Outcome.MIGRATED,
        "checkout",
    )  # age is after it in V3
    at_confirm = run(situation(V1, v3, "confirm"))
    assert at_confirm.outcome == Outcome.NEEDS_INPUT and at_confirm.questions[0].field == "age"


@pytest.mark.parametrize(
    ("scope", "channel", "age_days", "outcome"),
    [
        ({"include_channels": ["whatsapp"]}, "web", 1, Outcome.KEPT),
        ({"include_channels": ["whatsapp"], "exclude_channels": ["whatsapp"]}, "whatsapp", 1, Outcome.KEPT),
        ({"max_session_age_days": 0}, "web", 0, Outcome.MIGRATED),
        ({"max_session_age_days": 30}, "web", 30, Outcome.MIGRATED),
        ({"max_session_age_days": 30}, "web", 31, Outcome.KEPT),
        ({"min_session_age_days": 2}, "web", 1, Outcome.KEPT),
    ],
)
def test_scope_filters_keep_sessions_on_their_version(
    scope: dict, channel: str, age_days: int, outcome: str
) -> None:
    policy = AnchorPolicy(scope_filter=ScopeFilter(**scope))
    d = run(situation(V1, DOWNSTREAM, "checkout", policy=policy, channel=channel, age_days=age_days))
    assert d.outcome == outcome


def test_update_downstream_false_keeps_the_session() -> None:
    d = run(situation(V1, DOWNSTREAM, "checkout", policy=AnchorPolicy(update_downstream=False)))
    assert d.outcome == Outcome.KEPT


def test_re_routing_disabled_keeps_customers_on_their_own_way() -> None:
    settings = load_settings(re_routing={**load_settings().re_routing.model_dump(), "enabled": False})
    d = run(situation(V1, FORK, "checkout", profile={"age": 17}, settings=settings))
    assert (d.outcome, d.to_step_id, d.message) == (Outcome.MIGRATED, "checkout", None)


def test_extraction_disabled_asks_instead() -> None:
    settings = load_settings(gap_fill={**load_settings().gap_fill.model_dump(), "extraction_enabled": False})
    d = run(situation(V1, GAP, "checkout", conversation=["I'm 34"], settings=settings))
    assert d.outcome == Outcome.NEEDS_INPUT


def test_max_conversation_turns_limits_what_extraction_reads() -> None:
    settings = load_settings(gap_fill={**load_settings().gap_fill.model_dump(), "max_conversation_turns": 1})
    d = run(situation(V1, GAP, "checkout", conversation=["I'm 34 years old", "thanks"], settings=settings))
    assert d.outcome == Outcome.NEEDS_INPUT
    d = run(situation(V1, GAP, "checkout", conversation=["I'm 34 years old", "thanks"]))
    assert d.outcome == Outcome.MIGRATED


def test_notify_user_off_gives_no_message_on_redirect() -> None:
    settings = load_settings(re_routing={**load_settings().re_routing.model_dump(), "notify_user": False})
    d = run(situation(V1, FORK, "checkout", profile={"age": 17}, settings=settings))
    assert (d.to_step_id, d.message) == ("rejection", None)

"""The replay walk (issue 10 §1): the cases that failed before it, as rules, in the pure domain.

Each test names the rule; the plan side (classification and warning) is checked beside the
JIT side where the issue asks for both.
"""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_migration.config import load_settings
from scenario_migration.domain.lifecycle import AnchorPolicy
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.plan import Severity
from scenario_migration.domain.planning import plan_migration
from scenario_migration.domain.scenario import Scenario
from scenario_migration.domain.session import FieldSource, Outcome, PendingInput
from tests.documents import AGE_FIELD
from tests.documents import step as s
from tests.unit.test_jit_decision import run, scenario, situation

NOTICE = load_settings().re_routing.notification_template
PAYMENT = {"is_checkpoint": True, "performs_action": True}
ADDRESS = {"name": "address", "type": "string", "question": "Where do we ship?"}
NEW_TAIL = [s("checkout", "Checkout", "confirm"), s("confirm", "Confirm")]


def warnings_by_code(old: Scenario, new: Scenario, sessions: dict[str, int]) -> dict[str, Any]:
    return {w.code: w for w in plan_migration(old, new, sessions).summary.warnings}


def classification(old: Scenario, new: Scenario) -> dict[str, MigrationScenario]:
    return {a.from_step_id: a.migration_scenario for a in plan_migration(old, new).transformation_map.anchors}


# -- a step moved upstream is a gap --------------------------------------------------------------------

SHOP_V1 = scenario(
    1,
    [
        s("welcome", "Welcome", "checkout"),
        s("checkout", "Checkout", "payment"),
        s("payment", "Payment", "confirm", **PAYMENT),
        s("confirm", "Confirm", "ship"),
        s("ship", "Ship"),
    ],
)
SHOP_V2 = scenario(
    2,
    [
        s("welcome", "Welcome", "payment"),
        s("payment", "Payment", "checkout", **PAYMENT),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm", "ship"),
        s("ship", "Ship"),
    ],
)


def test_an_unpaid_customer_is_routed_to_a_payment_moved_upstream() -> None:
    d = run(situation(SHOP_V1, SHOP_V2, "checkout", visited=["welcome"]))
    assert (d.outcome, d.to_step_id, d.migration_scenario, d.message) == (
        Outcome.MIGRATED,
        "payment",
        MigrationScenario.RE_ROUTE,
        NOTICE,
    )
    warning = warnings_by_code(SHOP_V1, SHOP_V2, {"checkout": 4, "confirm": 2})["routed_to_step:payment"]
    assert (warning.severity, warning.step_name, warning.affected_sessions_estimate) == (
        Severity.WARNING,
        "Payment",
        4,
    )
    assert classification(SHOP_V1, SHOP_V2)["checkout"] is MigrationScenario.RE_ROUTE


@pytest.mark.parametrize("visited", [["welcome", "checkout", "payment"], []])
def test_a_paid_customer_is_not_routed_back_to_payment(visited: list[str]) -> None:
    """Paid: reported, or certain because payment is on every old path to where they stand."""
    d = run(situation(SHOP_V1, SHOP_V2, "confirm", visited=visited))
    assert (d.outcome, d.to_step_id, d.migration_scenario) == (
        Outcome.MIGRATED,
        "confirm",
        MigrationScenario.CLEAN_GRAFT,
    )
    assert classification(SHOP_V1, SHOP_V2)["confirm"] is MigrationScenario.CLEAN_GRAFT


def test_a_collecting_step_moved_upstream_asks_its_field() -> None:
    old = scenario(
        1,
        [
            s("welcome", "Welcome", "checkout"),
            s("checkout", "Checkout", "address"),
            s("address", "Address", "confirm", collects_fields=["address"]),
            s("confirm", "Confirm"),
        ],
        fields=(ADDRESS,),
    )
    new = scenario(
        2,
        [
            s("welcome", "Welcome", "address"),
            s("address", "Address", "checkout", collects_fields=["address"]),
            s("checkout", "Checkout", "confirm"),
            s("confirm", "Confirm"),
        ],
        fields=(ADDRESS,),
    )
    asked = run(situation(old, new, "checkout"))
    assert (asked.outcome, [q.field for q in asked.questions]) == (Outcome.NEEDS_INPUT, ["address"])
    known = run(situation(old, new, "checkout", variables={"address": "1 Main St"}))
    assert (known.outcome, known.to_step_id, known.migration_scenario) == (
        Outcome.MIGRATED,
        "checkout",
        MigrationScenario.GAP_FILL,
    )
    assert classification(old, new)["checkout"] is MigrationScenario.GAP_FILL


# -- only the customer's own way counts ----------------------------------------------------------------

XY = ({"name": "x", "type": "string", "question": "x?"}, {"name": "y", "type": "string", "question": "y?"})
BRANCHES_V1 = scenario(
    1,
    [
        s("start", "Start", ("a", None, 1), ("b", None, 0)),
        s("a", "Branch A", "done"),
        s("b", "Branch B", "done"),
        s("done", "Done"),
    ],
    fields=XY,
)


def test_a_customer_who_came_via_b_is_asked_y_never_x() -> None:
    new = scenario(
        2,
        [
            s("start", "Start", ("ask_x", None, 1), ("ask_y", None, 0)),
            s("ask_x", "Ask X", "a", collects_fields=["x"]),
            s("a", "Branch A", "done"),
            s("ask_y", "Ask Y", "b", collects_fields=["y"]),
            s("b", "Branch B", "done"),
            s("done", "Done"),
        ],
        fields=XY,
    )
    via_b = run(situation(BRANCHES_V1, new, "done", visited=["start", "b"]))
    assert [q.field for q in via_b.questions] == ["y"]
    via_a = run(situation(BRANCHES_V1, new, "done", visited=["start", "a"]))
    assert [q.field for q in via_a.questions] == ["x"]


def test_a_step_inserted_only_before_the_lower_priority_branch_is_asked_of_who_came_that_way() -> None:
    new = scenario(
        2,
        [
            s("start", "Start", ("a", None, 1), ("ask_y", None, 0)),
            s("a", "Branch A", "done"),
            s("ask_y", "Ask Y", "b", collects_fields=["y"]),
            s("b", "Branch B", "done"),
            s("done", "Done"),
        ],
        fields=XY,
    )
    via_b = run(situation(BRANCHES_V1, new, "done", visited=["start", "b"]))
    assert (via_b.outcome, [q.field for q in via_b.questions]) == (Outcome.NEEDS_INPUT, ["y"])
    via_a = run(situation(BRANCHES_V1, new, "done", visited=["start", "a"]))
    assert (via_a.outcome, via_a.migration_scenario) == (Outcome.MIGRATED, MigrationScenario.CLEAN_GRAFT)


def test_without_history_the_customer_s_data_picks_their_branch() -> None:
    fields = ({"name": "channel", "type": "string"}, *XY)
    old = scenario(
        1,
        [
            s("start", "Start", ("a", "channel == 'sms'", 1), ("b", None, 0)),
            s("a", "Branch A", "done"),
            s("b", "Branch B", "done"),
            s("done", "Done"),
        ],
        fields=fields,
    )
    new = scenario(
        2,
        [
            s("start", "Start", ("a", "channel == 'sms'", 1), ("ask_y", None, 0)),
            s("a", "Branch A", "done"),
            s("ask_y", "Ask Y", "b", collects_fields=["y"]),
            s("b", "Branch B", "done"),
            s("done", "Done"),
        ],
        fields=fields,
    )
    web = run(situation(old, new, "done", variables={"channel": "web"}))
    assert [q.field for q in web.questions] == ["y"]
    sms = run(situation(old, new, "done", variables={"channel": "sms"}))
    assert (sms.outcome, sms.migration_scenario) == (Outcome.MIGRATED, MigrationScenario.CLEAN_GRAFT)


def test_an_unchanged_fork_with_no_history_asks_nothing() -> None:
    """The same fork in both versions: whichever way the customer went, it is still theirs."""
    new = scenario(2, [*(step.model_dump() for step in BRANCHES_V1.steps), s("extra", "Extra")], fields=XY)
    d = run(situation(BRANCHES_V1, new, "done"))
    assert (d.outcome, d.migration_scenario, d.questions) == (
        Outcome.MIGRATED,
        MigrationScenario.CLEAN_GRAFT,
        [],
    )


def test_an_existing_step_on_a_new_edge_is_a_gap_for_who_skipped_it() -> None:
    kyc = ({"name": "id_number", "type": "string", "question": "Your ID number?"},)
    old = scenario(
        1,
        [
            s("start", "Start", ("kyc", "amount > 1000", 1), ("review", None, 0)),
            s("kyc", "KYC", "review", collects_fields=["id_number"]),
            s("review", "Review"),
        ],
        fields=({"name": "amount", "type": "integer"}, *kyc),
    )
    new = scenario(
        2,
        [
            s("start", "Start", "kyc"),
            s("kyc", "KYC", "review", collects_fields=["id_number"]),
            s("review", "Review"),
        ],
        fields=kyc,
    )
    skipped = run(situation(old, new, "review", visited=["start"]))
    assert (skipped.outcome, [q.field for q in skipped.questions]) == (Outcome.NEEDS_INPUT, ["id_number"])
    done = run(situation(old, new, "review", visited=["start", "kyc"]))
    assert (done.outcome, done.migration_scenario) == (Outcome.MIGRATED, MigrationScenario.CLEAN_GRAFT)


# -- forks decided by data -------------------------------------------------------------------------------


def test_a_fork_no_exit_matches_lands_on_the_fork_step() -> None:
    new = scenario(
        2,
        [
            s("welcome", "Welcome", "age_check"),
            s(
                "age_check",
                "Age Check",
                ("rejection", "age < 18", 1),
                ("checkout", "age >= 21", 0),
                collects_fields=["age"],
            ),
            s("rejection", "Rejection"),
            s("checkout", "Checkout", "confirm"),
            s("confirm", "Confirm"),
        ],
    )
    d = run(
        situation(
            scenario(1, [s("welcome", "Welcome", "checkout"), *NEW_TAIL]),
            new,
            "checkout",
            profile={"age": 19},
        )
    )
    assert (d.outcome, d.to_step_id, d.migration_scenario, d.message) == (
        Outcome.MIGRATED,
        "age_check",
        MigrationScenario.RE_ROUTE,
        NOTICE,
    )
    assert "no exit" in d.reason


def test_an_anchor_the_new_entry_no_longer_reaches_is_a_warning() -> None:
    old = scenario(1, [s("welcome", "Welcome", "intro"), s("intro", "Intro", "checkout"), *NEW_TAIL])
    new = scenario(
        2, [s("checkout", "Checkout", "confirm"), s("confirm", "Confirm"), s("intro", "Intro", "checkout")]
    )
    new = Scenario.model_validate({**new.model_dump(), "entry_step_id": "checkout"})
    warning = warnings_by_code(old, new, {"intro": 3})["unreachable_anchors"]
    assert (warning.anchor_name, warning.affected_sessions_estimate) == ("Intro", 3)


# -- checkpoints: deleted, edited ------------------------------------------------------------------------

PAID_V1 = scenario(
    1,
    [
        s("welcome", "Welcome", "payment"),
        s("payment", "Payment", "confirm", **PAYMENT),
        s("confirm", "Confirm"),
    ],
)


def test_a_passed_checkpoint_deleted_in_the_new_version_blocks_nothing() -> None:
    new = scenario(
        2,
        [
            s("welcome", "Welcome", "age_check"),
            s("age_check", "Age Check", ("rejection", "age < 18", 1), "confirm", collects_fields=["age"]),
            s("rejection", "Rejection"),
            s("confirm", "Confirm"),
        ],
    )
    d = run(situation(PAID_V1, new, "confirm", visited=["welcome", "payment"], profile={"age": 17}))
    assert (d.outcome, d.to_step_id) == (Outcome.MIGRATED, "rejection")
    warning = warnings_by_code(PAID_V1, new, {"confirm": 5})["deleted_checkpoint:payment"]
    assert (warning.step_name, warning.affected_sessions_estimate) == ("Payment", 5)


def test_an_edited_checkpoint_is_still_the_checkpoint_they_passed() -> None:
    edited = {**PAYMENT, "description": "Card or wallet"}
    new = scenario(
        2,
        [
            s("welcome", "Welcome", "age_check"),
            s("age_check", "Age Check", ("rejection", "age < 18", 1), "payment", collects_fields=["age"]),
            s("rejection", "Rejection"),
            s("payment", "Payment", "confirm", **edited),
            s("confirm", "Confirm"),
        ],
    )
    tmap = plan_migration(PAID_V1, new).transformation_map
    assert tmap.edited_steps == ["payment"]
    assert next(a for a in tmap.anchors if a.to_step_id == "payment").edited
    minor = run(situation(PAID_V1, new, "confirm", profile={"age": 17}))
    assert minor.outcome is Outcome.BLOCKED and "Payment" in minor.reason
    adult = run(situation(PAID_V1, new, "confirm", profile={"age": 30}))
    assert (adult.outcome, adult.to_step_id) == (Outcome.MIGRATED, "confirm")  # not routed back to pay
    waiting = run(situation(PAID_V1, new, "payment", profile={"age": 30}))
    assert (waiting.outcome, waiting.to_step_id) == (Outcome.MIGRATED, "payment")  # on it: stays on it


# -- policies resolve once ----------------------------------------------------------------------------------


def test_a_session_on_a_deleted_step_takes_its_nearest_anchor_s_policy() -> None:
    old = scenario(1, [s("welcome", "Welcome", "survey"), s("survey", "Survey", "checkout"), *NEW_TAIL])
    new = scenario(2, [s("welcome", "Welcome", "checkout"), *NEW_TAIL])
    off = run(situation(old, new, "survey", policy=AnchorPolicy(update_downstream=False)))
    assert off.outcome is Outcome.KEPT and off.final
    on = run(situation(old, new, "survey"))
    assert (on.outcome, on.to_step_id) == (Outcome.MIGRATED, "checkout")


# -- conditions never crash ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "variables"),
    [
        ("age < 18", {"age": "seventeen"}),  # a string field compared to a number
        ("100 / age > 2", {"age": 0}),  # division by zero
        ("age + 9223372036854775807 > 0", {"age": 1}),  # integer overflow
        ("age + 1", {"age": 1}),  # not a boolean
        ("nosuch(age)", {"age": 1}),  # a function CEL does not have
    ],
)
def test_a_condition_that_fails_keeps_the_session_and_is_tried_again_a_few_times(
    condition: str, variables: dict[str, Any]
) -> None:
    fields = ({"name": "age", "type": "string" if isinstance(variables["age"], str) else "integer"},)
    old = scenario(1, [s("welcome", "Welcome", "checkout"), *NEW_TAIL], fields=fields)
    new = scenario(
        2,
        [
            s("welcome", "Welcome", ("rejection", condition, 1), "checkout"),
            s("rejection", "Rejection"),
            *NEW_TAIL,
        ],
        fields=fields,
    )
    pending = None
    for attempt in range(1, load_settings().gap_fill.max_reasks + 2):
        d = run(situation(old, new, "checkout", variables=variables, pending=pending))
        assert d.outcome is Outcome.KEPT and d.condition_failure is not None
        assert condition in d.reason and "'welcome'" in d.reason
        assert d.final is (attempt > load_settings().gap_fill.max_reasks)
        pending = d.pending


# -- confirmations and re-asks always end --------------------------------------------------------------------

GAP_V1 = scenario(1, [s("welcome", "Welcome", "checkout"), *NEW_TAIL])
GAP_V2 = scenario(
    2,
    [
        s("welcome", "Welcome", "age_check"),
        s("age_check", "Age Check", "checkout", collects_fields=["age"]),
        *NEW_TAIL,
    ],
)
LOW = load_settings(
    gap_fill={**load_settings().gap_fill.model_dump(), "extraction_confidence_threshold": 0.5}
)


def confirming() -> PendingInput:
    d = run(situation(GAP_V1, GAP_V2, "checkout", conversation=["33"], settings=LOW))
    assert d.outcome is Outcome.NEEDS_INPUT and "confirm" in d.questions[0].text
    return d.pending


def test_no_to_a_confirmation_asks_the_question_plainly_once() -> None:
    d = run(
        situation(
            GAP_V1, GAP_V2, "checkout", conversation=["33"], settings=LOW, pending=confirming(), message="no"
        )
    )
    assert (d.outcome, d.questions[0].text) == (Outcome.NEEDS_INPUT, AGE_FIELD["question"])
    assert d.pending.attempts == 0  # "no" is an answer, not an unusable reply
    again = run(
        situation(
            GAP_V1, GAP_V2, "checkout", conversation=["33"], settings=LOW, pending=d.pending, message="43"
        )
    )
    assert (again.outcome, again.filled_fields["age"].value) == (Outcome.MIGRATED, 43)


@pytest.mark.parametrize("reply", ["no, I'm 43", "43", "no it's 43"])
def test_a_value_replying_to_a_confirmation_is_the_answer(reply: str) -> None:
    d = run(
        situation(
            GAP_V1, GAP_V2, "checkout", conversation=["33"], settings=LOW, pending=confirming(), message=reply
        )
    )
    assert (d.outcome, d.filled_fields["age"].value, d.filled_fields["age"].source) == (
        Outcome.MIGRATED,
        43,
        FieldSource.CUSTOMER,
    )


@pytest.mark.parametrize("reply", [None, "", "   ", "what?", "maybe"])
def test_every_unusable_reply_counts_toward_the_cap(reply: str | None) -> None:
    pending = confirming()
    outcomes = []
    for _ in range(load_settings().gap_fill.max_reasks + 1):
        d = run(
            situation(
                GAP_V1, GAP_V2, "checkout", conversation=["33"], settings=LOW, pending=pending, message=reply
            )
        )
        outcomes.append(d.outcome)
        pending = d.pending
    assert outcomes[-1] is Outcome.KEPT and set(outcomes[:-1]) <= {Outcome.NEEDS_INPUT}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["no", "yes", "", "hmm", "43", "no, I'm 43", None, "twelve"]), max_size=12))
def test_the_conversation_always_ends(replies: list[str | None]) -> None:
    """Whatever the customer replies, the migration ends (migrated or kept) within the cap's
    reach: never a question asked forever."""
    pending = confirming()
    for questions, reply in enumerate(replies, start=1):
        d = run(
            situation(
                GAP_V1, GAP_V2, "checkout", conversation=["33"], settings=LOW, pending=pending, message=reply
            )
        )
        if d.outcome is not Outcome.NEEDS_INPUT:
            return
        pending = d.pending
        assert questions <= 2 * (load_settings().gap_fill.max_reasks + 2)

"""The planning domain (SPEC 2, 3, 3.1): documents, content hashes, the graph diff and its summary.

Every test states the exact classification and the exact lists the plan must hold, on the seed's
examples and on the cases an operator meets: insertions up- and downstream, new forks, new
branches and changed conditions on existing steps, sibling branches, deleted steps, copies of
one step, loops, and versions that did not change.
"""

import gc
import hashlib
import json
import random
from typing import Any

import pytest

from scenario_migration.config import get_settings
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.plan import (
    AmbiguousStep,
    Anchor,
    Branch,
    Changes,
    DeletedNode,
    FieldToCollect,
    ForkChange,
    GapPath,
    NodeChange,
    PlanResult,
    Severity,
    Warning,
)
from scenario_migration.domain.planning import plan_migration
from scenario_migration.domain.scenario import Scenario, Step, content_hash, parse_scenario
from scenario_migration.errors import ScenarioInvalid
from tests import documents
from tests.documents import AGE_FIELD, order_flow
from tests.documents import step as s

CLEAN, GAP, REROUTE = MigrationScenario.CLEAN_GRAFT, MigrationScenario.GAP_FILL, MigrationScenario.RE_ROUTE
NOTHING = Changes()


# -- building documents ----------------------------------------------------------------------------


def doc(*steps: dict[str, Any], version: int = 1, fields: tuple = (AGE_FIELD,)) -> dict[str, Any]:
    return order_flow(version, list(steps), fields=fields)


def scenario(*steps: dict[str, Any], version: int = 1, fields: tuple = (AGE_FIELD,)) -> Scenario:
    return parse_scenario(doc(*steps, version=version, fields=fields), get_settings().limits)


def plan(old: Scenario, new: Scenario, sessions: dict[str, int] | None = None) -> PlanResult:
    """The plan, its anchors shown as the API shows them: each with its fields on the way (the
    map stores a reference into its field sets: test_field_sets.py checks that form)."""
    result = plan_migration(old, new, sessions)
    tmap = result.transformation_map
    shown = [a.model_copy(update={"field_set": None}) for a in tmap.with_fields()]
    return result.model_copy(update={"transformation_map": tmap.model_copy(update={"anchors": shown})})


def h(version: Scenario, step_id: str) -> str:
    return version.step_by_id[step_id].content_hash


def node(version: Scenario, step_id: str) -> NodeChange:
    step = version.step_by_id[step_id]
    return NodeChange(
        node_id=step.id,
        node_name=step.name,
        content_hash=step.content_hash,
        collects_fields=step.collects_fields,
        is_checkpoint=step.is_checkpoint,
        performs_action=step.performs_action,
    )


def anchor(
    old: Scenario,
    new: Scenario,
    ids: str | tuple[str, str],
    scenario_: MigrationScenario,
    *,
    key: str | None = None,
    fields: tuple[str, ...] = (),
    up: Changes = NOTHING,
    down: Changes = NOTHING,
) -> Anchor:
    """The expected anchor for old step -> new step (one id when both versions use it)."""
    from_id, to_id = (ids, ids) if isinstance(ids, str) else ids
    step = new.step_by_id[to_id]
    assert old.step_by_id[from_id].content_hash == step.content_hash
    return Anchor(
        anchor_content_hash=key or step.content_hash,
        content_hash=step.content_hash,
        from_content_hash=step.content_hash,
        anchor_name=step.name,
        from_step_id=from_id,
        to_step_id=to_id,
        migration_scenario=scenario_,
        fields_on_the_way=list(fields),
        upstream_changes=up,
        downstream_changes=down,
    )


def fork(version: Scenario, step_id: str, *kinds: str) -> ForkChange:
    step = version.step_by_id[step_id]
    return ForkChange(
        step_id=step_id,
        step_name=step.name,
        kinds=list(kinds),
        branches=[
            Branch(to_step_id=t.to_step_id, condition=t.condition, priority=t.priority)
            for t in sorted(step.transitions, key=lambda t: -t.priority)
        ],
    )


def warning(
    severity: Severity,
    code: str,
    anchor_name: str | None,
    message: str,
    affected: int = 0,
    *,
    step_name: str | None = None,
) -> Warning:
    return Warning(
        severity=severity,
        code=code,
        anchor_name=anchor_name,
        step_name=step_name,
        message=message,
        affected_sessions_estimate=affected,
    )


def scenarios_of(result: PlanResult) -> dict[str, MigrationScenario]:
    return {a.anchor_name: a.migration_scenario for a in result.transformation_map.anchors}


# -- the seed's versions ------------------------------------------------------------------------------

V1 = scenario(*documents.V1["steps"])
AGE_CHECK = documents.AGE_FORK[1]  # Age Verification: minors to Rejection, the others to Checkout


# -- content hash and documents (SPEC 2) -------------------------------------------------------------


def test_content_hash_compatibility_vector() -> None:
    step = Step(id="ask_email", name="Ask Email", collects_fields=["email"])
    assert content_hash(step) == "5cc4dae6bbbca82c"
    assert step.content_hash == "5cc4dae6bbbca82c"


def test_ids_transitions_and_presentation_do_not_enter_the_hash() -> None:
    other = Step(
        id="another-id",
        name="Ask Email",
        description=None,
        checkpoint_description=None,
        collects_profile_fields=["email"],
        transitions=[{"to_step_id": "x", "condition": "a > 1"}],
        ui={"color": "blue"},  # presentation keys are kept but are not identity
    )
    assert other.content_hash == "5cc4dae6bbbca82c"
    assert Step(id="e", name="Ask Email", collects_fields=["email"], description="").content_hash == (
        "5cc4dae6bbbca82c"
    )
    assert (
        Step(id="e", name="Ask Email", collects_fields=["email", "phone"]).content_hash != "5cc4dae6bbbca82c"
    )


@pytest.mark.parametrize(
    "attributes",
    [
        {"name": "Ask Email", "collects_fields": ["email"]},
        {
            "name": 'Prénom "quoted" \\ back\tslash\n\u2028 ☃ 😀',
            "description": "a\x00b \x7f é",
            "rule_ids": ["r-2", "r-10", "ä"],
            "collects_fields": ["zeta", "alpha", "mid_1"],
            "is_checkpoint": True,
            "checkpoint_description": "Payment taken ✓",
            "performs_action": True,
        },
        {
            "name": "x",
            "description": None,
            "checkpoint_description": None,
            "rule_ids": [],
            "is_checkpoint": False,
        },
    ],
)
def test_content_hash_is_sha256_of_the_specified_json(attributes: dict[str, Any]) -> None:
    """SPEC 2.1 word for word: json.dumps(sort_keys=True) of exactly these keys, 16 hex chars."""
    step = Step(id="s", **attributes)
    identity = {
        "name": step.name,
        "description": step.description or "",
        "rule_ids": sorted(str(rule) for rule in step.rule_ids),
        "collects_profile_fields": sorted(step.collects_fields),
        "is_checkpoint": step.is_checkpoint,
        "checkpoint_description": step.checkpoint_description or "",
        "performs_action": step.performs_action,
    }
    expected = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    assert step.content_hash == expected


def test_collects_profile_fields_is_an_alias_of_collects_fields() -> None:
    aliased = scenario(
        s("welcome", "Welcome", "ask"),
        s("ask", "Ask Email", "done", collects_profile_fields=["email"]),
        s("done", "Done"),
    )
    assert aliased.step_by_id["ask"].collects_fields == ["email"]
    assert h(aliased, "ask") == "5cc4dae6bbbca82c"
    old = scenario(s("welcome", "Welcome", "done"), s("done", "Done"))
    result = plan(old, aliased)
    assert result.transformation_map.anchors[1].fields_on_the_way == ["email"]
    assert result.transformation_map.anchors[1].upstream_changes.inserted_nodes == [node(aliased, "ask")]


def test_validation_lists_every_problem_at_once() -> None:
    limits = get_settings().limits.model_copy(update={"max_steps": 4, "max_transitions_per_step": 2})
    document = {
        "name": "Broken",
        "entry_step_id": "start",
        "steps": [
            s("welcome", "Welcome", "nowhere"),
            s("age_check", "Age", ("welcome", "age <", 1), ("ghost", None, 0), ("welcome", None, 0)),
            s("welcome", "Welcome again"),
            s("fine", "Fine", ("welcome", "age >= 18", 0)),
            s("extra", "Extra"),
        ],
    }
    with pytest.raises(ScenarioInvalid) as raised:
        parse_scenario(document, limits)
    problems = {(p["location"], p["message"]) for p in raised.value.problems}
    bad_cel = [p for p in raised.value.problems if p["location"].endswith(".condition")]
    assert len(bad_cel) == 1
    assert bad_cel[0]["location"] == "steps[1] (id 'age_check').transitions[0].condition"
    assert bad_cel[0]["message"].startswith("invalid CEL condition: ")
    assert problems - {(bad_cel[0]["location"], bad_cel[0]["message"])} == {
        ("steps", "5 steps exceed the limit of 4"),
        ("steps", "step id 'welcome' is used 2 times; step ids must be unique"),
        ("entry_step_id", "entry step 'start' is not a step of this scenario"),
        ("steps[1] (id 'age_check').transitions", "more than 2 transitions"),
        ("steps[0] (id 'welcome').transitions[0].to_step_id", "target step 'nowhere' does not exist"),
        ("steps[1] (id 'age_check').transitions[1].to_step_id", "target step 'ghost' does not exist"),
    }
    assert raised.value.message == "the scenario has 7 problems"


def test_validation_enforces_string_and_condition_limits() -> None:
    limits = get_settings().limits.model_copy(update={"max_string_length": 16, "max_condition_length": 16})
    document = doc(
        s("welcome", "W" * 17, ("done", "age >= 18 && age < 130", 0), description="d" * 17),
        s("done", "Done"),
    )
    with pytest.raises(ScenarioInvalid) as raised:
        parse_scenario(document, limits)
    assert raised.value.problems == [
        {"location": "steps[0] (id 'welcome').name", "message": "longer than 16 characters"},
        {"location": "steps[0] (id 'welcome').description", "message": "longer than 16 characters"},
        {
            "location": "steps[0] (id 'welcome').transitions[0].condition",
            "message": "longer than 16 characters",
        },
    ]


def test_structural_errors_are_listed_with_their_location() -> None:
    with pytest.raises(ScenarioInvalid) as raised:
        parse_scenario(
            {"name": "", "entry_step_id": "a", "steps": [{"id": "bad id!", "name": "A"}]},
            get_settings().limits,
        )
    locations = [p["location"] for p in raised.value.problems]
    assert locations == ["name", "steps[0].id"]


def test_cycles_are_legal_documents() -> None:
    looped = scenario(s("a", "A", "b"), s("b", "B", ("a", "age < 18", 1), ("b", None, 0)))
    assert [step.id for step in looped.steps] == ["a", "b"]


# -- classification (SPEC 3) --------------------------------------------------------------------------


def test_downstream_only_insertion_is_a_clean_graft_at_every_old_step() -> None:
    """Seed: V2 Welcome -> Checkout -> Payment -> Confirm (Payment added downstream)."""
    new = scenario(
        s("welcome", "Welcome", "checkout"),
        s("checkout", "Checkout", "payment"),
        s("payment", "Payment", "confirm"),
        s("confirm", "Confirm", "receipt"),
        s("receipt", "Receipt"),
        version=2,
    )
    tmap = plan(V1, new).transformation_map
    assert tmap.anchors == [
        anchor(V1, new, "welcome", CLEAN),
        anchor(V1, new, "checkout", CLEAN, down=Changes(inserted_nodes=[node(new, "payment")])),
        anchor(
            V1,
            new,
            "confirm",
            CLEAN,
            up=Changes(
                inserted_nodes=[node(new, "payment")],
                paths=[GapPath(from_step_id="checkout", via_step_ids=["payment"], fields=[], conditions=[])],
            ),
            down=Changes(inserted_nodes=[node(new, "receipt")]),
        ),
    ]
    assert tmap.deleted_nodes == [] and tmap.changed_forks == [] and tmap.ambiguous_steps == []


def test_inserted_data_step_upstream_is_a_gap_fill_naming_its_fields() -> None:
    """Seed: V2 Welcome -> Age Check -> Checkout (Age Check collects age)."""
    old = scenario(s("welcome", "Welcome", "checkout"), s("checkout", "Checkout"))
    new = scenario(
        s("welcome", "Welcome", "age_check"),
        s("age_check", "Age Verification", "checkout", collects_fields=["age"]),
        s("checkout", "Checkout"),
        version=2,
    )
    result = plan(old, new, {"checkout": 45, "welcome": 3})
    age = node(new, "age_check")
    assert result.transformation_map.anchors == [
        anchor(old, new, "welcome", CLEAN, down=Changes(inserted_nodes=[age])),
        anchor(
            old,
            new,
            "checkout",
            GAP,
            fields=("age",),
            up=Changes(
                inserted_nodes=[age],
                paths=[
                    GapPath(from_step_id="welcome", via_step_ids=["age_check"], fields=["age"], conditions=[])
                ],
            ),
        ),
    ]
    summary = result.summary
    assert (summary.total_anchors, summary.anchors_with_clean_graft, summary.anchors_with_gap_fill) == (
        2,
        1,
        1,
    )
    assert summary.anchors_with_re_route == 0
    assert summary.fields_to_collect == [
        FieldToCollect(field="age", display_name="age", anchors=[h(new, "checkout")], anchors_total=1)
    ]
    assert summary.warnings == [
        warning(
            Severity.INFO,
            "field_may_be_asked:age",
            "Checkout",
            "Customers may be asked for 'age' if not in profile",
            45,
        )
    ]


def test_inserted_fork_upstream_is_a_re_route() -> None:
    """Seed: V2 Welcome -> Age Check -> [age < 18] Rejection | [age >= 18] Checkout -> Confirm."""
    new = scenario(*documents.V2_FORK["steps"], version=2)
    result = plan(V1, new, {"welcome": 1, "checkout": 2, "confirm": 4})
    age_fork = fork(new, "age_check", "new_step")
    assert age_fork.branches == [
        Branch(to_step_id="rejection", condition="age < 18", priority=1),
        Branch(to_step_id="checkout", condition="age >= 18", priority=0),
    ]
    assert result.transformation_map.anchors == [
        anchor(
            V1,
            new,
            "welcome",
            CLEAN,
            down=Changes(
                inserted_nodes=[node(new, "age_check"), node(new, "rejection")], new_forks=[age_fork]
            ),
        ),
        anchor(
            V1,
            new,
            "checkout",
            REROUTE,
            fields=("age",),
            up=Changes(
                inserted_nodes=[node(new, "age_check")],
                new_forks=[age_fork],
                paths=[
                    GapPath(
                        from_step_id="welcome",
                        via_step_ids=["age_check"],
                        fields=["age"],
                        conditions=["age >= 18"],
                    )
                ],
            ),
        ),
        anchor(V1, new, "confirm", REROUTE, fields=("age",)),
    ]
    assert result.transformation_map.changed_forks == ["age_check"]
    assert result.summary.warnings == [
        warning(
            Severity.WARNING,
            "redirecting_fork:age_check",
            "Checkout",
            "Sessions after 'Age Verification' may be redirected by a new or changed fork (new_step)",
            6,
            step_name="Age Verification",
        ),
        warning(
            Severity.INFO,
            "field_may_be_asked:age",
            "Checkout",
            "Customers may be asked for 'age' if not in profile",
            6,
        ),
    ]


def test_a_new_branch_on_an_unchanged_step_re_routes_the_anchors_after_it() -> None:
    """welcome -> rejection [age < 18] is added to Welcome, which itself did not change."""
    old = scenario(
        s("welcome", "Welcome", "checkout", collects_fields=["age"]),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
    )
    new = scenario(
        s("welcome", "Welcome", ("rejection", "age < 18", 1), "checkout", collects_fields=["age"]),
        s("rejection", "Rejection"),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
        version=2,
    )
    result = plan(old, new, {"checkout": 5})
    welcome_fork = fork(new, "welcome", "new_branch")
    assert result.transformation_map.anchors == [
        anchor(
            old,
            new,
            "welcome",
            CLEAN,
            down=Changes(inserted_nodes=[node(new, "rejection")], new_forks=[welcome_fork]),
        ),
        anchor(
            old,
            new,
            "checkout",
            REROUTE,
            up=Changes(
                new_forks=[welcome_fork],
                paths=[GapPath(from_step_id="welcome", via_step_ids=[], fields=[], conditions=[])],
            ),
        ),
        anchor(old, new, "confirm", REROUTE),
    ]
    assert result.transformation_map.changed_forks == ["welcome"]
    assert result.summary.warnings == [
        warning(
            Severity.WARNING,
            "redirecting_fork:welcome",
            "Welcome",
            "Sessions after 'Welcome' may be redirected by a new or changed fork (new_branch)",
            5,
            step_name="Welcome",
        )
    ]


def test_a_changed_condition_on_an_existing_transition_is_a_re_route() -> None:
    def version(limit: int, number: int) -> Scenario:
        return scenario(
            s("welcome", "Welcome", "age_check"),
            s(
                "age_check",
                "Age Verification",
                ("rejection", f"age < {limit}", 1),
                ("checkout", f"age >= {limit}", 0),
                collects_fields=["age"],
            ),
            s("rejection", "Rejection"),
            s("checkout", "Checkout", "confirm"),
            s("confirm", "Confirm"),
            version=number,
        )

    old, new = version(18, 1), version(21, 2)
    changed = fork(new, "age_check", "changed_condition")
    tmap = plan(old, new).transformation_map
    assert tmap.anchors == [
        anchor(old, new, "welcome", CLEAN),
        anchor(old, new, "age_check", CLEAN, down=Changes(new_forks=[changed])),
        anchor(
            old,
            new,
            "checkout",
            REROUTE,
            up=Changes(
                new_forks=[changed],
                paths=[
                    GapPath(from_step_id="age_check", via_step_ids=[], fields=[], conditions=["age >= 21"])
                ],
            ),
        ),
        anchor(old, new, "confirm", REROUTE),
        anchor(
            old,
            new,
            "rejection",
            REROUTE,
            up=Changes(
                new_forks=[changed],
                paths=[
                    GapPath(from_step_id="age_check", via_step_ids=[], fields=[], conditions=["age < 21"])
                ],
            ),
        ),
    ]
    assert tmap.changed_forks == ["age_check"]


def test_a_condition_rewritten_with_other_spacing_is_not_a_change() -> None:
    old = scenario(s("a", "A", ("b", "age < 18", 1), "c", collects_fields=["age"]), s("b", "B"), s("c", "C"))
    new = scenario(
        s("a", "A", ("b", "age   <  18", 1), "c", collects_fields=["age"]), s("b", "B"), s("c", "C")
    )
    result = plan(old, new)
    assert scenarios_of(result) == {"A": CLEAN, "B": CLEAN, "C": CLEAN}
    assert result.transformation_map.changed_forks == [] and result.summary.warnings == []


def test_sibling_branches_say_which_fields_belong_to_which_path() -> None:
    """V2 A -> {Ask Phone | Ask Email} -> B: a customer at B is asked one or the other, never
    redirected (both ways lead to B), so B is a gap fill and the fork stays for the JIT to decide."""
    contact = (
        {"name": "contact", "type": "enum", "values": ["phone", "email"]},
        {"name": "phone"},
        {"name": "email"},
    )
    old = scenario(s("a", "A", "b", collects_fields=["contact"]), s("b", "B"), fields=contact)
    new = scenario(
        s("a", "A", ("ask_phone", "contact == 'phone'", 1), "ask_email", collects_fields=["contact"]),
        s("ask_phone", "Ask Phone", "b", collects_fields=["phone"]),
        s("ask_email", "Ask Email", "b", collects_fields=["email"]),
        s("b", "B"),
        version=2,
        fields=contact,
    )
    result = plan(old, new, {"b": 7})
    siblings = fork(new, "a", "changed_condition", "new_branch")
    inserted = [node(new, "ask_email"), node(new, "ask_phone")]  # topological, ties by id
    assert result.transformation_map.anchors == [
        anchor(old, new, "a", CLEAN, down=Changes(inserted_nodes=inserted, new_forks=[siblings])),
        anchor(
            old,
            new,
            "b",
            GAP,
            fields=("email", "phone"),
            up=Changes(
                inserted_nodes=inserted,
                new_forks=[siblings],
                paths=[
                    GapPath(from_step_id="a", via_step_ids=["ask_email"], fields=["email"], conditions=[]),
                    GapPath(
                        from_step_id="a",
                        via_step_ids=["ask_phone"],
                        fields=["phone"],
                        conditions=["contact == 'phone'"],
                    ),
                ],
            ),
        ),
    ]
    assert result.transformation_map.changed_forks == ["a"]
    assert result.summary.warnings == [
        warning(
            Severity.INFO,
            "field_may_be_asked:email",
            "B",
            "Customers may be asked for 'email' if not in profile",
            7,
        ),
        warning(
            Severity.INFO,
            "field_may_be_asked:phone",
            "B",
            "Customers may be asked for 'phone' if not in profile",
            7,
        ),
    ]


def test_sibling_branches_under_an_existing_fork() -> None:
    old = scenario(
        s("start", "Start", ("by_phone", "channel == 'sms'", 1), "by_email", collects_fields=["channel"]),
        s("by_phone", "Phone Route", "done"),
        s("by_email", "Email Route", "done"),
        s("done", "Done"),
    )
    new = scenario(
        s("start", "Start", ("by_phone", "channel == 'sms'", 1), "by_email", collects_fields=["channel"]),
        s("by_phone", "Phone Route", "ask_phone"),
        s("ask_phone", "Ask Phone", "done", collects_fields=["phone"]),
        s("by_email", "Email Route", "ask_email"),
        s("ask_email", "Ask Email", "done", collects_fields=["email"]),
        s("done", "Done"),
        version=2,
    )
    done = plan(old, new).transformation_map.anchors[-1]
    assert (done.anchor_name, done.migration_scenario, done.fields_on_the_way) == (
        "Done",
        GAP,
        ["email", "phone"],
    )
    assert done.upstream_changes == Changes(
        inserted_nodes=[node(new, "ask_email"), node(new, "ask_phone")],
        paths=[
            GapPath(from_step_id="by_email", via_step_ids=["ask_email"], fields=["email"], conditions=[]),
            GapPath(from_step_id="by_phone", via_step_ids=["ask_phone"], fields=["phone"], conditions=[]),
        ],
    )


def test_a_fork_whose_branches_lead_to_different_anchors_still_re_routes() -> None:
    old = scenario(s("a", "A", "b", collects_fields=["age"]), s("b", "B", "c"), s("c", "C"))
    new = scenario(
        s("a", "A", ("x", "age < 18", 1), "y", collects_fields=["age"]),
        s("x", "X", "c"),  # skips B
        s("y", "Y", "b"),
        s("b", "B", "c"),
        s("c", "C"),
        version=2,
    )
    assert scenarios_of(plan(old, new)) == {"A": CLEAN, "B": REROUTE, "C": REROUTE}


def test_a_deleted_middle_step_goes_to_its_nearest_downstream_anchor() -> None:
    old = scenario(
        s("welcome", "Welcome", "survey"),
        s("survey", "Survey", "checkout"),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
    )
    new = scenario(
        s("welcome", "Welcome", "checkout"),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
        version=2,
    )
    result = plan(old, new, {"survey": 3, "checkout": 2})
    survey = node(old, "survey")
    assert result.transformation_map.anchors == [
        anchor(old, new, "welcome", CLEAN, down=Changes(removed_nodes=[survey])),
        anchor(old, new, "checkout", CLEAN, up=Changes(removed_nodes=[survey])),
        anchor(old, new, "confirm", CLEAN),
    ]
    assert result.transformation_map.deleted_nodes == [
        DeletedNode(
            node_id="survey",
            node_name="Survey",
            content_hash=h(old, "survey"),
            nearest_anchor=h(new, "checkout"),
            nearest_anchor_name="Checkout",
            relocation="downstream",
        )
    ]
    summary = result.summary
    assert (summary.nodes_deleted, summary.sessions_on_deleted_steps) == (1, {"survey": 3})
    assert summary.estimated_sessions_affected == 5
    assert summary.warnings == [
        warning(
            Severity.WARNING,
            "deleted_step_sessions:survey",
            "Checkout",
            "3 session(s) sit on deleted step 'Survey': they will move to 'Checkout' (downstream)",
            3,
            step_name="Survey",
        )
    ]


def test_a_deleted_last_step_goes_to_the_nearest_anchor_upstream() -> None:
    old = scenario(
        s("welcome", "Welcome", "confirm"), s("confirm", "Confirm", "goodbye"), s("goodbye", "Goodbye")
    )
    new = scenario(s("welcome", "Welcome", "confirm"), s("confirm", "Confirm"), version=2)
    (deleted,) = plan(old, new).transformation_map.deleted_nodes
    assert (deleted.node_id, deleted.nearest_anchor_name, deleted.relocation) == (
        "goodbye",
        "Confirm",
        "upstream",
    )
    assert deleted.nearest_anchor == h(new, "confirm")


def test_identical_steps_in_one_version_are_told_apart_by_position() -> None:
    """Two 'Confirm' steps with the same content: distinct anchors, each to its own copy."""
    old = scenario(
        s("welcome", "Welcome", "c1"),
        s("c1", "Confirm", "middle"),
        s("middle", "Middle", "c2"),
        s("c2", "Confirm", "end"),
        s("end", "End"),
    )
    new = scenario(
        s("welcome", "Welcome", "x1"),
        s("x1", "Confirm", "middle"),
        s("middle", "Middle", "ask"),
        s("ask", "Ask Email", "x2", collects_fields=["email"]),
        s("x2", "Confirm", "end"),
        s("end", "End"),
        version=2,
    )
    tmap = plan(old, new).transformation_map
    confirms = [a for a in tmap.anchors if a.anchor_name == "Confirm"]
    assert [(a.from_step_id, a.to_step_id, a.migration_scenario) for a in confirms] == [
        ("c1", "x1", CLEAN),
        ("c2", "x2", GAP),
    ]
    keys = [a.anchor_content_hash for a in confirms]
    assert len(set(keys)) == 2 and all(k.startswith(h(new, "x1") + "~") for k in keys)
    assert confirms[1].fields_on_the_way == ["email"]
    assert tmap.ambiguous_steps == [] and tmap.deleted_nodes == []


def test_twins_that_position_cannot_tell_apart_are_ambiguous_and_critical() -> None:
    """Start -> P -> Q -> End twice over, symmetric: no anchor for P or Q, never merged."""
    version = scenario(
        s("start", "Start", "p1", "p2"),
        s("p1", "P", "q1"),
        s("p2", "P", "q2"),
        s("q1", "Q", "end"),
        s("q2", "Q", "end"),
        s("end", "End"),
    )
    result = plan(version, version, {"q1": 2, "p2": 1, "end": 4})
    tmap = result.transformation_map
    assert [(a.anchor_name, a.migration_scenario) for a in tmap.anchors] == [("Start", CLEAN), ("End", CLEAN)]
    assert all(a.upstream_changes == NOTHING and a.downstream_changes == NOTHING for a in tmap.anchors)
    p_hash, q_hash = h(version, "p1"), h(version, "q1")
    assert p_hash < q_hash  # ambiguous steps are listed by content hash
    assert tmap.ambiguous_steps == [
        AmbiguousStep(
            content_hash=p_hash, node_name="P", from_step_ids=["p1", "p2"], to_step_ids=["p1", "p2"]
        ),
        AmbiguousStep(
            content_hash=q_hash, node_name="Q", from_step_ids=["q1", "q2"], to_step_ids=["q1", "q2"]
        ),
    ]
    assert tmap.deleted_nodes == []  # their content is in both versions: not deleted
    assert result.summary.has_critical
    assert result.summary.warnings == [
        warning(
            Severity.CRITICAL,
            f"ambiguous_step:{h(version, 'p1')}",
            None,
            step_name="P",
            message="Step 'P' occurs several times and its copies cannot be told apart by position "
            "(old ['p1', 'p2'], new ['p1', 'p2']): make them differ",
            affected=1,
        ),
        warning(
            Severity.CRITICAL,
            f"ambiguous_step:{h(version, 'q1')}",
            None,
            step_name="Q",
            message="Step 'Q' occurs several times and its copies cannot be told apart by position "
            "(old ['q1', 'q2'], new ['q1', 'q2']): make them differ",
            affected=2,
        ),
    ]
    assert result.summary.sessions_by_anchor == {h(version, "start"): 0, h(version, "end"): 4}


def test_the_entry_copy_of_a_step_is_told_apart_from_the_others() -> None:
    version = scenario(s("a", "Hello", "b"), s("b", "Hello"))
    tmap = plan(version, version).transformation_map
    assert [(a.from_step_id, a.to_step_id) for a in tmap.anchors] == [("a", "a"), ("b", "b")]
    assert tmap.ambiguous_steps == [] and tmap.deleted_nodes == []


def test_cycles_terminate_and_an_insertion_inside_a_loop_is_a_gap_fill_after_it() -> None:
    old = scenario(
        s("menu", "Menu", "ask", collects_fields=["age"]),
        s("ask", "Ask", ("menu", "age < 18", 1), "ask", "pay"),  # back to the menu, itself, onwards
        s("pay", "Pay", "menu"),
    )
    new = scenario(
        s("menu", "Menu", "ask", collects_fields=["age"]),
        s("ask", "Ask", ("menu", "age < 18", 1), "ask", "email"),
        s("email", "Ask Email", "pay", collects_fields=["email"]),
        s("pay", "Pay", "menu"),
        version=2,
    )
    tmap = plan(old, new).transformation_map
    assert [(a.anchor_name, a.migration_scenario, a.fields_on_the_way) for a in tmap.anchors] == [
        ("Menu", CLEAN, []),
        ("Ask", CLEAN, []),
        ("Pay", GAP, ["email"]),
    ]
    assert tmap.anchors[2].upstream_changes.paths == [
        GapPath(from_step_id="ask", via_step_ids=["email"], fields=["email"], conditions=[])
    ]


def test_a_fork_sending_a_branch_back_round_a_loop_re_routes() -> None:
    old = scenario(s("a", "A", "b", collects_fields=["age"]), s("b", "B", "c"), s("c", "C"))
    new = scenario(
        s("a", "A", "b", collects_fields=["age"]),
        s("b", "B", ("again", "age < 18", 1), "c"),
        s("again", "Again", "a"),
        s("c", "C"),
        version=2,
    )
    assert scenarios_of(plan(old, new)) == {"A": CLEAN, "B": CLEAN, "C": REROUTE}


def test_identical_versions_are_all_clean_grafts_with_nothing_deleted() -> None:
    version = scenario(
        s("welcome", "Welcome", "age_check"),
        AGE_CHECK,
        s("rejection", "Rejection", "welcome"),
        s("checkout", "Checkout", ("checkout", "age > 99", 1), "pay"),
        s("pay", "Pay", "confirm", is_checkpoint=True, performs_action=True, checkpoint_description="paid"),
        s("confirm", "Confirm", "welcome"),
    )
    result = plan(version, version, {"checkout": 3, "pay": 2})
    tmap, summary = result.transformation_map, result.summary
    assert tmap.anchors == [
        anchor(version, version, step_id, CLEAN)
        for step_id in ("welcome", "age_check", "checkout", "pay", "confirm", "rejection")
    ]
    assert (tmap.deleted_nodes, tmap.ambiguous_steps, tmap.changed_forks) == ([], [], [])
    assert (summary.total_anchors, summary.anchors_with_clean_graft, summary.nodes_deleted) == (6, 6, 0)
    assert (summary.warnings, summary.fields_to_collect) == ([], [])
    assert summary.estimated_sessions_affected == 5


def test_anchors_are_listed_in_topological_order_from_the_entry_ties_by_id() -> None:
    version = scenario(
        s("start", "Start", "zed", "alpha"),
        s("zed", "Zed", "end"),
        s("alpha", "Alpha", "end"),
        s("end", "End"),
    )
    assert [a.to_step_id for a in plan(version, version).transformation_map.anchors] == [
        "start",
        "alpha",
        "zed",
        "end",
    ]


def test_the_plan_does_not_depend_on_the_order_of_steps_in_the_document() -> None:
    old = doc(
        s("welcome", "Welcome", "checkout", collects_fields=["contact"]),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm", "survey"),
        s("survey", "Survey"),
    )
    new = doc(
        s(
            "welcome",
            "Welcome",
            ("p", "contact == 'phone'", 1),
            ("e", None, 0),
            "checkout",
            collects_fields=["contact"],
        ),
        s("p", "Ask Phone", "checkout", collects_fields=["phone"]),
        s("e", "Ask Email", "checkout", collects_fields=["email"]),
        s("checkout", "Checkout", ("welcome", "phone == ''", 2), "confirm"),
        s("confirm", "Confirm"),
        version=2,
    )
    limits = get_settings().limits
    expected = plan_migration(parse_scenario(old, limits), parse_scenario(new, limits), {"checkout": 1})
    rnd = random.Random(7)
    for _ in range(5):
        shuffled_old = {**old, "steps": rnd.sample(old["steps"], len(old["steps"]))}
        shuffled_new = {**new, "steps": rnd.sample(new["steps"], len(new["steps"]))}
        again = plan_migration(
            parse_scenario(shuffled_old, limits), parse_scenario(shuffled_new, limits), {"checkout": 1}
        )
        assert again.model_dump_json() == expected.model_dump_json()


# -- summary and warnings (SPEC 3.1) ------------------------------------------------------------------


def test_sessions_by_anchor_and_the_estimate_count_live_sessions_at_plan_time() -> None:
    old = scenario(
        s("welcome", "Welcome", "survey"),
        s("survey", "Survey", "checkout"),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
    )
    new = scenario(
        s("welcome", "Welcome", "age_check"),
        s("age_check", "Age Verification", "checkout", collects_fields=["age"]),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
        version=2,
    )
    summary = plan(
        old, new, {"welcome": 10, "survey": 4, "checkout": 45, "confirm": 97, "unknown": 1000}
    ).summary
    assert summary.sessions_by_anchor == {
        h(new, "welcome"): 10,
        h(new, "checkout"): 45,
        h(new, "confirm"): 97,
    }
    assert summary.sessions_on_deleted_steps == {"survey": 4}
    assert summary.estimated_sessions_affected == 156
    empty = plan(old, new).summary
    assert empty.estimated_sessions_affected == 0
    assert empty.sessions_by_anchor == dict.fromkeys(summary.sessions_by_anchor, 0)


def test_checkpoint_conflict_warns_that_redirected_customers_will_be_blocked() -> None:
    """Customers at Confirm paid; the new fork before Payment could send them to Rejection,
    which does not come after Payment."""
    old = scenario(
        s("welcome", "Welcome", "payment"),
        s("payment", "Payment", "confirm", is_checkpoint=True, performs_action=True),
        s("confirm", "Confirm"),
    )
    new = scenario(
        s("welcome", "Welcome", "age_check"),
        s("age_check", "Age Verification", ("rejection", "age < 18", 1), "payment", collects_fields=["age"]),
        s("rejection", "Rejection"),
        s("payment", "Payment", "confirm", is_checkpoint=True, performs_action=True),
        s("confirm", "Confirm"),
        version=2,
    )
    result = plan(old, new, {"welcome": 1, "payment": 2, "confirm": 4})
    assert scenarios_of(result) == {"Welcome": CLEAN, "Payment": REROUTE, "Confirm": REROUTE}
    assert result.summary.warnings == [
        warning(
            Severity.WARNING,
            "redirecting_fork:age_check",
            "Payment",
            "Sessions after 'Age Verification' may be redirected by a new or changed fork (new_step)",
            6,
            step_name="Age Verification",
        ),
        warning(
            Severity.WARNING,
            "checkpoint_blocks_redirect:age_check:rejection",
            "Payment",
            "Customers who passed checkpoint 'Payment' cannot be redirected to 'Rejection' by the fork at "
            "'Age Verification': they will be blocked and stay on their version",
            6,
            step_name="Age Verification",
        ),
        warning(
            Severity.INFO,
            "field_may_be_asked:age",
            "Payment",
            "Customers may be asked for 'age' if not in profile",
            6,
        ),
    ]


def test_a_redirect_target_after_the_checkpoint_is_no_conflict() -> None:
    old = scenario(
        s("payment", "Payment", "confirm", is_checkpoint=True, collects_fields=["age"]),
        s("confirm", "Confirm"),
    )
    new = scenario(
        s(
            "payment",
            "Payment",
            ("refund", "age < 18", 1),
            "confirm",
            is_checkpoint=True,
            collects_fields=["age"],
        ),
        s("refund", "Refund"),
        s("confirm", "Confirm"),
        version=2,
    )
    messages = [w.message for w in plan(old, new, {"confirm": 3}).summary.warnings]
    assert messages == ["Sessions after 'Payment' may be redirected by a new or changed fork (new_branch)"]


def test_a_checkpoint_moved_after_an_anchor_warns_once_for_it() -> None:
    old = scenario(
        s("welcome", "Welcome", "payment"),
        s("payment", "Payment", "confirm", is_checkpoint=True),
        s("confirm", "Confirm", "review"),
        s("review", "Review"),
    )
    new = scenario(
        s("welcome", "Welcome", "confirm"),
        s("confirm", "Confirm", "review"),
        s("review", "Review", "payment"),
        s("payment", "Payment", is_checkpoint=True),
        version=2,
    )
    warnings = plan(old, new, {"confirm": 2, "review": 5}).summary.warnings
    assert warnings == [
        warning(
            Severity.WARNING,
            "checkpoint_reordered:payment",
            "Confirm",
            "Customers at 'Confirm' and other steps may have passed checkpoint 'Payment', which the new "
            "version does not place before them: they will be blocked and stay on their version",
            7,
            step_name="Payment",
        )
    ]


def test_an_action_inserted_upstream_routes_customers_to_it() -> None:
    """Replay walk: a customer who has not been through an inserted action is routed to it."""
    new = scenario(
        s("welcome", "Welcome", "charge"),
        s("charge", "Charge card", "checkout", performs_action=True),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
        version=2,
    )
    result = plan(V1, new, {"welcome": 1, "checkout": 2, "confirm": 3})
    assert scenarios_of(result) == {"Welcome": CLEAN, "Checkout": REROUTE, "Confirm": REROUTE}
    assert result.summary.warnings == [
        warning(
            Severity.WARNING,
            "routed_to_step:charge",
            "Checkout",
            "'Charge card' (action) is inserted: customers after it who have not been through it "
            "will be routed to it, not migrated past it",
            5,
            step_name="Charge card",
        )
    ]


def test_versions_with_no_step_in_common_are_critical() -> None:
    new = scenario(s("hello", "Hello", "bye"), s("bye", "Bye"), version=2)
    result = plan(V1, new, {"checkout": 4, "confirm": 1})
    tmap = result.transformation_map
    assert tmap.anchors == []
    assert [(d.node_id, d.nearest_anchor, d.relocation) for d in tmap.deleted_nodes] == [
        ("welcome", None, None),
        ("checkout", None, None),
        ("confirm", None, None),
    ]
    assert result.summary.warnings[0] == warning(
        Severity.CRITICAL,
        "no_anchors",
        None,
        "The versions have no step in common: no live session can be migrated",
        5,
    )
    assert result.summary.has_critical


def test_a_condition_on_a_field_nothing_can_collect_is_critical() -> None:
    """`age` has a question in the catalogue (JIT can ask it): collectable. `country` has no
    step and no catalogue entry: nothing can ever provide it."""
    new = scenario(
        s("welcome", "Welcome", "age_check"),
        s("age_check", "Age Verification", ("rejection", "age < 18 && country == 'FR'", 1), "checkout"),
        s("rejection", "Rejection"),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
        version=2,
    )
    critical = [w for w in plan(V1, new).summary.warnings if w.severity is Severity.CRITICAL]
    assert critical == [
        warning(
            Severity.CRITICAL,
            "uncollectable_field:age_check:0",
            "Checkout",
            "Condition 'age < 18 && country == 'FR'' on 'Age Verification': it uses 'country', "
            "which no step collects and the catalogue has no question for",
            step_name="Age Verification",
        ),
    ]


@pytest.mark.parametrize(
    ("condition", "field", "problem"),
    [
        ("age < 18", {"name": "age", "type": "string", "question": "Age?"}, "different types"),
        ("age < 18", None, "different types"),  # uncatalogued: a string
        ("100 / age > 2", AGE_FIELD, "can fail at run time for some values (ZeroDivisionError)"),
        ("age + 9223372036854775807 > 0", AGE_FIELD, "(OverflowError)"),
        ("age + 1", AGE_FIELD, "gave 1, not true or false"),
        ("amount + 1 > 2", {"name": "amount", "type": "number", "question": "?"}, "different types"),
        (
            "size(age) > 1",
            AGE_FIELD,
            "Undefined variable or function",
        ),  # allowed name, no overload for a number
    ],
)
def test_a_condition_that_does_not_type_check_is_critical(condition: str, field: Any, problem: str) -> None:
    fields = (field,) if field else ()
    new = scenario(
        s("welcome", "Welcome", "age_check"),
        s(
            "age_check",
            "Age Check",
            ("rejection", condition, 1),
            "checkout",
            collects_fields=["age", "amount", "plan"],
        ),
        s("rejection", "Rejection"),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
        version=2,
        fields=fields,
    )
    critical = [w for w in plan(V1, new, {"checkout": 3}).summary.warnings if w.severity is Severity.CRITICAL]
    assert [(w.code, w.step_name, w.affected_sessions_estimate) for w in critical] == [
        ("condition_type:age_check:0", "Age Check", 3)
    ]
    assert problem in critical[0].message and condition in critical[0].message


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ("age < 18", AGE_FIELD),
        ("amount > 100", {"name": "amount", "type": "number"}),  # CEL compares int and double
        ("vip == true", {"name": "vip", "type": "boolean"}),
        ("plan in ['gold', 'silver']", {"name": "plan", "type": "enum", "values": ["gold", "silver"]}),
        ("email.endsWith('@example.com')", {"name": "email", "type": "email"}),
    ],
)
def test_a_well_typed_condition_is_not_critical(condition: str, field: dict) -> None:
    name = field["name"]
    new = scenario(
        s("welcome", "Welcome", "ask"),
        s("ask", "Ask", ("rejection", condition, 1), "checkout", collects_fields=[name]),
        s("rejection", "Rejection"),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
        version=2,
        fields=(field,),
    )
    assert not plan(V1, new).summary.has_critical


def test_warnings_come_most_severe_first() -> None:
    new = scenario(
        s("welcome", "Welcome", "age_check"),
        s("age_check", "Age Verification", ("rejection", "age < 18 && country == 'FR'", 1), "checkout"),
        s("rejection", "Rejection"),
        s("ask", "Ask Email", "checkout", collects_fields=["email"]),
        s("checkout", "Checkout", "confirm"),
        s("confirm", "Confirm"),
        version=2,
    )
    severities = [w.severity for w in plan(V1, new).summary.warnings]
    assert severities == sorted(severities, key=[Severity.CRITICAL, Severity.WARNING, Severity.INFO].index)
    assert severities[0] is Severity.CRITICAL and severities[-1] is Severity.INFO


# -- the planner leaves the interpreter as it found it -----------------------------------------------


@pytest.mark.parametrize("enabled", [True, False])
def test_planning_restores_the_cycle_collector_state(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        _set_collector(enabled)
        plan(V1, V1)
        assert gc.isenabled() is enabled
    finally:
        _set_collector(was)


def _set_collector(enabled: bool) -> None:
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_planning_restores_the_cycle_collector_when_it_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("scenario_migration.domain.planning.ScenarioGraph", broken)
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="boom"):
        plan(V1, V1)
    assert gc.isenabled()

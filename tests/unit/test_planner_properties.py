"""Properties of the graph diff on random scenarios: forks, loops, self-loops, steps the entry
cannot reach and repeated step contents (twins), for a version against itself, against a
renamed copy, and against an edited copy (steps inserted and deleted, conditions and branches
changed, contents edited)."""

import hashlib
import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_migration.config import get_settings
from scenario_migration.domain.graph import ScenarioGraph
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.plan import PlanResult, Severity
from scenario_migration.domain.planner import ScenarioDiff
from scenario_migration.domain.planning import plan_migration
from scenario_migration.domain.scenario import Step, parse_scenario

FAST = settings(max_examples=120, deadline=None)

# (name, collected fields, checkpoint, action): few enough that contents repeat
CONTENTS = [
    ("Welcome", [], False, False),
    ("Ask Age", ["age"], False, False),
    ("Ask Email", ["email"], False, False),
    ("Confirm", [], False, False),
    ("Pay", [], True, True),
    ("Ship", [], False, True),
    ("Menu", [], False, False),
    ("Menu", ["x"], False, False),
]
NEW_CONTENTS = [*CONTENTS, ("New", ["z"], False, False), ("Rejected", [], False, False)]
CONDITIONS = [None, None, "age < 18", "age >= 18", "x == 1", "email != ''", "z > 2"]
ID_CHARS = "abcdefghij"


def _step(step_id: str, content: tuple, transitions: list[dict[str, Any]]) -> dict[str, Any]:
    name, fields, checkpoint, action = content
    return {
        "id": step_id,
        "name": name,
        "collects_fields": list(fields),
        "is_checkpoint": checkpoint,
        "performs_action": action,
        "transitions": transitions,
    }


@st.composite
def documents(draw: st.DrawFn, min_steps: int = 1, max_steps: int = 9) -> dict[str, Any]:
    """A scenario: mostly a chain, plus random exits anywhere (forks, loops back, self-loops),
    some steps left unreachable, contents drawn from a small pool (twins)."""
    count = draw(st.integers(min_steps, max_steps))
    ids = draw(
        st.lists(st.text(ID_CHARS, min_size=1, max_size=3), min_size=count, max_size=count, unique=True)
    )
    steps = []
    for i, step_id in enumerate(ids):
        transitions = []
        if i + 1 < count and draw(st.integers(0, 4)):  # usually on to the next step
            transitions.append({"to_step_id": ids[i + 1], "condition": None, "priority": 0})
        for _ in range(draw(st.integers(0, 2))):
            transitions.append(
                {
                    "to_step_id": ids[draw(st.integers(0, count - 1))],
                    "condition": draw(st.sampled_from(CONDITIONS)),
                    "priority": draw(st.integers(0, 2)),
                }
            )
        steps.append(_step(step_id, draw(st.sampled_from(CONTENTS)), transitions))
    return {"name": "Random", "version": 1, "entry_step_id": ids[0], "steps": steps}


def _insert(steps: list[dict[str, Any]], rnd: random.Random) -> None:
    host = rnd.choice(steps)
    taken = {step["id"] for step in steps}
    new_id = next(f"n{i}" for i in range(len(steps), 2 * len(steps) + 2) if f"n{i}" not in taken)
    transitions = host["transitions"] or [{"to_step_id": rnd.choice(steps)["id"], "condition": None}]
    if rnd.random() < 0.3:  # an inserted fork
        transitions = [
            {"to_step_id": rnd.choice(steps)["id"], "condition": "age < 18", "priority": 1},
            *transitions,
        ]
    steps.append(_step(new_id, rnd.choice(NEW_CONTENTS), transitions))
    host["transitions"] = [{"to_step_id": new_id, "condition": None, "priority": 0}]


def _delete(steps: list[dict[str, Any]], entry: str, rnd: random.Random) -> None:
    candidates = [s for s in steps if s["id"] != entry]
    if not candidates:
        return
    gone = rnd.choice(candidates)
    steps.remove(gone)
    onwards = [t for t in gone["transitions"] if t["to_step_id"] != gone["id"]]
    for step in steps:
        rewired = []
        for t in step["transitions"]:
            rewired += (
                [{**o, "condition": t["condition"]} for o in onwards]
                if t["to_step_id"] == gone["id"]
                else [t]
            )
        step["transitions"] = rewired[:6]


def _edit(steps: list[dict[str, Any]], rnd: random.Random, operation: str) -> None:
    step = rnd.choice(steps)
    if operation == "condition" and step["transitions"]:
        rnd.choice(step["transitions"])["condition"] = rnd.choice(CONDITIONS)
    elif operation == "branch":
        target = rnd.choice(steps)["id"]
        step["transitions"].append({"to_step_id": target, "condition": rnd.choice(CONDITIONS), "priority": 1})
    elif operation == "content":
        step["name"] += " (edited)"


@st.composite
def version_pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """V1 and a V2 edited from it, as an operator would."""
    old = draw(documents(min_steps=2))
    rnd = draw(st.randoms(use_true_random=False))
    new = json.loads(json.dumps(old))
    new["version"] = 2
    for operation in draw(st.lists(st.sampled_from(["insert", "delete", "condition", "branch", "content"]))):
        if operation == "insert":
            _insert(new["steps"], rnd)
        elif operation == "delete":
            _delete(new["steps"], new["entry_step_id"], rnd)
        else:
            _edit(new["steps"], rnd, operation)
    return old, new


def renamed(
    document: dict[str, Any], rnd: random.Random, names: dict[str, str] | None = None
) -> dict[str, Any]:
    """The same scenario with every step id changed (contents and transitions kept); `names`
    (old id -> new id) renames two versions alike."""
    names = names or {
        step["id"]: f"r{rnd.randrange(10**6)}.{i}" for i, step in enumerate(document["steps"])
    }  # unique by i
    return {
        **document,
        "entry_step_id": names[document["entry_step_id"]],
        "steps": [
            {
                **step,
                "id": names[step["id"]],
                "transitions": [{**t, "to_step_id": names[t["to_step_id"]]} for t in step["transitions"]],
            }
            for step in document["steps"]
        ],
    }


def shuffled(document: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    return {**document, "steps": rnd.sample(document["steps"], len(document["steps"]))}


def plan(old: dict[str, Any], new: dict[str, Any], sessions: dict[str, int] | None = None) -> PlanResult:
    limits = get_settings().limits
    return plan_migration(parse_scenario(old, limits), parse_scenario(new, limits), sessions)


def anchors_by_key(result: PlanResult) -> dict[str, tuple]:
    """What must not depend on ids: per anchor key, its classification, the fields on the way
    and the contents inserted, removed and forked before and after it."""

    def contents(changes: Any) -> tuple:
        return (
            sorted(n.content_hash for n in changes.inserted_nodes),
            sorted(n.content_hash for n in changes.removed_nodes),
            sorted(f.step_name for f in changes.new_forks),
        )

    tmap = result.transformation_map
    return {
        a.anchor_content_hash: (
            a.content_hash,
            a.migration_scenario,
            tmap.fields_of(a.field_set),
            contents(a.upstream_changes),
            contents(a.downstream_changes),
        )
        for a in tmap.anchors
    }


def assert_accounts_for_every_step(result: PlanResult, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Each old step is exactly one of: an anchor, deleted, an ambiguous twin; each new step is
    the target of at most one anchor (copies are never merged)."""
    tmap = result.transformation_map
    anchored = [a.from_step_id for a in tmap.anchors]
    deleted = [d.node_id for d in tmap.deleted_nodes]
    ambiguous = [i for twin in tmap.ambiguous_steps for i in twin.from_step_ids]
    assert sorted(anchored + deleted + ambiguous) == sorted(step["id"] for step in old["steps"])
    targets = [a.to_step_id for a in tmap.anchors]
    assert len(set(targets)) == len(targets)
    new_ids = {step["id"] for step in new["steps"]}
    assert set(targets) <= new_ids


@FAST
@given(documents())
def test_a_scenario_diffed_with_itself_is_all_clean_grafts(document: dict[str, Any]) -> None:
    sessions = {step["id"]: 1 for step in document["steps"]}
    result = plan(document, document, sessions)
    tmap = result.transformation_map
    assert {a.migration_scenario for a in tmap.anchors} <= {MigrationScenario.CLEAN_GRAFT}
    assert all(a.from_step_id == a.to_step_id for a in tmap.anchors)  # never a twin
    assert all(not a.upstream_changes.model_dump(exclude_defaults=True) for a in tmap.anchors)
    assert all(not a.downstream_changes.model_dump(exclude_defaults=True) for a in tmap.anchors)
    assert tmap.deleted_nodes == [] and tmap.changed_forks == []
    assert result.summary.fields_to_collect == [] and result.summary.nodes_deleted == 0
    # only what is wrong with the scenario itself: twins position cannot tell apart, or a
    # condition on a field no step collects
    assert {w.severity for w in result.summary.warnings} <= {Severity.CRITICAL}
    assert_accounts_for_every_step(result, document, document)


def renamed_alike(old: dict[str, Any], new: dict[str, Any], rnd: random.Random) -> tuple[dict, dict]:
    """Both versions with every step id changed the same way (an id of both stays one id)."""
    ids = sorted({step["id"] for step in [*old["steps"], *new["steps"]]})
    names = {step_id: f"r{rnd.randrange(10**6)}.{i}" for i, step_id in enumerate(ids)}
    return renamed(old, rnd, names), renamed(new, rnd, names)


@FAST
@given(version_pairs(), st.randoms(use_true_random=False))
def test_renaming_step_ids_changes_no_anchor(pair: tuple, rnd: random.Random) -> None:
    """Ids decide nothing but edited steps (same id and name, new content): renaming both
    versions alike changes no anchor; renaming one changes none when no step was edited."""
    old, new = pair
    expected = plan(old, new)
    assert anchors_by_key(plan(*renamed_alike(old, new, rnd))) == anchors_by_key(expected)
    if not expected.transformation_map.edited_steps:
        assert anchors_by_key(plan(old, renamed(new, rnd))) == anchors_by_key(expected)
        assert anchors_by_key(plan(renamed(old, rnd), new)) == anchors_by_key(expected)
    same = plan(old, renamed(old, rnd))
    assert {a.migration_scenario for a in same.transformation_map.anchors} <= {MigrationScenario.CLEAN_GRAFT}
    assert same.transformation_map.deleted_nodes == []
    assert anchors_by_key(same) == anchors_by_key(plan(old, old))
    assert_accounts_for_every_step(expected, old, new)


@FAST
@given(documents(), documents(), st.randoms(use_true_random=False))
def test_renaming_holds_between_unrelated_scenarios_too(old: dict, new: dict, rnd: random.Random) -> None:
    expected = anchors_by_key(plan(old, new))
    assert anchors_by_key(plan(*renamed_alike(old, new, rnd))) == expected


@FAST
@given(documents(), st.randoms(use_true_random=False))
def test_a_step_edited_in_place_is_the_same_step(document: dict[str, Any], rnd: random.Random) -> None:
    """Every step's description changed (ids and names kept): every step is an edited anchor,
    nothing is inserted or deleted, and customers anywhere graft cleanly."""
    edited = json.loads(json.dumps(document))
    for step in edited["steps"]:
        step["description"] = f"reworded {rnd.randrange(100)}"
    result = plan(document, edited)
    tmap = result.transformation_map
    assert {a.from_step_id for a in tmap.anchors} == {step["id"] for step in document["steps"]}
    assert all(a.edited and a.from_step_id == a.to_step_id for a in tmap.anchors)
    assert tmap.deleted_nodes == [] and tmap.changed_forks == []
    assert {a.migration_scenario for a in tmap.anchors} <= {MigrationScenario.CLEAN_GRAFT}


@FAST
@given(version_pairs(), st.randoms(use_true_random=False))
def test_the_plan_is_stable_and_independent_of_step_order(pair: tuple, rnd: random.Random) -> None:
    old, new = pair
    sessions = {step["id"]: rnd.randrange(1, 9) for step in old["steps"] if rnd.random() < 0.5}
    expected = plan(old, new, sessions).model_dump_json()
    assert plan(old, new, sessions).model_dump_json() == expected
    assert plan(shuffled(old, rnd), shuffled(new, rnd), sessions).model_dump_json() == expected


@FAST
@given(documents(), documents(), st.randoms(use_true_random=False))
def test_unrelated_scenarios_plan_stably_whatever_the_step_order(
    old: dict, new: dict, rnd: random.Random
) -> None:
    result = plan(old, new)
    assert plan(shuffled(old, rnd), shuffled(new, rnd)).model_dump_json() == result.model_dump_json()
    assert_accounts_for_every_step(result, old, new)


@settings(max_examples=25, deadline=None)  # larger graphs: fewer of them keep the file fast
@given(documents(min_steps=30, max_steps=80), st.randoms(use_true_random=False))
def test_large_tangled_scenarios_terminate_and_account_for_every_step(
    document: dict, rnd: random.Random
) -> None:
    """Dense random exits (loops everywhere) on larger graphs; then the same with 10 steps cut."""
    for step in document["steps"]:
        for _ in range(rnd.randrange(3)):
            target = rnd.choice(document["steps"])["id"]
            step["transitions"].append({"to_step_id": target, "condition": "age < 18", "priority": 0})
    edited = json.loads(json.dumps(document))
    for _ in range(10):
        _delete(edited["steps"], edited["entry_step_id"], rnd)
    result = plan(document, edited, {step["id"]: 1 for step in document["steps"]})
    assert_accounts_for_every_step(result, document, edited)
    same = plan(document, document)
    assert {a.migration_scenario for a in same.transformation_map.anchors} <= {MigrationScenario.CLEAN_GRAFT}


TEXT = st.text(st.characters(codec="utf-8"), max_size=12)


STEP_IDENTITIES = st.fixed_dictionaries(
    {
        "name": TEXT.filter(bool),
        "description": st.none() | TEXT,
        "rule_ids": st.lists(TEXT, max_size=3),
        "collects_fields": st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True), max_size=3),
        "is_checkpoint": st.booleans(),
        "checkpoint_description": st.none() | TEXT,
        "performs_action": st.booleans(),
    }
)


@FAST
@given(STEP_IDENTITIES)
def test_content_hash_is_the_specified_sha256_for_any_text(attributes: dict[str, Any]) -> None:
    """SPEC 2.1's definition, on any text (quotes, escapes, non-ASCII, surrogate-free unicode)."""
    step = Step(id="s", **attributes)
    identity = {
        "name": attributes["name"],
        "description": attributes["description"] or "",
        "rule_ids": sorted(attributes["rule_ids"]),
        "collects_profile_fields": sorted(attributes["collects_fields"]),
        "is_checkpoint": attributes["is_checkpoint"],
        "checkpoint_description": attributes["checkpoint_description"] or "",
        "performs_action": attributes["performs_action"],
    }
    assert step.content_hash == hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


@FAST
@given(version_pairs())
def test_field_sets_expand_to_each_anchor_s_fields_and_stay_small(pair: tuple) -> None:
    """The map stores each distinct set of fields once, as a change from the set before it (or in
    full): expanding an anchor's set gives exactly the planner's fields for it, and the stored
    entries stay within twice the changes between consecutive sets plus one full listing."""
    old, new = pair
    limits = get_settings().limits
    diff = ScenarioDiff.build(
        ScenarioGraph(parse_scenario(old, limits)), ScenarioGraph(parse_scenario(new, limits))
    )
    tmap = diff.transformation_map()
    for (o, n), anchor in zip(diff.anchor_pairs, tmap.anchors, strict=True):
        assert tmap.fields_of(anchor.field_set) == diff.field_list(diff.field_bits(o, n))
    expanded = [set(tmap.fields_of(i)) for i in range(len(tmap.field_sets))]
    changes = sum(len(a ^ b) for a, b in zip([set(), *expanded], expanded, strict=False))
    stored = sum(len(f.added) + len(f.dropped) for f in tmap.field_sets)
    assert stored <= 2 * changes + max((len(e) for e in expanded), default=0)


@FAST
@given(version_pairs(), st.randoms(use_true_random=False))
def test_a_warning_names_an_anchor_and_the_step_it_is_about(pair: tuple, rnd: random.Random) -> None:
    """Issue 13: `anchor_name` is the name of an anchor of the map (or null), never that of a new
    or deleted step; `step_name` names a step of the new version, or a step the new version
    deleted (the step a deleted-step warning is about). Sessions on every old step, so that every
    kind of warning can appear."""
    old, new = pair
    sessions = {step["id"]: rnd.randrange(1, 4) for step in old["steps"]}
    result = plan(old, new, sessions)
    tmap = result.transformation_map
    anchors = {a.anchor_name for a in tmap.anchors}
    steps = {step["name"] for step in new["steps"]} | {d.node_name for d in tmap.deleted_nodes}
    for warning in result.summary.warnings:
        assert warning.anchor_name is None or warning.anchor_name in anchors, warning
        assert warning.step_name is None or warning.step_name in steps, warning

"""The cost rule for CEL conditions (issue 11): refused at plan time when evaluating them could cost
more than their length, i.e. when they loop (comprehension macros), bind, call a function outside
the allow-list, or nest brackets deeper than the parser handles sensibly."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_migration.config import get_settings
from scenario_migration.domain.conditions import (
    ALLOWED_CALLS,
    COMPREHENSIONS,
    MAX_NESTING,
    check_cost,
    compile_condition,
)
from scenario_migration.domain.scenario import Scenario, check_scenario
from tests.documents import MILLION_ELEMENTS as MILLION
from tests.documents import V2_FORK


def test_the_million_element_condition_is_refused() -> None:
    assert len(MILLION) < get_settings().limits.max_condition_length  # the length bound let it in
    assert "'map' is a comprehension" in check_cost(MILLION)


@pytest.mark.parametrize("macro", sorted(COMPREHENSIONS))
@pytest.mark.parametrize("form", ["[age].{m}(x, x > 1)", "[age] . {m} (x, x > 1)", "[age].{m}\n(x, x > 1)"])
def test_every_comprehension_is_refused(macro: str, form: str) -> None:
    assert f"'{macro}' is a comprehension" in check_cost(form.format(m=macro))


@pytest.mark.parametrize(
    "source",
    ["cel.bind(x, 'aa', x + x)", "name.lowerAscii() == 'a'", "math.greatest(age, 3) > 1", "now() > 1"],
)
def test_calls_outside_the_allow_list_are_refused(source: str) -> None:
    assert "is not an allowed function" in check_cost(source)


@pytest.mark.parametrize(
    "source",
    [
        "age < 18",
        "age >= 18 && country in ['FR', 'DE']",
        "email.endsWith('@example.com') || phone.startsWith('+33')",
        "size(name) > 2 && name.matches('^[A-Z]')",
        "has(x.y) ? int(age) > 3 : double(score) >= 0.5",
        "timestamp(dob).getFullYear() < 2008",
        "name == 'map(x, x)' || name == \"filter(\" || name == '''all(x, ''' || name == r'exists(\\'",
        "note == 'it\\'s map(a, a)' && note != b'filter(' && note != R\"all(\"",
        "map_count > 3 && filter == 'x'",  # fields named like macros, not called
    ],
)
def test_conditions_on_scalar_fields_are_allowed(source: str) -> None:
    assert check_cost(source) is None
    compile_condition(source)  # and they are CEL


def test_nesting_is_bounded() -> None:
    assert check_cost("(" * MAX_NESTING + "age" + ")" * MAX_NESTING) is None
    assert "nest more than" in check_cost("(" * (MAX_NESTING + 1) + "age" + ")" * (MAX_NESTING + 1))
    assert "nest more than" in check_cost("[" * 5000)
    assert check_cost("'" + "(" * 5000 + "'") is None  # in a string: text


def test_every_allowed_call_is_one_this_library_implements() -> None:
    """An allowed name that the library lacks would pass at plan time and fail at every run."""
    for name in ALLOWED_CALLS - {"has"}:
        program = compile_condition(f"x.{name}() == 1 || {name}(x) == 1")
        assert name in program._program.functions()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gets_an_answer(source: str) -> None:
    """Total: unterminated strings, stray quotes and brackets never raise (the compiler reports them)."""
    assert check_cost(source) is None or isinstance(check_cost(source), str)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="'\\\n"), max_size=200))
def test_anything_inside_a_string_literal_is_text(text: str) -> None:
    assert check_cost(f"name == '{text}'") is None


def test_a_refused_condition_is_a_problem_naming_its_step_and_transition() -> None:
    document = {**V2_FORK, "steps": [dict(s) for s in V2_FORK["steps"]]}
    fork = document["steps"][1]
    fork["transitions"] = [{**fork["transitions"][0], "condition": MILLION}, fork["transitions"][1]]
    problems = check_scenario(Scenario.model_validate(document), get_settings().limits)
    assert [p["location"] for p in problems] == ["steps[1] (id 'age_check').transitions[0].condition"]
    assert "comprehension" in problems[0]["message"]

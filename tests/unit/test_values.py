"""Numbers DynamoDB cannot hold are refused where they enter (a session report's variables, a
field value from a profile or an answer), never written to fail with a 500."""

import pytest
from pydantic import ValidationError

from scenario_migration.domain.extraction import parse_answer
from scenario_migration.domain.scenario import FieldSpec
from scenario_migration.domain.session import SessionReport
from scenario_migration.domain.values import storable_number, unstorable_paths

REPORT = {"scenario_id": "s", "scenario_version": 1, "current_step_id": "a", "channel": "web"}


@pytest.mark.parametrize(
    ("value", "storable"),
    [
        (0, True),
        (True, True),
        (10**37, True),
        (10**38, False),
        (1.5e125, True),
        (1e126, False),
        (1e-130, True),
        (1e-131, False),
        (0.0, True),
        (float("nan"), False),
        (float("inf"), False),
    ],
)
def test_storable_number(value: float, storable: bool) -> None:
    assert storable_number(value) is storable


def test_unstorable_paths_point_at_every_offender() -> None:
    assert unstorable_paths({"a": 1e300, "b": [1, {"c": 1e-200}], "d": "1e300"}) == [".a", ".b[1].c"]


def test_a_session_report_with_unstorable_variables_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"out of range .* at \.age"):
        SessionReport.model_validate({**REPORT, "variables": {"age": 10**40}})
    assert SessionReport.model_validate({**REPORT, "variables": {"age": 34.5}}).variables == {"age": 34.5}


def test_an_unstorable_field_value_is_not_a_value() -> None:
    """A number too small for DynamoDB parses as a float; it is refused as a value (integers
    are already capped at 12 digits by the parsers)."""
    number = FieldSpec(name="x", type="number")
    tiny = "0." + "0" * 200 + "1"
    assert float(tiny) != 0 and parse_answer(number, tiny) is None
    assert parse_answer(number, "0.5") == 0.5

"""Scenario documents (SPEC 2): the models, their validation and each step's content hash.

`parse_scenario` is the only way in: it reports every problem at once (pydantic's structural
errors, then the graph checks and CEL compilation) so an operator fixes a document in one go.
"""

import hashlib
import json
from collections import Counter
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationError,
)

from scenario_migration.config import LimitsConfig
from scenario_migration.domain.conditions import ConditionSyntaxError, check_cost, compile_condition
from scenario_migration.errors import ScenarioInvalid, problem, validation_problems

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # field names are CEL variables
# Version numbers are DynamoDB numbers and sort keys `V#%08d`: eight digits keep both exact and sorted.
MAX_VERSION = 99_999_999

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
# Numbers and booleans are strict (no `true` as 1, no "1" as 1, no 0 as false): what the JSON
# schema of the API says is what is accepted.
Version = Annotated[StrictInt, Field(ge=1, le=MAX_VERSION)]
FieldName = Annotated[str, StringConstraints(pattern=FIELD_NAME_PATTERN)]


class FieldType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    EMAIL = "email"
    PHONE = "phone"
    DATE = "date"
    ENUM = "enum"


class _Document(BaseModel):
    # Unknown keys (presentation, runtime hints) are kept so documents round-trip unchanged.
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class FieldSpec(_Document):
    name: FieldName
    type: FieldType = FieldType.STRING
    display_name: str | None = None
    question: str | None = None
    extraction_hints: list[str] = Field(default_factory=list)
    minimum: StrictFloat | None = None
    maximum: StrictFloat | None = None
    values: list[str] | None = None

    @property
    def label(self) -> str:
        return self.display_name or self.name.replace("_", " ")

    @property
    def prompt(self) -> str:
        return self.question or f"Before we continue, what is your {self.label}?"


class Transition(_Document):
    to_step_id: Identifier
    condition: str | None = None
    condition_text: str | None = None
    priority: StrictInt = 0

    @property
    def normalized_condition(self) -> str:
        """The condition with insignificant whitespace removed, for comparing versions."""
        return " ".join((self.condition or "").split())


class Step(_Document):
    id: Identifier
    name: Annotated[str, StringConstraints(min_length=1)]
    description: str | None = None
    collects_fields: list[FieldName] = Field(
        default_factory=list, validation_alias=AliasChoices("collects_fields", "collects_profile_fields")
    )
    is_checkpoint: StrictBool = False
    checkpoint_description: str | None = None
    performs_action: StrictBool = False
    rule_ids: list[str] = Field(default_factory=list)
    transitions: list[Transition] = Field(default_factory=list)

    @cached_property
    def content_hash(self) -> str:
        return content_hash(self)


class Scenario(_Document):
    id: Identifier | None = None
    name: Annotated[str, StringConstraints(min_length=1)]
    version: Version = 1
    entry_step_id: Identifier
    fields: list[FieldSpec] = Field(default_factory=list)
    steps: Annotated[list[Step], Field(min_length=1)]

    @cached_property
    def step_by_id(self) -> dict[str, Step]:
        return {step.id: step for step in self.steps}

    @cached_property
    def field_by_name(self) -> dict[str, FieldSpec]:
        return {spec.name: spec for spec in self.fields}

    def field(self, name: str) -> FieldSpec:
        """The catalogue entry, or the default (a string with the default question)."""
        return self.field_by_name.get(name) or FieldSpec(name=name)

    def __repr__(self) -> str:
        """Its identity and size: Powertools formats a route's arguments into a debug line on every
        call (evaluated even when debug is off), and a 10,000-step document's full repr took ~1 s."""
        return f"{type(self).__name__}(id={self.id!r}, version={self.version}, steps={len(self.steps)})"


class ProposedScenario(Scenario):
    """A new version proposed for a plan: without `entry_step_id` it keeps the active version's
    entry step (services/plans.py), as the quickstart's own example leaves it out."""

    entry_step_id: Identifier | None = None  # type: ignore[assignment]


def content_hash(step: Step) -> str:
    """SPEC 2.1: what makes two steps "the same step" across versions, whatever their ids."""
    return hashlib.sha256(_identity_json(step).encode()).hexdigest()[:16]


def _identity_json(step: Step) -> str:
    """Exactly `json.dumps(identity, sort_keys=True)` (default separators, ASCII escapes) of
    the identity keys, written out: planning hashes every step of both versions, and the
    generic encoder costs several times more. tests/unit/test_planner.py checks the two agree."""
    text = _JSON_STRING
    rules = ", ".join(map(text, sorted(str(rule) for rule in step.rule_ids)))
    fields = ", ".join(map(text, sorted(step.collects_fields)))
    return (
        f'{{"checkpoint_description": {text(step.checkpoint_description or "")}, '
        f'"collects_profile_fields": [{fields}], '
        f'"description": {text(step.description or "")}, '
        f'"is_checkpoint": {_JSON_BOOL[step.is_checkpoint]}, '
        f'"name": {text(step.name)}, '
        f'"performs_action": {_JSON_BOOL[step.performs_action]}, '
        f'"rule_ids": [{rules}]}}'
    )


_JSON_STRING = json.encoder.encode_basestring_ascii  # what json.dumps uses (ensure_ascii=True)
_JSON_BOOL = {True: "true", False: "false"}


def parse_scenario(document: Any, limits: LimitsConfig) -> Scenario:
    """Validate a scenario document; raise ScenarioInvalid listing every problem."""
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as exc:
        raise ScenarioInvalid(validation_problems(exc.errors())) from None
    problems = check_scenario(scenario, limits)
    if problems:
        raise ScenarioInvalid(problems)
    return scenario


def check_scenario(scenario: Scenario, limits: LimitsConfig) -> list[dict[str, str]]:
    """Graph-level and limit checks pydantic cannot express; empty when the scenario is valid."""
    return [
        *_check_sizes(scenario, limits),
        *_check_step_ids(scenario),
        *_check_fields(scenario),
        *_check_transitions(scenario, limits),
    ]


def _step_location(index: int, step: Step) -> str:
    return f"steps[{index}] (id '{step.id}')"


def _check_sizes(scenario: Scenario, limits: LimitsConfig) -> list[dict[str, str]]:
    problems = []
    if not scenario.steps:
        problems.append(problem("steps", "a scenario needs at least one step"))
    if len(scenario.steps) > limits.max_steps:
        problems.append(
            problem("steps", f"{len(scenario.steps)} steps exceed the limit of {limits.max_steps}")
        )
    if len(scenario.fields) > limits.max_fields:
        problems.append(
            problem("fields", f"{len(scenario.fields)} fields exceed the limit of {limits.max_fields}")
        )
    if len(scenario.name) > limits.max_string_length:
        problems.append(problem("name", f"longer than {limits.max_string_length} characters"))
    for index, step in enumerate(scenario.steps):
        for attr in ("name", "description", "checkpoint_description"):
            text = getattr(step, attr) or ""
            if len(text) > limits.max_string_length:
                problems.append(
                    problem(
                        f"{_step_location(index, step)}.{attr}",
                        f"longer than {limits.max_string_length} characters",
                    )
                )
    return problems


def _check_step_ids(scenario: Scenario) -> list[dict[str, str]]:
    counts = Counter(step.id for step in scenario.steps)
    problems = [
        problem("steps", f"step id '{step_id}' is used {count} times; step ids must be unique")
        for step_id, count in counts.items()
        if count > 1
    ]
    if scenario.entry_step_id not in counts:
        problems.append(
            problem("entry_step_id", f"entry step '{scenario.entry_step_id}' is not a step of this scenario")
        )
    return problems


def _check_fields(scenario: Scenario) -> list[dict[str, str]]:
    problems = []
    counts = Counter(spec.name for spec in scenario.fields)
    problems += [
        problem("fields", f"field '{name}' is declared {count} times")
        for name, count in counts.items()
        if count > 1
    ]
    for index, spec in enumerate(scenario.fields):
        if spec.type is FieldType.ENUM and not spec.values:
            problems.append(
                problem(f"fields[{index}].values", f"enum field '{spec.name}' needs a list of values")
            )
        if spec.minimum is not None and spec.maximum is not None and spec.minimum > spec.maximum:
            problems.append(problem(f"fields[{index}]", f"field '{spec.name}': minimum is above maximum"))
    return problems


def _check_transitions(scenario: Scenario, limits: LimitsConfig) -> list[dict[str, str]]:
    problems = []
    step_ids = scenario.step_by_id
    for index, step in enumerate(scenario.steps):
        where = _step_location(index, step)
        if len(step.transitions) > limits.max_transitions_per_step:
            problems.append(
                problem(f"{where}.transitions", f"more than {limits.max_transitions_per_step} transitions")
            )
        for t_index, transition in enumerate(step.transitions):
            t_where = f"{where}.transitions[{t_index}]"
            if transition.to_step_id not in step_ids:
                problems.append(
                    problem(f"{t_where}.to_step_id", f"target step '{transition.to_step_id}' does not exist")
                )
            problems += _check_condition(t_where, transition, limits)
    return problems


def _check_condition(where: str, transition: Transition, limits: LimitsConfig) -> list[dict[str, str]]:
    if transition.condition is None:
        return []
    if len(transition.condition) > limits.max_condition_length:
        return [problem(f"{where}.condition", f"longer than {limits.max_condition_length} characters")]
    too_costly = check_cost(transition.condition)  # before compiling: it also bounds the nesting
    if too_costly:
        return [problem(f"{where}.condition", f"CEL condition not allowed: {too_costly}")]
    try:
        compile_condition(transition.condition)
    except ConditionSyntaxError as exc:
        return [problem(f"{where}.condition", f"invalid CEL condition: {exc}")]
    return []

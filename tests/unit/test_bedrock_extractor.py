"""The Bedrock extractor (adapters/bedrock.py) with botocore's Stubber. Its configuration keys
(`gap_fill.extractor`, `gap_fill.bedrock_model_id`) flipped through the JIT handler: see
tests/integration/test_config_keys.py."""

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from scenario_migration.adapters import bedrock
from scenario_migration.adapters.bedrock import TOOL, BedrockExtractor
from scenario_migration.config import ConfigError, load_settings
from scenario_migration.domain.extraction import Extracted
from scenario_migration.domain.jit import decide
from scenario_migration.domain.scenario import FieldSpec
from tests.bedrock_stubs import MODEL, converse_answer, runtime_client
from tests.unit.test_jit_decision import GAP, situation
from tests.unit.test_jit_decision import V1 as V1_SCENARIO

AGE = FieldSpec.model_validate(
    {"name": "age", "type": "integer", "extraction_hints": ["age"], "minimum": 0, "maximum": 130}
)
EMAIL = FieldSpec.model_validate({"name": "email", "type": "email"})
PLAN = FieldSpec.model_validate({"name": "plan", "type": "enum", "values": ["gold", "silver"]})
TURNS = ["hello", "I am thirty-four, why?"]


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = runtime_client()
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


@pytest.fixture
def failures(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The problems the extractor logged (never the customer's data)."""
    logged: list[str] = []

    def warning(message: str, extra: dict[str, Any]) -> None:
        assert set(extra) == {"field", "model_id", "problem"}
        logged.append(extra["problem"])

    monkeypatch.setattr(bedrock.logger, "warning", warning)
    return logged


def test_a_good_answer(stubbed: tuple[Any, Stubber], failures: list[str]) -> None:
    client, stub = stubbed
    extractor = BedrockExtractor(MODEL, client)
    request = extractor.request(AGE, TURNS)
    stub.add_response("converse", converse_answer({"found": True, "value": 34, "confidence": 0.97}), request)
    assert extractor.extract(AGE, TURNS) == Extracted(34, 0.97)
    assert failures == []
    assert request["modelId"] == MODEL and request["toolConfig"]["toolChoice"] == {"tool": {"name": TOOL}}
    assert request["inferenceConfig"]["temperature"] == 0.0
    text = request["messages"][0]["content"][0]["text"]
    assert '"I am thirty-four, why?"' in text and '"maximum": 130' in text
    schema = request["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    assert schema["properties"]["value"]["type"] == "integer"


def test_a_json_text_answer_and_a_float_for_an_integer(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    stub.add_response("converse", converse_answer(text='{"found": true, "value": 34.0, "confidence": 1}'))
    assert BedrockExtractor(MODEL, client).extract(AGE, TURNS) == Extracted(34, 1.0)


def test_a_low_confidence_answer_is_not_used(stubbed: tuple[Any, Stubber], failures: list[str]) -> None:
    client, stub = stubbed
    stub.add_response("converse", converse_answer({"found": True, "value": 34, "confidence": 0.5}))
    extractor = BedrockExtractor(MODEL, client)
    assert extractor.extract(AGE, TURNS) == Extracted(34, 0.5)
    stub.add_response("converse", converse_answer({"found": True, "value": 34, "confidence": 0.5}))
    decision = decide(situation(V1_SCENARIO, GAP, "checkout", conversation=TURNS), extractor)
    assert decision.outcome == "needs_input" and decision.questions[0].field == "age"  # below 0.85
    assert failures == []


def test_not_found(stubbed: tuple[Any, Stubber], failures: list[str]) -> None:
    client, stub = stubbed
    stub.add_response("converse", converse_answer({"found": False, "confidence": 0.9}))
    assert BedrockExtractor(MODEL, client).extract(AGE, TURNS) is None
    assert failures == []


@pytest.mark.parametrize(
    ("spec", "answer", "problem"),
    [
        (AGE, {"found": True, "value": "thirty-four", "confidence": 0.99}, "not a valid integer"),
        (AGE, {"found": True, "value": 340, "confidence": 0.99}, "not a valid integer"),  # above maximum
        (AGE, {"found": True, "value": 34.5, "confidence": 0.99}, "not a valid integer"),
        (AGE, {"found": True, "value": {"age": 34}, "confidence": 0.99}, "not a valid integer"),
        (AGE, {"found": True, "value": 34, "confidence": 7}, "outside [0, 1]"),
        (AGE, {"found": True, "value": 34, "confidence": "high"}, "not a number"),
        (AGE, {"found": True, "value": 34, "confidence": True}, "not a number"),
        (PLAN, {"found": True, "value": "platinum", "confidence": 0.99}, "not a valid enum"),
        (EMAIL, {"found": True, "value": "not an email", "confidence": 0.99}, "not a valid email"),
        (EMAIL, {"found": True, "value": "boss@evil.example", "confidence": 0.99}, "not appear"),
    ],
)
def test_an_invalid_value_is_rejected(
    stubbed: tuple[Any, Stubber], failures: list[str], spec: FieldSpec, answer: dict, problem: str
) -> None:
    client, stub = stubbed
    stub.add_response("converse", converse_answer(answer))
    assert BedrockExtractor(MODEL, client).extract(spec, TURNS) is None
    assert len(failures) == 1 and problem in failures[0]


def test_a_grounded_email_is_kept(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    stub.add_response(
        "converse", converse_answer({"found": True, "value": "Ann@Example.com", "confidence": 1})
    )
    found = BedrockExtractor(MODEL, client).extract(EMAIL, ["write to ann@example.com please"])
    assert found == Extracted("ann@example.com", 1.0)


def test_prose_instead_of_json_is_not_found(stubbed: tuple[Any, Stubber], failures: list[str]) -> None:
    client, stub = stubbed
    stub.add_response("converse", converse_answer(text="The customer is 34 years old."))
    assert BedrockExtractor(MODEL, client).extract(AGE, TURNS) is None
    assert failures == ["no tool answer (malformed output)"]


def test_throttling_falls_back_and_pauses(stubbed: tuple[Any, Stubber], failures: list[str]) -> None:
    client, stub = stubbed
    stub.add_client_error("converse", "ThrottlingException", "Too many requests", http_status_code=429)
    extractor = BedrockExtractor(MODEL, client)
    assert extractor.extract(AGE, TURNS) is None
    assert extractor.extract(AGE, TURNS) is None  # no second call while paused (no stub is left)
    assert failures == ["ThrottlingException", "paused after a throttle or timeout"]


def test_access_denied_falls_back_without_pausing(stubbed: tuple[Any, Stubber], failures: list[str]) -> None:
    client, stub = stubbed
    stub.add_client_error("converse", "AccessDeniedException", "no", http_status_code=403)
    stub.add_response("converse", converse_answer({"found": True, "value": 34, "confidence": 0.97}))
    extractor = BedrockExtractor(MODEL, client)
    assert extractor.extract(AGE, TURNS) is None
    assert extractor.extract(AGE, TURNS) == Extracted(34, 0.97)
    assert failures == ["AccessDeniedException"]


def test_a_timeout_falls_back(failures: list[str]) -> None:
    client = runtime_client(retries={"total_max_attempts": 1})

    def time_out(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

    client.meta.events.register("before-send.bedrock-runtime.Converse", time_out)
    assert BedrockExtractor(MODEL, client).extract(AGE, TURNS) is None
    assert failures == ["ReadTimeoutError"]


def test_no_turns_no_call(stubbed: tuple[Any, Stubber], failures: list[str]) -> None:
    """A call would meet no stubbed response: the extractor would log it as a failure."""
    client, _ = stubbed
    assert BedrockExtractor(MODEL, client).extract(AGE, ["", "   "]) is None
    assert failures == []


def test_only_the_newest_turns_that_fit_are_sent() -> None:
    turns = ["old " * 3000, *(f"turn {i} " + "x" * 1500 for i in range(10))]
    sent = bedrock.recent(turns)
    assert sent[-1].startswith("turn 9") and sum(map(len, sent)) <= bedrock.MAX_PROMPT_CHARS
    assert all(len(t) <= bedrock.MAX_TURN_CHARS for t in sent) and not sent[0].startswith("old")


def test_the_container_client_has_bounded_retries_and_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bedrock.bedrock_client.cache_clear()
    try:
        client = bedrock.bedrock_client()
        assert client is bedrock.bedrock_client()  # once per container
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
        assert (client.meta.config.read_timeout, client.meta.config.connect_timeout) == (4, 1)
    finally:
        bedrock.bedrock_client.cache_clear()


# -- configuration ---------------------------------------------------------------------------------


def test_invalid_extractor_settings_are_rejected() -> None:
    gap = load_settings().gap_fill.model_dump()
    with pytest.raises(ConfigError, match=r"gap_fill\.extractor: Input should be 'rules' or 'bedrock'"):
        load_settings(gap_fill={**gap, "extractor": "gpt"})
    with pytest.raises(ConfigError, match="bedrock_model_id must name a model"):
        load_settings(gap_fill={**gap, "extractor": "bedrock", "bedrock_model_id": ""})
    with pytest.raises(ConfigError, match=r"gap_fill\.bedrock_model_id"):
        load_settings(gap_fill={**gap, "bedrock_model_id": "claude; rm -rf"})
    assert load_settings(gap_fill={**gap, "extractor": "rules", "bedrock_model_id": ""})


def test_the_default_is_the_rule_extractor() -> None:
    settings = load_settings()
    assert (settings.gap_fill.extractor, settings.gap_fill.bedrock_model_id) == ("rules", MODEL)

"""The sample events in events/ (one per function, as `sam local generate-event` would give) run
through the real handlers: none is stale, none makes a function fail."""

import json
from pathlib import Path
from typing import Any

import pytest

from local_run.functions import FunctionError, Functions
from local_run.template import load_template

EVENTS = Path(__file__).resolve().parents[2] / "events"
TEMPLATE = load_template()


def function_of(event_file: Path) -> str:
    function = TEMPLATE.function_of_event(event_file)
    assert function, f"{event_file.name} names no function's package"
    return function


def invoke(function: str, event: dict[str, Any]) -> Any:
    return Functions(TEMPLATE).invoke(function, event)


def sample(name: str, tenant: str) -> dict[str, Any]:
    """A sample event, sent as `tenant` (a fresh one per test: no test sees another's data)."""
    event = json.loads((EVENTS / f"{name}.json").read_text())
    if "headers" in event:
        event["headers"]["X-Tenant-ID"] = tenant
    return event


# Each HTTP sample's exact answer. PLAN_ID is a placeholder, so those find no plan; the session
# report is sent after the sample scenario is registered, as the quickstart does.
HTTP_STATUS = {
    "approval_approve": 404,
    "console_config": 200,
    "deploy_deploy": 404,
    "planning_create_scenario": 201,
    "planning_get_summary": 404,
    "sessions_put": 200,
}
BEFORE = {"sessions_put": ["planning_create_scenario"]}


def test_every_function_has_a_sample_event() -> None:
    covered = {function_of(path) for path in EVENTS.glob("*.json")}
    assert covered == set(TEMPLATE.functions)


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.stem)
def test_the_sample_event_runs_through_its_handler(path: Path, tenant: str) -> None:
    function = function_of(path)
    for name in BEFORE.get(path.stem, []):
        invoke(function_of(EVENTS / f"{name}.json"), sample(name, tenant))
    event = sample(path.stem, tenant)
    if function == "AuthorizerFunction":  # SAM's sample token is no bearer token: a 401
        with pytest.raises(FunctionError, match=r"^Unauthorized$"):
            invoke(function, event)
        return
    result = invoke(function, event)
    if "httpMethod" in event:
        body = json.loads(result["body"])
        assert result["statusCode"] == HTTP_STATUS[path.stem], body
        assert result["statusCode"] < 400 or set(body["error"]) == {"code", "message", "details"}
    elif function == "DeployWorkerFunction":
        assert result == {"batchItemFailures": []}  # a message for an unknown plan is dropped, not retried
    elif function == "JitApplyFunction":
        assert result["outcome"] == "none"  # the sample session was never reported
    else:
        assert set(result) >= {"plans_expired", "plans_deleted", "versions_deleted"}

"""template.yaml grants each function what its code asks of AWS, and API functions reach DynamoDB
only as their caller's tenant.

The walk (tests/auth/flows.py) plays every function's paths with a fresh container each (the
services' caches emptied), in jwt mode, with `TENANT_ROLE_ARN` set as in the stack (STS is
moto's). Every DynamoDB and SQS request is recorded as the IAM actions AWS would authorize
(tests/auth/aws_calls.py) and must be allowed by the statements of the role that signs it: an API
function's tenant role, whose keys must also start with `T#<that tenant>#` (what
`dynamodb:LeadingKeys` lets through), or another function's own role. A request this test finds
ungranted would be an AccessDenied in AWS.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatchcase

import pytest

from local_run.template import load_template
from scenario_migration.store import dynamodb
from tests.auth.aws_calls import Recorder, Request, allows, recording, statements
from tests.auth.flows import Caller, context, walk

TEMPLATE = load_template()
API_FUNCTIONS = {"PlanningFunction", "ApprovalFunction", "SessionsFunction", "DeployFunction"}
ROLE_ARN = "arn:aws:iam::123456789012:role/tenant-items"  # moto's account
EVENT_SOURCE_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}


def tenant_role(function: str) -> str:
    return TEMPLATE.raw["Resources"][function]["Properties"]["Environment"]["Variables"]["TENANT_ROLE_ARN"][
        "Fn::GetAtt"
    ][0]


def fresh_containers() -> None:
    """What a new Lambda container would not have: the services' in-process caches."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("scenario_migration.services"):
            continue
        for value in vars(module).values():
            if hasattr(value, "cache_clear") and callable(value.cache_clear):
                value.cache_clear()
            elif isinstance(value, dict) and value and all(isinstance(k, tuple) for k in value):
                value.clear()


@contextmanager
def stack_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AUTH_MODE", "jwt")
    monkeypatch.setenv("TENANT_ROLE_ARN", ROLE_ARN)
    dynamodb.client.cache_clear()
    try:
        yield
    finally:
        monkeypatch.delenv("TENANT_ROLE_ARN")
        dynamodb.client.cache_clear()


class FreshRecorder(Recorder):
    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        fresh_containers()
        with super().running(function):
            yield


def refusal(request: Request) -> str | None:
    """Why AWS would refuse `request` (None: it would be allowed)."""
    if request.function in API_FUNCTIONS and request.resource[0].endswith("Table"):
        if request.tenant is None:
            return "an API function's DynamoDB request outside a tenant (its own role has no DynamoDB)"
        role = tenant_role(request.function)
        prefix = f"T#{request.tenant}#*"
        if not request.leading_keys or not all(fnmatchcase(k, prefix) for k in request.leading_keys):
            return f"keys {request.leading_keys} outside {prefix}"
    else:
        role = request.function
    granted = [*statements(TEMPLATE, role), *extra_statements(role)]
    if not any(allows(s, request.action, request.resource) for s in granted):
        return f"{role} is not granted {request.action} on {request.resource}"
    return None


def extra_statements(role: str) -> list[dict]:
    """Statements of AWS::IAM::Policy resources attached to a function's role."""
    found = []
    for resource in TEMPLATE.resources_of("AWS::IAM::Policy").values():
        if {"Ref": f"{role}Role"} in resource["Properties"]["Roles"]:
            found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def test_every_request_of_every_function_is_granted_and_api_requests_stay_in_their_tenant(
    local_aws: dict[str, str], tenant: str, dynamodb_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if dynamodb_backend != "moto":
        pytest.skip("DynamoDB Local keeps one database per access key: assumed credentials would see none")
    recorder = FreshRecorder(TEMPLATE, local_aws)
    operator = Caller(tenant, context(tenant, "operator,viewer", "ana@example.com"), recorder=recorder)
    approver = Caller(tenant, context(tenant, "approver,viewer", "bob@example.com"), recorder=recorder)
    runtime = Caller(tenant, context(tenant, "runtime", "runtime-client"), recorder=recorder)
    with stack_environment(monkeypatch), recording(recorder):
        walk(operator, approver, runtime, local_aws["MarkingQueue"], recorder)
    requests = [r for r in recorder.requests if r.action not in EVENT_SOURCE_ACTIONS]
    assert {r.function for r in requests} >= API_FUNCTIONS | {"DeployWorkerFunction", "JitApplyFunction"}
    refused = sorted(
        {f"{r.function}: {why} ({r.action} {r.resource})" for r in requests if (why := refusal(r))}
    )
    assert refused == [], "\n".join(refused)


def test_the_check_refuses_what_aws_would() -> None:
    """The judge itself: another tenant's key, an ungranted action, a request outside a tenant."""
    table = ("PlansTable", None)
    assert refusal(Request("ApprovalFunction", "dynamodb:GetItem", table, ("T#acme#P#1",), "acme")) is None
    assert "outside" in refusal(
        Request("ApprovalFunction", "dynamodb:GetItem", table, ("T#globex#P#1",), "acme")
    )
    assert "outside" in refusal(
        Request("ApprovalFunction", "dynamodb:GetItem", table, ("T#acme2#P#1",), "acme")
    )
    assert "outside" in refusal(Request("PlanningFunction", "dynamodb:Scan", table, (), "acme"))
    assert "not granted" in refusal(
        Request("ApprovalFunction", "dynamodb:DeleteItem", table, ("T#acme#P#1",), "acme")
    )
    assert "outside a tenant" in refusal(
        Request("SessionsFunction", "dynamodb:GetItem", table, ("T#a#x",), None)
    )
    assert "not granted" in refusal(Request("JitApplyFunction", "dynamodb:Scan", table, (), None))

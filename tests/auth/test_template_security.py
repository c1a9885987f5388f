"""template.yaml's safe defaults, read as CloudFormation reads it (tags and all): no wildcard
grant, an authorizer in front of every route, logs kept for a bounded time, data protected."""

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

import pytest

from local_run.template import load_template
from scenario_migration.store import keys
from tests.auth.aws_calls import statements

TEMPLATE = load_template()
RESOURCES = TEMPLATE.raw["Resources"]
LEADING_KEYS = "T#${aws:PrincipalTag/tenant}#*"
CONSOLE = "ConsoleFunction"
TENANT_ROLES = [
    "PlanningTenantRole",
    "ApprovalTenantRole",
    "SessionsTenantRole",
    "DeployTenantRole",
]


def every_statement(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement anywhere in the template (function policies, roles, policies)."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from every_statement(value)
    elif isinstance(node, list):
        for value in node:
            yield from every_statement(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_statement_grants_a_wildcard_action_or_resource() -> None:
    found = list(every_statement(RESOURCES))
    assert len(found) > 20
    for statement in found:
        assert "NotAction" not in statement and "NotResource" not in statement, statement
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement
        for resource in as_list(statement.get("Resource", [])):
            assert not (isinstance(resource, str) and "*" in resource), statement
        assert statement.get("Principal") != "*" and statement.get("Principal") != {"AWS": "*"}, statement


def test_no_function_uses_a_sam_policy_template() -> None:
    """Policy templates (DynamoDBCrudPolicy ...) grant every action on a table and its indexes."""
    for name, function in TEMPLATE.resources_of("AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            assert isinstance(policy, dict) and set(policy) <= {"Statement", "Fn::If"}, (name, policy)


def test_the_wildcard_check_would_fail_on_one() -> None:
    bad = {"Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}
    statement = next(every_statement(bad))
    assert any("*" in a for a in as_list(statement["Action"]))


def test_every_api_route_is_behind_the_jwt_authorizer() -> None:
    auth = RESOURCES["MigrationApi"]["Properties"]["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert authorizer["FunctionPayloadType"] == "TOKEN"
    assert authorizer["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert authorizer["Identity"]["ReauthorizeEvery"] == {"Ref": "AuthCacheTtl"}
    for name, function in TEMPLATE.resources_of("AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "Api" and name != CONSOLE:
                assert "Auth" not in event["Properties"], name  # no route opts out of the default


def test_only_the_consoles_page_is_public_and_it_reaches_nothing() -> None:
    """A browser loads the console before it can sign in, so its routes run no authorizer: they
    are GETs of one function that holds no data and is granted nothing (the page calls /api/v1
    with the operator's token)."""
    public = [route for route in TEMPLATE.routes if route.public]
    assert {(r.method, r.path, r.function) for r in public} == {
        ("GET", "/console", CONSOLE),
        ("GET", "/console/{asset}", CONSOLE),
    }
    assert all(not r.public for r in TEMPLATE.routes if r.path.startswith("/api/"))
    console = RESOURCES[CONSOLE]["Properties"]
    assert "Policies" not in console and "Role" not in console
    assert "TENANT_ROLE_ARN" not in console["Environment"]["Variables"]
    assert not [s for s in every_statement(RESOURCES) if CONSOLE in str(s)]


def test_the_rest_functions_run_in_jwt_mode() -> None:
    assert TEMPLATE.raw["Globals"]["Function"]["Environment"]["Variables"]["AUTH_MODE"] == "jwt"


def test_only_the_runtime_role_is_granted_the_jit_alias() -> None:
    permission = RESOURCES["JitApplyRuntimeInvoke"]
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Ref": "JitApplyFunction.Alias"},
        "Principal": {"Ref": "RuntimeRoleArn"},
    }


def test_every_function_has_a_log_group_with_retention_and_the_api_logs_access() -> None:
    groups = TEMPLATE.resources_of("AWS::Logs::LogGroup")
    for name in TEMPLATE.functions:
        group = groups[f"{name}Logs"]["Properties"]
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{name}}}"}
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    api = RESOURCES["MigrationApi"]["Properties"]
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert groups["ApiAccessLogs"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    (settings,) = api["MethodSettings"]
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert settings["DataTraceEnabled"] is False


def test_tables_are_protected_and_queues_encrypted() -> None:
    for name, table in TEMPLATE.resources_of("AWS::DynamoDB::Table").items():
        props = table["Properties"]
        assert props["DeletionProtectionEnabled"] is True, name
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert props["SSESpecification"] == {"SSEEnabled": True}, name
    for name, queue in TEMPLATE.resources_of("AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name


@pytest.mark.parametrize("role", TENANT_ROLES)
def test_a_tenant_role_reaches_only_its_tenants_keys(role: str) -> None:
    granted = statements(TEMPLATE, role)
    assert granted
    for statement in granted:
        assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [LEADING_KEYS]}}
        # A Scan carries no partition key, and ForAllValues over no value holds: never grant it.
        assert not {"dynamodb:Scan", "dynamodb:PartiQLSelect"} & set(as_list(statement["Action"]))
    trust = RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    function = role.replace("TenantRole", "Function")
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::GetAtt": [f"{function}Role", "Arn"]}},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringLike": {"aws:RequestTag/tenant": "?*"},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["tenant"]},
            },
        }
    ]


def tenant_policy_allows(tenant: str, key: str) -> bool:
    """`dynamodb:LeadingKeys` with StringLike, as IAM evaluates it once the tag is substituted."""
    return fnmatchcase(key, LEADING_KEYS.replace("${aws:PrincipalTag/tenant}", tenant))


@pytest.mark.parametrize(
    "partition_key",
    [
        lambda t: keys.scenario_pk(t, "order-flow"),  # ScenariosTable pk
        lambda t: keys.plan_pk(t, "p-1"),  # PlansTable pk
        keys.tenant_plans_pk,  # PlansTable GSI by_tenant: gsi1pk
        lambda t: keys.session_pk(t, "+44 7700 900123"),  # SessionsTable pk
        lambda t: keys.position_pk(t, "order-flow", 3, 7),  # SessionsTable GSI by_position: position_pk
    ],
)
def test_every_tenant_key_format_is_inside_its_tenant_and_outside_every_other(partition_key: Any) -> None:
    for tenant in ("acme", "a", "acme.eu:1-x", "x" * 128):
        assert tenant_policy_allows(tenant, partition_key(tenant))
        for other in ("acme2", "acm", "globex", "ACME", tenant + "x", tenant[:-1] or "z"):
            if other != tenant:
                assert not tenant_policy_allows(other, partition_key(tenant)), (other, tenant)


def test_the_retention_cursor_is_no_tenants_and_retention_is_no_api_function() -> None:
    from scenario_migration.store.plans import RETENTION_CURSOR_KEY  # noqa: PLC0415

    assert not any(tenant_policy_allows(t, RETENTION_CURSOR_KEY["pk"]) for t in ("acme", "RETENTION", ""))
    assert "TENANT_ROLE_ARN" not in str(RESOURCES["RetentionFunction"]["Properties"].get("Environment"))

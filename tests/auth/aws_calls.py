"""What each function asks of AWS, recorded below boto3, and judged against template.yaml's IAM.

Moto and DynamoDB Local do not enforce IAM, so the tests do: every DynamoDB and SQS request made
while a function runs is recorded as the IAM actions and resources AWS would authorize (a
transaction as its items' PutItem/UpdateItem/DeleteItem/ConditionCheckItem, a Query on an index as
`<table>/index/<name>`), with the partition key values that `dynamodb:LeadingKeys` would see.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient

from local_run.template import Template
from scenario_migration import identity

TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
SQS_ACTIONS = {"SendMessage": "sqs:SendMessage", "SendMessageBatch": "sqs:SendMessage"}


@dataclass(frozen=True)
class Request:
    function: str
    action: str  # dynamodb:GetItem, sqs:SendMessage ...
    resource: tuple[str, str | None]  # (logical id of the table or queue, index name or None)
    leading_keys: tuple[str, ...]  # partition key values (DynamoDB), () when none (a Scan)
    tenant: str | None  # the identity bound when it was made (API routes)


@dataclass
class Recorder:
    template: Template
    names: dict[str, str]  # logical id -> table name / queue URL
    requests: list[Request] = field(default_factory=list)
    function: str | None = None

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        previous, self.function = self.function, function
        try:
            yield
        finally:
            self.function = previous

    def record(self, service: str, operation: str, params: dict[str, Any]) -> None:
        if self.function is None or service not in ("dynamodb", "sqs"):
            return
        tenant = identity.current_tenant()
        for action, resource, keys in self._requests(service, operation, params):
            self.requests.append(Request(self.function, action, resource, keys, tenant))

    def _requests(self, service: str, operation: str, params: dict[str, Any]) -> Iterator[tuple]:
        if service == "sqs":
            queue = next(k for k, v in self.names.items() if v == params["QueueUrl"])
            yield SQS_ACTIONS.get(operation, f"sqs:{operation}"), (queue, None), ()
            return
        if operation in ("TransactWriteItems", "TransactGetItems"):
            for item in params["TransactItems"]:
                (kind, body), *_ = item.items()
                yield f"dynamodb:{TRANSACT_ACTIONS[kind]}", (body["TableName"], None), self._keys(body)
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            for table, body in params["RequestItems"].items():
                entries = body["Keys"] if operation == "BatchGetItem" else body
                keys = tuple(k for e in entries for k in self._keys({**_batch_entry(e), "TableName": table}))
                yield f"dynamodb:{operation}", (table, None), keys
        else:
            index = params.get("IndexName")
            yield f"dynamodb:{operation}", (params["TableName"], index), self._keys(params)

    def _keys(self, body: dict[str, Any]) -> tuple[str, ...]:
        item = body.get("Key") or body.get("Item")
        table = body.get("TableName")
        if item is not None:
            return (item[self.partition_key(table, None)]["S"],)
        if "KeyConditionExpression" in body:
            return (_query_partition_value(body, self.partition_key(table, body.get("IndexName"))),)
        return ()  # a Scan: no partition key for LeadingKeys to match

    def partition_key(self, table: str | None, index: str | None) -> str:
        props = self.template.raw["Resources"][table]["Properties"]
        schema = props["KeySchema"]
        if index:
            schema = next(i["KeySchema"] for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == index)
        return next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")


def _batch_entry(entry: dict[str, Any]) -> dict[str, Any]:
    if "PutRequest" in entry:
        return {"Item": entry["PutRequest"]["Item"]}
    if "DeleteRequest" in entry:
        return {"Key": entry["DeleteRequest"]["Key"]}
    return {"Key": entry}


def _query_partition_value(body: dict[str, Any], attribute: str) -> str:
    names = {v: k for k, v in (body.get("ExpressionAttributeNames") or {}).items()}
    for name, placeholder in re.findall(r"([#\w]+)\s*=\s*(:\w+)", body["KeyConditionExpression"]):
        if names.get(name, name) == attribute:
            return body["ExpressionAttributeValues"][placeholder]["S"]
    raise AssertionError(f"no equality on {attribute} in {body['KeyConditionExpression']}")


@contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Every boto3 client's requests, recorded while inside (tables are named by logical id)."""
    original = BaseClient._make_api_call

    def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        recorder.record(client.meta.service_model.service_name, operation, params)
        return original(client, operation, params)

    BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    try:
        yield recorder
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


# -- template.yaml's IAM, as the tests read it --------------------------------------------------------


def statements(template: Template, logical_id: str) -> list[dict[str, Any]]:
    """The inline statements of a function (SAM `Policies`) or an AWS::IAM::Role's policies."""
    resource = template.raw["Resources"][logical_id]
    props = resource["Properties"]
    if resource["Type"] == "AWS::Serverless::Function":
        found = []
        for entry in props.get("Policies", []):
            policy = entry["Fn::If"][1] if isinstance(entry, dict) and "Fn::If" in entry else entry
            if isinstance(policy, dict) and "Statement" in policy:
                found.extend(policy["Statement"])
        return found
    return [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def resource_of(value: Any) -> tuple[str, str | None] | None:
    """`!GetAtt Table.Arn` -> (Table, None); `!Sub "${Table.Arn}/index/name"` -> (Table, name)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0], None
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        found = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/([\w.-]+)", value["Fn::Sub"])
        if found:
            return found[1], found[2]
    return None


def allows(statement: dict[str, Any], action: str, resource: tuple[str, str | None]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return action in actions and resource in {resource_of(r) for r in resources}

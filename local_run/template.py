"""template.yaml as the local run and the tests need it: functions, their events, resources."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !GetAtt, ...) as their long-form mappings."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway form: /api/v1/migration-plans/{plan_id}
    function: str
    public: bool = False  # `Auth: {Authorizer: NONE}`: API Gateway runs no authorizer (the console's page)


@dataclass(frozen=True)
class QueueSource:
    function: str
    queue: str  # logical id
    batch_size: int
    reports_failures: bool


@dataclass
class Template:
    raw: dict[str, Any]
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> handler ("pkg.app.handler")
    routes: list[Route] = field(default_factory=list)
    queue_sources: list[QueueSource] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)  # functions with a Schedule event
    authorizer: "Authorizer | None" = None  # the REST API's default Lambda authorizer

    def resources_of(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v["Type"] == kind}

    def function_of_event(self, event_file: Path) -> str | None:
        """The function a sample event in events/ is for: the one whose handler package names the
        file or prefixes it (the longest wins: deploy_worker_sqs.json is deploy_worker's)."""
        packages = {handler.split(".")[0]: name for name, handler in self.functions.items()}
        stem = event_file.stem
        owner = max((p for p in packages if stem == p or stem.startswith(f"{p}_")), key=len, default=None)
        return packages[owner] if owner else None


@dataclass(frozen=True)
class Authorizer:
    function: str  # logical id
    header: str  # the identity source (API Gateway answers 401 itself when it is missing)
    validation: str | None  # API Gateway's ValidationExpression: a 401 before any invocation


def load_template(path: Path = TEMPLATE) -> Template:
    raw = yaml.load(path.read_text(), Loader=_CfnLoader)
    template = Template(raw)
    for logical_id, resource in template.resources_of("AWS::Serverless::Function").items():
        props = resource["Properties"]
        template.functions[logical_id] = props["Handler"]
        for event in props.get("Events", {}).values():
            _add_event(template, logical_id, props, event)
    template.authorizer = _default_authorizer(template)
    return template


def _default_authorizer(template: Template) -> Authorizer | None:
    """The default TOKEN authorizer of the (one) REST API, if it has one."""
    for api in template.resources_of("AWS::Serverless::Api").values():
        auth = api["Properties"].get("Auth") or {}
        name = auth.get("DefaultAuthorizer")
        if not name:
            continue
        settings = auth["Authorizers"][name]
        identity = settings.get("Identity") or {}
        function = settings["FunctionArn"]["Fn::GetAtt"][0]
        return Authorizer(
            function, identity.get("Header", "Authorization"), identity.get("ValidationExpression")
        )
    return None


def _add_event(template: Template, function: str, props: dict[str, Any], event: dict[str, Any]) -> None:
    kind, settings = event["Type"], event.get("Properties", {})
    if kind == "Api":
        public = (settings.get("Auth") or {}).get("Authorizer") == "NONE"
        template.routes.append(Route(settings["Method"].upper(), settings["Path"], function, public))
    elif kind == "SQS":
        template.queue_sources.append(
            QueueSource(
                function=function,
                queue=settings["Queue"]["Fn::GetAtt"][0],
                batch_size=int(settings.get("BatchSize", 10)),
                reports_failures="ReportBatchItemFailures" in (settings.get("FunctionResponseTypes") or []),
            )
        )
    elif kind in ("Schedule", "ScheduleV2"):
        template.schedules.append(function)


class KeptTableDiffers(Exception):
    """A table kept from an earlier run (LOCAL_STATE_DIR) has other keys than template.yaml's."""


def create_resources(template: Template, visibility_timeout: int | None = None) -> dict[str, str]:
    """Create the template's tables and queues in the AWS the environment points at; a table kept
    from an earlier run is used as it is when its keys are the template's.
    Returns logical id -> table name or queue URL (names are the logical ids)."""
    names: dict[str, str] = {}
    dynamodb = boto3.client("dynamodb")
    kept = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    for logical_id, resource in template.resources_of("AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        try:
            dynamodb.create_table(TableName=logical_id, **{k: props[k] for k in kept if k in props})
        except dynamodb.exceptions.ResourceInUseException:
            _check_kept_table(dynamodb.describe_table(TableName=logical_id)["Table"], props)
        names[logical_id] = logical_id
    queues = template.resources_of("AWS::SQS::Queue")
    for logical_id in sorted(queues, key=lambda k: "RedrivePolicy" in queues[k].get("Properties", {})):
        names[logical_id] = _create_queue(
            logical_id, queues[logical_id].get("Properties", {}), names, visibility_timeout
        )
    return names


def _keys(table: dict[str, Any]) -> dict[str | None, list[dict[str, str]]]:
    """A table's key schema and each global index's, by index name (None: the table's own)."""
    indexes = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes") or []}
    return {None: table["KeySchema"], **indexes}


def _check_kept_table(existing: dict[str, Any], props: dict[str, Any]) -> None:
    if _keys(existing) != _keys(props):
        raise KeptTableDiffers(
            f"table {existing['TableName']} kept in LOCAL_STATE_DIR has other keys or indexes than "
            "template.yaml's: remove that directory (or choose another) to start afresh"
        )


def _create_queue(name: str, props: dict[str, Any], names: dict[str, str], visibility: int | None) -> str:
    sqs = boto3.client("sqs")
    attributes = {"VisibilityTimeout": str(visibility or props.get("VisibilityTimeout", 30))}
    redrive = props.get("RedrivePolicy")
    if redrive:
        dlq_url = names[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(redrive["maxReceiveCount"])}
        attributes["RedrivePolicy"] = json.dumps(policy)
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def function_environment(template: Template, names: dict[str, str]) -> dict[str, str]:
    """Globals' environment variables with !Ref resolved (tables -> names, queues -> URLs,
    parameters -> defaults). Every function shares them here, as they do in the template."""
    variables = (
        template.raw.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    parameters = template.raw.get("Parameters", {})
    resolved = {}
    for key, value in variables.items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        resolved[key] = str(value if ref is None else names.get(ref, parameters.get(ref, {}).get("Default")))
    return resolved

"""Integration fixtures: the real handlers against a local AWS whose tables and queues are the
ones declared in template.yaml. Tests isolate themselves by tenant, not by new tables."""

import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from tests.integration import harness

ROOT = Path(__file__).resolve().parents[2]


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !GetAtt, ...) as plain mappings."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)


def _create(template: dict[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    resources = template["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            props = resource["Properties"]
            kept = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
            dynamodb.create_table(TableName=logical_id, **{k: props[k] for k in kept if k in props})
            names[logical_id] = logical_id
    for logical_id in sorted(resources, key=lambda k: "RedrivePolicy" in resources[k].get("Properties", {})):
        if resources[logical_id]["Type"] == "AWS::SQS::Queue":
            attributes = {"VisibilityTimeout": "30"}
            redrive = resources[logical_id]["Properties"].get("RedrivePolicy")
            if redrive:
                target = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
                dlq = names[target.split(".")[0] if isinstance(target, str) else target[0]]
                dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
                    "QueueArn"
                ]
                policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(redrive["maxReceiveCount"])}
                attributes["RedrivePolicy"] = json.dumps(policy)
            names[logical_id] = sqs.create_queue(QueueName=logical_id, Attributes=attributes)["QueueUrl"]
    return names


class AtomicMotoServer(ThreadedMotoServer):
    """moto's server handles requests on parallel threads without locking its backends, so a
    conditional write is not atomic there; DynamoDB serialises writes to an item. One request at
    a time restores that guarantee (the clients stay concurrent)."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialised(environ: dict, start_response: Any) -> Any:
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, serialised, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture(scope="session")
def local_aws() -> Iterator[dict[str, str]]:
    """A moto server with the template's tables and queues; the handlers' environment set."""
    server = AtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = dict(os.environ)
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_NAMESPACE="ScenarioMigration",
        POWERTOOLS_SERVICE_NAME="scenario-migration",
    )
    template = load_template()
    names = _create(template)
    os.environ.update(
        SCENARIOS_TABLE=names["ScenariosTable"],
        PLANS_TABLE=names["PlansTable"],
        SESSIONS_TABLE=names["SessionsTable"],
        MARKING_QUEUE_URL=names["MarkingQueue"],
    )
    harness.load_routes(template)
    yield names
    server.stop()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def tenant(local_aws: dict[str, str]) -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api(tenant: str) -> harness.Api:
    return harness.Api(tenant)


@pytest.fixture
def queue_url(local_aws: dict[str, str]) -> Iterator[str]:
    url = local_aws["MarkingQueue"]
    sqs = boto3.client("sqs")  # empty it (PurgeQueue is limited to once a minute)
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    yield url

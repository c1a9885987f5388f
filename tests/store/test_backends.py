"""The backend under test is the one the store talks to (and only DynamoDB switches)."""

import os

import pytest
from botocore.exceptions import ClientError

from scenario_migration.store import dynamodb, keys, work_queue
from tests.store import backends


def test_the_store_talks_to_the_backend_under_test(dynamodb_backend: str, local_aws: dict[str, str]) -> None:
    store_endpoint = dynamodb.client().meta.endpoint_url
    moto_endpoint = os.environ["AWS_ENDPOINT_URL"]
    assert work_queue._sqs().meta.endpoint_url == moto_endpoint  # SQS is moto's on both backends
    if dynamodb_backend == backends.MOTO:
        assert store_endpoint == moto_endpoint
    else:
        assert store_endpoint == os.environ[backends.ENDPOINT_VARIABLE] != moto_endpoint
        # A request moto accepts and DynamoDB rejects: this is not moto behind another port.
        with pytest.raises(ClientError, match="non-primary key attributes"):
            dynamodb.client().query(
                TableName=local_aws["PlansTable"],
                KeyConditionExpression="pk = :pk",
                FilterExpression="sk = :sk",
                ExpressionAttributeValues={":pk": {"S": "T#x#P#y"}, ":sk": {"S": keys.PLAN_SK}},
            )
    tables = dynamodb.client().list_tables()["TableNames"]
    assert {"PlansTable", "ScenariosTable", "SessionsTable"} <= set(tables)

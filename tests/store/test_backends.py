"""The backend under test is the one the store talks to (and only DynamoDB switches)."""

import copy
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


def test_a_cancelled_transaction_leaves_every_item_as_it_was(
    dynamodb_backend: str, local_aws: dict[str, str], tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All or nothing, on both backends: the last of 100 conditions fails, and the items the
    transaction updated, created and deleted are as before. On moto (local_run.aws
    `roll_back_items_not_tables`) without copying the table, whose size must not matter."""
    from moto.dynamodb import models  # noqa: PLC0415

    table, copied = local_aws["SessionsTable"], []
    real = copy.deepcopy
    monkeypatch.setattr(
        copy, "deepcopy", lambda v, memo=None: copied.append(type(v).__name__) or real(v, memo)
    )
    client = dynamodb.client()
    keys_ = [{"pk": {"S": f"T#{tenant}#x{i}"}, "sk": {"S": "S"}} for i in range(100)]
    update = {
        "TableName": table,
        "UpdateExpression": "SET n = :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    client.transact_write_items(TransactItems=[{"Update": {**update, "Key": k}} for k in keys_[:98]])
    before = {str(k): client.get_item(TableName=table, Key=k).get("Item") for k in keys_}
    failing = [
        {"Update": {**update, "Key": k, "ExpressionAttributeValues": {":one": {"N": "2"}}}}
        for k in keys_[:97]
    ]
    failing.append({"Delete": {"TableName": table, "Key": keys_[97]}})
    failing.append({"Put": {"TableName": table, "Item": {**keys_[98], "n": {"N": "3"}}}})
    failing.append({"Update": {**update, "Key": keys_[99], "ConditionExpression": "attribute_exists(n)"}})
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=failing)
    assert {str(k): client.get_item(TableName=table, Key=k).get("Item") for k in keys_} == before
    assert models.Table.__name__ not in copied

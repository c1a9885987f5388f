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


def test_a_moto_transaction_copies_each_table_once_and_still_rolls_back(
    dynamodb_backend: str, local_aws: dict[str, str], tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """local_run.aws.copy_each_table_once: one rollback copy per table, and a cancelled
    transaction (the last of 100 conditions fails) still leaves every item as it was."""
    if dynamodb_backend != backends.MOTO:
        pytest.skip("a fix of moto's transaction, not a DynamoDB behaviour")
    from moto.dynamodb import models  # noqa: PLC0415

    table, copied = local_aws["SessionsTable"], []
    real = copy.deepcopy
    monkeypatch.setattr(
        copy, "deepcopy", lambda v, memo=None: copied.append(type(v).__name__) or real(v, memo)
    )
    keys_ = [{"pk": {"S": f"T#{tenant}#x{i}"}, "sk": {"S": "S"}} for i in range(100)]
    update = {
        "TableName": table,
        "UpdateExpression": "SET n = :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    dynamodb.client().transact_write_items(TransactItems=[{"Update": {**update, "Key": k}} for k in keys_])
    assert copied.count(models.Table.__name__) == 1
    failing = [{"Update": {**update, "Key": k}} for k in keys_[:99]]
    failing.append({"Update": {**update, "Key": keys_[99], "ConditionExpression": "attribute_not_exists(n)"}})
    failing[0]["Update"]["ExpressionAttributeValues"] = {":one": {"N": "2"}}
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.client().transact_write_items(TransactItems=failing)
    first = dynamodb.client().get_item(TableName=table, Key=keys_[0])["Item"]
    assert first["n"] == {"N": "1"}

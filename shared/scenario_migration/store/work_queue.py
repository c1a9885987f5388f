"""The marking work queue (SQS): the only code that sends messages."""

import json
import os
from functools import cache
from typing import Any

import boto3

from scenario_migration.store.dynamodb import RETRY_CONFIG

QUEUE_ENV = "MARKING_QUEUE_URL"
BATCH = 10  # SendMessageBatch's limit


@cache
def _sqs() -> Any:
    return boto3.client("sqs", config=RETRY_CONFIG)


def send(tenant: str, messages: list[dict[str, Any]], delay_seconds: int = 0) -> None:
    """Send every message of a tenant, in batches; entries SQS refuses are retried once, then it
    raises. The tenant is each message's MessageGroupId: on an SQS fair queue, a tenant with a
    backlog does not delay the others' messages (messages in one group stay unordered on a
    standard queue)."""
    url = os.environ[QUEUE_ENV]
    for start in range(0, len(messages), BATCH):
        entries = [
            {
                "Id": str(i),
                "MessageBody": json.dumps({**body, "tenant": tenant}, separators=(",", ":")),
                "MessageGroupId": tenant,
                **({"DelaySeconds": delay_seconds} if delay_seconds else {}),
            }
            for i, body in enumerate(messages[start : start + BATCH])
        ]
        for _attempt in range(2):
            failed = {
                f["Id"] for f in _sqs().send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
            }
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                break
        if entries:
            raise RuntimeError(f"SQS refused {len(entries)} message(s) twice")

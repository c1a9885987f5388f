"""SQS event sources: receive from the embedded queue, invoke the function with a real SQS event,
delete what succeeded. With ReportBatchItemFailures only the listed messages come back; without
it, an error returns the whole batch (as Lambda's event source mapping does)."""

import logging
import threading
from typing import Any

import boto3

from local_run.functions import FunctionError, Functions
from local_run.template import QueueSource

log = logging.getLogger("local_run")


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class Poller(threading.Thread):
    def __init__(
        self, source: QueueSource, queue_url: str, functions: Functions, stop: threading.Event
    ) -> None:
        super().__init__(name=f"poller-{source.function}", daemon=True)
        self.source, self.url, self.functions, self.stop_event = source, queue_url, functions, stop
        self.sqs = boto3.client("sqs")
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]
        self.arn = attributes["QueueArn"]

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:  # the local run keeps serving whatever one poll hit
                log.exception("poller for %s", self.source.function)
                self.stop_event.wait(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """One receive + invoke + delete round; returns how many messages it handled."""
        messages = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=min(self.source.batch_size, 10),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        failed = self._invoke(messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + 10])
            ]
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
        return len(messages)

    def _invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        event = sqs_event(messages, self.arn, self.sqs.meta.region_name)
        everything = {m["MessageId"] for m in messages}
        try:
            result = self.functions.invoke(self.source.function, event)
        except FunctionError as exc:
            log.warning("%s failed on a batch of %d: %s", self.source.function, len(messages), exc)
            return everything
        if not self.source.reports_failures:
            return set()
        return {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}

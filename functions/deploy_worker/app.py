"""Marking worker (SQS): each message is one bounded step of a deployment's fan-out.

Partial batch failures: a message that fails is reported in `batchItemFailures` and comes back
after the visibility timeout; after maxReceiveCount it lands in the dead-letter queue. Every step
is idempotent (see services/deployments.py), so redelivery never double-counts. A message for a
plan that no longer exists (retention deleted it) is dropped with a warning: retrying cannot help
and it is not poison worth an alarm.
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from scenario_migration.config import get_settings
from scenario_migration.errors import NotFound
from scenario_migration.observability import logger, metrics, record_fanout_lag
from scenario_migration.services import deployments

get_settings()  # at init: an invalid configuration fails the function at start, naming the key

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    message = json.loads(record.body)
    logger.append_keys(tenant_id=message.get("tenant"), plan_id=message.get("plan_id"))
    record_fanout_lag(record.raw_event.get("attributes", {}).get("SentTimestamp"))
    try:
        deployments.handle(message)
    except NotFound as exc:
        logger.warning("marking message dropped: its plan is gone", extra={"reason": exc.message})


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )

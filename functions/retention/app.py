"""Retention (EventBridge schedule): idempotent passes for as long as the function's time allows
(minus a margin to save where it stopped); reports what it did."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from scenario_migration.config import get_settings
from scenario_migration.observability import logger, metrics
from scenario_migration.services import retention

get_settings()  # at init: an invalid configuration fails the function at start, naming the key
MARGIN_SECONDS = 30.0  # a page of each table and the cursor's write fit in it


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    budget = context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
    report = retention.run(budget_seconds=max(budget, 1.0))
    metrics.add_metric(name="PlansExpired", unit=MetricUnit.Count, value=len(report.plans_expired))
    metrics.add_metric(name="PlansDeleted", unit=MetricUnit.Count, value=len(report.plans_deleted))
    metrics.add_metric(name="VersionsDeleted", unit=MetricUnit.Count, value=len(report.versions_deleted))
    metrics.add_metric(name="OrphanPartsDeleted", unit=MetricUnit.Count, value=report.orphan_parts_deleted)
    return vars(report)

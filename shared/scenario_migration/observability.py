"""Logging and metrics in one place: structured JSON logs, EMF metrics (Powertools).

Tracer is not created here: it costs ~250 ms of import, so only functions that want it opt in.
"""

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="scenario-migration")
metrics = Metrics(namespace="ScenarioMigration", service="scenario-migration")


def record_jit_outcome(result: dict[str, Any]) -> None:
    """EMF metrics of a JIT application (nothing for the fast path's `none`)."""
    outcome = result.get("outcome")
    if outcome == "migrated":
        scenario = result.get("migration_scenario") or "clean_graft"
        metrics.add_metric(name=f"MigrationsApplied_{scenario}", unit=MetricUnit.Count, value=1)
    elif outcome == "blocked":
        metrics.add_metric(name="CheckpointBlocks", unit=MetricUnit.Count, value=1)
    elif outcome == "needs_input":
        metrics.add_metric(
            name="QuestionsAsked", unit=MetricUnit.Count, value=len(result.get("questions") or [])
        )


def record_fanout_lag(sent_timestamp_ms: str | None) -> None:
    """Seconds between a marking message's send and its processing."""
    if sent_timestamp_ms:
        lag = max(time.time() - int(sent_timestamp_ms) / 1000, 0.0)
        metrics.add_metric(name="FanoutLagSeconds", unit=MetricUnit.Seconds, value=round(lag, 3))

"""Logging and metrics in one place: structured JSON logs, EMF metrics (Powertools).

Tracer is not created here: it costs ~250 ms of import, so only functions that want it opt in.
"""

import time

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from scenario_migration.domain.decision import Decision
from scenario_migration.domain.session import Outcome

logger = Logger(service="scenario-migration")
metrics = Metrics(namespace="ScenarioMigration", service="scenario-migration")


def record_jit_outcome(decision: Decision) -> None:
    """EMF metrics of a JIT application (nothing for the fast path's `none`)."""
    outcome = decision.outcome
    if outcome is Outcome.MIGRATED:
        scenario = decision.migration_scenario.value if decision.migration_scenario else "clean_graft"
        metrics.add_metric(name=f"MigrationsApplied_{scenario}", unit=MetricUnit.Count, value=1)
    elif outcome is Outcome.BLOCKED:
        metrics.add_metric(name="CheckpointBlocks", unit=MetricUnit.Count, value=1)
    elif outcome is Outcome.NEEDS_INPUT:
        metrics.add_metric(name="QuestionsAsked", unit=MetricUnit.Count, value=len(decision.questions))
    if decision.condition_failure is not None:
        metrics.add_metric(name="ConditionErrors", unit=MetricUnit.Count, value=1)


def record_fanout_lag(sent_timestamp_ms: str | None) -> None:
    """Seconds between a marking message's send and its processing."""
    if sent_timestamp_ms:
        lag = max(time.time() - int(sent_timestamp_ms) / 1000, 0.0)
        metrics.add_metric(name="FanoutLagSeconds", unit=MetricUnit.Seconds, value=round(lag, 3))


def record_canary_guard(scenario_id: str) -> None:
    """The canary guard refused a widening (template.yaml's CanaryGuardTripped alarm watches it).
    One metric without the scenario as a dimension: an alarm needs a fixed set of dimensions;
    the scenario is in the metric's properties and the log line."""
    metrics.add_metric(name="CanaryGuardTripped", unit=MetricUnit.Count, value=1)
    metrics.add_metadata(key="scenario_id", value=scenario_id)

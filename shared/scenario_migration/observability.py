"""Logging and metrics in one place: structured JSON logs, EMF metrics (Powertools).

Tracer is not created here: it costs ~250 ms of import, so only functions that want it opt in.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="scenario-migration")
metrics = Metrics(namespace="ScenarioMigration", service="scenario-migration")

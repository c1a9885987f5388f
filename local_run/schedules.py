"""Scheduled functions: a real-shaped EventBridge scheduled event, every N seconds locally."""

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from local_run.functions import FunctionError, Functions

log = logging.getLogger("local_run")


def scheduled_event(function: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{function}"],
        "detail": {},
    }


class Scheduler(threading.Thread):
    def __init__(self, functions: Functions, names: list[str], every: float, stop: threading.Event) -> None:
        super().__init__(name="scheduler", daemon=True)
        self.functions, self.names, self.every, self.stop_event = functions, names, every, stop

    def run(self) -> None:
        while not self.stop_event.wait(self.every):
            for name in self.names:
                try:
                    log.info("schedule %s: %s", name, self.functions.invoke(name, scheduled_event(name)))
                except FunctionError as exc:
                    log.error("scheduled %s failed: %s", name, exc)

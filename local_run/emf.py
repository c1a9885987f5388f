"""The functions' EMF metrics go to a file, not the console.

In Lambda, Powertools prints each invocation's metrics to stdout as an EMF document (one JSON
line whose root holds `_aws`) and CloudWatch turns those lines into metrics. Locally the same
lines would be thousands of JSON lines between the access log's. `route_metrics` puts a filter
in front of stdout: complete lines that are EMF documents go to the metrics file, everything else
(the functions' JSON logs, the local run's own output) to the console as before.
"""

import io
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

EMF_PREFIX = '{"_aws"'  # the EMF specification's root member, first in Powertools' output
CONSOLE = "-"


class MetricsFilter(io.TextIOBase):
    """A text stream that splits what it is given into lines (per thread: handlers print
    concurrently, each line in two writes) and sends each complete line to one of two streams."""

    def __init__(self, console: IO[str], metrics: IO[str]) -> None:
        self.console, self.metrics = console, metrics
        self._pending = threading.local()
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.console.isatty()

    def fileno(self) -> int:  # a child process given sys.stdout writes to the console, unfiltered
        return self.console.fileno()

    def write(self, text: str) -> int:
        pending = getattr(self._pending, "text", "") + text
        *lines, self._pending.text = pending.split("\n")
        for line in lines:
            target = self.metrics if line.startswith(EMF_PREFIX) else self.console
            with self._lock:
                target.write(line + "\n")
                target.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self.console.flush()
            self.metrics.flush()


def metrics_path(setting: str | None, state_dir: Path | None, port: int) -> Path | None:
    """LOCAL_METRICS_FILE if set (`-`: the console, None here); else beside the kept state; else a
    file of this port's run in the temporary directory, started afresh."""
    if setting == CONSOLE:
        return None
    if setting:
        return Path(setting)
    if state_dir is not None:
        return state_dir / "metrics.jsonl"
    return Path(tempfile.gettempdir()) / f"scenario-migration-{port}-metrics.jsonl"


def route_metrics(path: Path | None, *, append: bool) -> None:
    """Install the filter on sys.stdout (before the functions are imported: Powertools' Logger
    keeps the stream it finds at import)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = path.open("a" if append else "w", encoding="utf-8")  # open for the whole run
    sys.stdout = MetricsFilter(sys.stdout, metrics)

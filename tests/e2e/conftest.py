"""The local run (`python -m local_run`, what `make run` does) on a free port, one per test module,
and a small HTTP and Lambda Invoke client for it."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from local_run.aws import local_client
from local_run.dynamodb_local import free_port

ROOT = Path(__file__).resolve().parents[2]


class Local:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log  # what `make run` prints on the console (stdout and stderr)
        self.lam = local_client("lambda", self.base)
        self.last_headers: dict[str, str] = {}  # the headers of the last HTTP answer

    def http(self, method: str, path: str, body: Any = None, tenant: str | None = "acme") -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", **({"X-Tenant-ID": tenant} if tenant else {})}
        return self.raw(method, path, json.dumps(body).encode() if body is not None else None, headers)

    def raw(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
        """Any body with any headers; the status and the JSON answer."""
        request = urllib.request.Request(f"{self.base}{path}", method=method, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                self.last_headers = dict(response.headers)
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            self.last_headers = dict(exc.headers)
            return exc.code, json.loads(exc.read() or b"null")

    def invoke(self, function: str, payload: dict) -> dict:
        return json.loads(
            self.lam.invoke(FunctionName=function, Payload=json.dumps(payload))["Payload"].read()
        )

    def wait_deployed(self, plan_id: str, tenant: str = "acme", seconds: float = 300) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            _, status = self.http(
                "GET", f"/api/v1/migration-plans/{plan_id}/deployment-status", tenant=tenant
            )
            if status["status"] == "deployed":
                return status
            time.sleep(0.5)
        raise AssertionError(f"not deployed in {seconds}s: {status}")


@contextmanager
def running(log_dir: Path, port: int | None = None, **env: str) -> Iterator[Local]:
    """`python -m local_run` on `port` (a free one by default), with these LOCAL_* settings. Its
    output goes to a file (`Local.log`), not a pipe: an unread pipe fills up and blocks the
    server's logging."""
    port = port or free_port()
    env = {
        **os.environ,
        "LOCAL_PORT": str(port),
        "LOCAL_SCHEDULE_SECONDS": "3600",
        "LOCAL_METRICS_FILE": str(log_dir / "metrics.jsonl"),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    log = log_dir / "output.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_run"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 120
    while "Local run ready on" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the local run did not start:\n" + log.read_text())
        time.sleep(0.2)
    try:
        yield Local(port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    with running(tmp_path_factory.mktemp("local_run")) as started:
        yield started

"""What the scripts that talk to a running `make run` share: where it is (LOCAL_PORT, as the
local run reads it), and one clear line when nothing answers there."""

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from botocore.config import Config

from local_run.aws import local_client

PORT = os.environ.get("LOCAL_PORT") or "8000"
BASE = f"http://127.0.0.1:{PORT}"


def not_running(command: str, reason: object) -> str:
    reason = getattr(reason, "strerror", None) or reason  # "Connection refused", not "[Errno 111] ..."
    return (
        f"{command}: no local run answers on {BASE} ({reason}): start `make run` in another terminal "
        "first, with the same LOCAL_PORT"
    )


def require_local_run(command: str) -> None:
    """Exit with one line unless the local run answers (its /local/stats: no tenant, no data)."""
    try:
        with urllib.request.urlopen(f"{BASE}/local/stats", timeout=10) as response:
            json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        sys.exit(not_running(command, getattr(exc, "reason", exc)))


def lambda_client() -> Any:
    """boto3's Lambda client on the local run's Invoke endpoint, as the runtime invokes in AWS;
    no retries, so a failure shows as it happened."""
    return local_client("lambda", BASE, config=Config(read_timeout=120, retries={"total_max_attempts": 1}))

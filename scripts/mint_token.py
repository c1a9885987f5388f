"""`make token TENANT=acme ROLE=operator,viewer [SUB=...] [EMAIL=...]`: print a token signed with
the local run's key (.local/), for `LOCAL_AUTH=jwt make run` on LOCAL_PORT (default 8000)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from local_run import auth  # noqa: E402


def main() -> None:
    roles = [r for r in os.environ.get("ROLE", "viewer").replace(" ", ",").split(",") if r]
    sub = os.environ.get("SUB") or "local-user"
    settings = auth.local_settings(int(os.environ.get("LOCAL_PORT") or "8000"))
    key = auth.load_or_create(auth.key_file())
    print(
        key.token(
            settings,
            tenant=os.environ.get("TENANT") or "acme",
            roles=roles,
            sub=sub,
            email=os.environ.get("EMAIL") or None,
            lifetime=int(os.environ.get("LIFETIME") or "3600"),
        )
    )


if __name__ == "__main__":
    main()

"""`python -m local_run` (what `make run` does): serve the whole service on one port."""

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from local_run import auth, dynamodb_local, emf, ports
from local_run.aws import start_embedded_aws
from local_run.functions import Functions
from local_run.gateway import Gateway
from local_run.poller import Poller
from local_run.schedules import Scheduler
from local_run.template import (
    KeptTableDiffers,
    Template,
    create_resources,
    function_environment,
    load_template,
)


def main() -> None:
    args = _arguments()
    try:  # first of all: a busy port is one line, before DynamoDB Local or moto start
        listener = ports.listen(args.port, "LOCAL_PORT")
        ports.ensure_free(args.aws_port, "LOCAL_AWS_PORT")
    except ports.PortUnavailable as exc:
        sys.exit(str(exc))
    logging.basicConfig(
        level=os.environ.get("LOCAL_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s"
    )
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Powertools warns when an invocation published no metric (a marking message that only
    # expands): in Lambda a log line, here a Python warning among the access lines.
    warnings.filterwarnings("ignore", "No application metrics to publish")
    metrics = emf.metrics_path(args.metrics_file, args.state_dir, args.port)
    emf.route_metrics(metrics, append=args.state_dir is not None)
    with contextlib.ExitStack() as running:
        running.callback(listener.close)
        try:
            run = _start(args, listener, running)
        except KeptTableDiffers as exc:
            sys.exit(str(exc))
        _describe(run, args, metrics)
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=run.gateway.shutdown).start())
        with contextlib.suppress(KeyboardInterrupt):
            run.gateway.serve_forever()


@dataclass(frozen=True)
class Running:
    gateway: Gateway
    template: Template
    names: dict[str, str]  # logical id -> table name or queue URL
    tables_kept: bool  # DynamoDB Local on disk (LOCAL_STATE_DIR)


def _arguments() -> argparse.Namespace:
    """Every option has its LOCAL_* variable (README, "Local run settings")."""
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__)
    # String defaults go through `type` too: a bad LOCAL_* value is argparse's one-line error.
    parser.add_argument("--port", type=int, default=env("LOCAL_PORT") or "8000", help="LOCAL_PORT")
    parser.add_argument("--aws-port", type=int, default=env("LOCAL_AWS_PORT") or "0", help="LOCAL_AWS_PORT")
    parser.add_argument("--schedule-seconds", type=float, default=env("LOCAL_SCHEDULE_SECONDS") or "60")
    parser.add_argument(
        "--dynamodb",
        choices=["auto", "dynamodb-local", "moto"],
        default=env("LOCAL_DYNAMODB") or "auto",
        help="auto: AWS's DynamoDB Local when Java and `make dynamodb-local` allow it, else moto",
    )
    parser.add_argument("--visibility-timeout", type=int, default=env("LOCAL_VISIBILITY_TIMEOUT") or "2")
    parser.add_argument(
        "--auth",
        choices=["header", "jwt"],
        default=env("LOCAL_AUTH") or "header",
        help="header: X-Tenant-ID is trusted (the quickstart); jwt: the real authorizer, local keys",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=env("LOCAL_STATE_DIR") or None,
        help="keep DynamoDB Local's tables here across restarts (default: in memory)",
    )
    parser.add_argument(
        "--metrics-file",
        default=env("LOCAL_METRICS_FILE"),
        help="where the functions' EMF metrics go ('-': the console)",
    )
    return parser.parse_args()


def _start(args: argparse.Namespace, listener: socket.socket, running: contextlib.ExitStack) -> Running:
    """Everything behind the front, each part stopped by `running` when the run ends."""
    aws, _ = start_embedded_aws(args.aws_port)
    running.callback(aws.stop)
    dynamodb = _dynamodb_backend(args.dynamodb, args.state_dir)
    if dynamodb:
        running.callback(dynamodb.stop)
    template = load_template()
    names = create_resources(template, visibility_timeout=args.visibility_timeout)
    function_log_level = os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.update(function_environment(template, names))
    os.environ["POWERTOOLS_LOG_LEVEL"] = function_log_level  # the template's INFO is one line a call
    functions = Functions(template)
    gateway_auth = _auth_mode(args.auth, args.port, template)
    stop = threading.Event()
    running.callback(stop.set)
    pollers = [Poller(source, names[source.queue], functions, stop) for source in template.queue_sources]
    scheduler = Scheduler(functions, template.schedules, args.schedule_seconds, stop)
    gateway = Gateway(listener, template, functions, **gateway_auth)
    running.callback(gateway.server_close)
    for thread in [*pollers, scheduler]:
        thread.start()
    return Running(gateway, template, names, tables_kept=bool(dynamodb and args.state_dir))


def _auth_mode(mode: str, port: int, template) -> dict:
    """Header mode (the default, so the quickstart's curls work as written) or the deployed
    stack's JWT authorizer run against a local key pair; one line says which."""
    if mode == "header":
        os.environ["AUTH_MODE"] = "header"
        print(
            "Auth: header mode: X-Tenant-ID is trusted and every caller has every role "
            "(LOCAL_AUTH=jwt make run runs the real authorizer)"
        )
        return {}
    key = auth.load_or_create(auth.key_file())
    settings = auth.local_settings(port)
    os.environ.update(auth.authorizer_environment(settings), AUTH_MODE="jwt")
    if not os.environ.get("CONSOLE_AUTHORIZATION_ENDPOINT"):
        # No identity provider to sign in with: the console takes a pasted `make token`.
        os.environ["CONSOLE_SIGN_IN"] = "token"
    print(
        "Auth: jwt mode: every API call needs 'Authorization: Bearer <token>' "
        f"(make token TENANT=acme ROLE=operator,viewer); issuer {settings.issuer}, "
        f"keys at {settings.jwks_url}"
    )
    return {"authorizer": template.authorizer, "jwks": key.jwks()}


MOTO_SIZES = (
    "fine up to about 5,000 sessions; beyond, plans and marking take minutes "
    "(Java 17+ and `make dynamodb-local` give DynamoDB Local)"
)


def _dynamodb_backend(choice: str, state_dir: Path | None) -> dynamodb_local.DynamoDBLocal | None:
    """DynamoDB Local when it can run (real DynamoDB semantics, and fast at any size); else moto's
    DynamoDB: correct (local_run/aws.py serialises it), but its index queries read the whole
    table, so it serves a few thousand sessions well and is slow beyond (docs/operations.md)."""
    reason = dynamodb_local.unavailable()
    if choice == "moto" or (choice == "auto" and reason):
        kept = "; LOCAL_STATE_DIR is not used: moto keeps its tables in memory" if state_dir else ""
        print(f"DynamoDB: moto ({reason or 'as asked'}){kept}; {MOTO_SIZES}")
        return None
    try:
        server = dynamodb_local.start(db_path=state_dir)
    except RuntimeError as exc:
        if choice != "auto":
            raise
        print(f"DynamoDB: moto (DynamoDB Local did not start: {exc}); {MOTO_SIZES}")
        return None
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = server.endpoint
    where = f"tables kept in {state_dir}" if state_dir else "in memory"
    print(f"DynamoDB: AWS DynamoDB Local at {server.endpoint} ({where})")
    return server


def _describe(run: Running, args: argparse.Namespace, metrics: Path | None) -> None:
    template, names = run.template, run.names
    print(
        f"Embedded AWS (moto) at {os.environ['AWS_ENDPOINT_URL']}: tables "
        f"{sorted(t for t in names if 'Table' in t)} "
        f"(at {os.environ.get('AWS_ENDPOINT_URL_DYNAMODB', os.environ['AWS_ENDPOINT_URL'])}), "
        f"queues {sorted(q for q in names if 'Queue' in q)}"
    )
    for route in sorted(template.routes, key=lambda r: (r.path, r.method)):
        print(f"  {route.method:6} http://127.0.0.1:{args.port}{route.path}  -> {route.function}")
    print(
        f"  Lambda Invoke: POST http://127.0.0.1:{args.port}/2015-03-31/functions/<name>/invocations "
        f"for {sorted(template.functions)}"
    )
    print(
        f"  SQS sources: {[(s.queue, s.function) for s in template.queue_sources]}; "
        f"schedules every {args.schedule_seconds:g}s (now: POST /local/schedules/<name>): "
        f"{template.schedules}"
    )
    print(f"  Review console: http://localhost:{args.port}/console")
    if run.tables_kept:
        print(f"State: tables kept in {args.state_dir} (queues in memory)")
    else:
        print(
            "State: in memory, gone when the run stops (LOCAL_STATE_DIR=<dir> keeps DynamoDB Local's tables)"
        )
    print(
        f"Metrics (EMF, one JSON line per invocation): {metrics or 'this console'}; below, one line "
        "per request (method path status time) and the functions' warnings"
    )
    print(f"Local run ready on http://127.0.0.1:{args.port}", flush=True)


if __name__ == "__main__":
    main()

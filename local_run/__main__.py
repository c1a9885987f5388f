"""`python -m local_run` (what `make run` does): serve the whole service on one port."""

import argparse
import logging
import os
import signal
import threading

from local_run import auth, dynamodb_local
from local_run.aws import start_embedded_aws
from local_run.functions import Functions
from local_run.gateway import Gateway
from local_run.poller import Poller
from local_run.schedules import Scheduler
from local_run.template import create_resources, function_environment, load_template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_PORT", "8000")))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", "0")))
    parser.add_argument(
        "--schedule-seconds", type=float, default=float(os.environ.get("LOCAL_SCHEDULE_SECONDS", "60"))
    )
    parser.add_argument(
        "--dynamodb",
        choices=["auto", "dynamodb-local", "moto"],
        default=os.environ.get("LOCAL_DYNAMODB", "auto"),
        help="auto: AWS's DynamoDB Local when Java and `make dynamodb-local` allow it, else moto",
    )
    parser.add_argument(
        "--visibility-timeout", type=int, default=int(os.environ.get("LOCAL_VISIBILITY_TIMEOUT", "2"))
    )
    parser.add_argument(
        "--auth",
        choices=["header", "jwt"],
        default=os.environ.get("LOCAL_AUTH", "header"),
        help="header: X-Tenant-ID is trusted (the quickstart); jwt: the real authorizer, local keys",
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=os.environ.get("LOCAL_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s"
    )
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    aws, endpoint = start_embedded_aws(args.aws_port)
    dynamodb = _dynamodb_backend(args.dynamodb)
    template = load_template()
    names = create_resources(template, visibility_timeout=args.visibility_timeout)
    os.environ.update(function_environment(template, names))
    functions = Functions(template)
    gateway_auth = _auth_mode(args.auth, args.port, template)
    stop = threading.Event()
    pollers = [Poller(source, names[source.queue], functions, stop) for source in template.queue_sources]
    scheduler = Scheduler(functions, template.schedules, args.schedule_seconds, stop)
    gateway = Gateway(args.port, template, functions, **gateway_auth)
    for thread in [*pollers, scheduler]:
        thread.start()
    _describe(template, names, endpoint, args)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=gateway.shutdown).start())
    try:
        gateway.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        gateway.server_close()
        aws.stop()
        if dynamodb:
            dynamodb.stop()


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


def _dynamodb_backend(choice: str) -> dynamodb_local.DynamoDBLocal | None:
    """DynamoDB Local when it can run (real DynamoDB semantics, and fast at any size); else moto's
    DynamoDB: correct (local_run/aws.py serialises it), but its index queries read the whole
    table, so it serves a few thousand sessions well and is slow beyond (docs/operations.md)."""
    reason = dynamodb_local.unavailable()
    if choice == "moto" or (choice == "auto" and reason):
        print(f"DynamoDB: moto ({reason or 'as asked'}); {MOTO_SIZES}")
        return None
    try:
        server = dynamodb_local.start()
    except RuntimeError as exc:
        if choice != "auto":
            raise
        print(f"DynamoDB: moto (DynamoDB Local did not start: {exc}); {MOTO_SIZES}")
        return None
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = server.endpoint
    print(f"DynamoDB: AWS DynamoDB Local at {server.endpoint}")
    return server


def _describe(template, names, endpoint, args) -> None:
    print(
        f"Embedded AWS (moto) at {endpoint}: tables {sorted(t for t in names if 'Table' in t)} "
        f"(at {os.environ.get('AWS_ENDPOINT_URL_DYNAMODB', endpoint)}), "
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
    print(f"Local run ready on http://127.0.0.1:{args.port}", flush=True)


if __name__ == "__main__":
    main()

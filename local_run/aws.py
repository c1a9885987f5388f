"""The embedded AWS: moto's server, with DynamoDB requests served one at a time.

moto handles requests on parallel threads without locking its backends, so a conditional write
is not atomic there, while DynamoDB serialises writes to an item. Serving DynamoDB requests one
at a time restores that guarantee (clients stay concurrent). Other services are not serialised:
an SQS long poll waits inside moto, and holding a global lock through it would stall everything.

moto 5.2's TransactWriteItems also deep-copies a table (its rollback copy) once per *item* of the
transaction, so a 100-item transaction on a table of N items copied 100 x N items (seconds, then
client timeouts). `copy_each_table_once` makes it copy each table once per transaction; the
copies it skips were identical, as nothing is written before the last one is taken.
"""

import copy
import os
import threading
from functools import wraps
from types import SimpleNamespace
from typing import Any

import boto3
from moto.dynamodb import models as dynamodb_models
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

REGION = "us-east-1"


def copy_each_table_once() -> None:
    """Within one moto transaction, a table's rollback copy is taken once and reused."""
    backend = dynamodb_models.DynamoDBBackend
    if getattr(backend.transact_write_items, "copies_each_table_once", False):
        return
    taken = threading.local()

    def deepcopy(value: Any, memo: dict | None = None) -> Any:
        copies = getattr(taken, "copies", None)
        if copies is None or not isinstance(value, dynamodb_models.Table):
            return copy.deepcopy(value, memo)
        if id(value) not in copies:
            copies[id(value)] = copy.deepcopy(value)
        return copies[id(value)]

    original = backend.transact_write_items

    @wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        taken.copies = {}
        try:
            return original(self, transact_items)
        finally:
            taken.copies = None

    transact_write_items.copies_each_table_once = True  # type: ignore[attr-defined]
    backend.transact_write_items = transact_write_items
    dynamodb_models.copy = SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)


class AtomicMotoServer(ThreadedMotoServer):
    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialised(environ: dict, start_response: Any) -> Any:
            if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
                return list(app(environ, start_response))
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, serialised, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def start_embedded_aws(port: int) -> tuple[AtomicMotoServer, str]:
    """Start moto on 127.0.0.1:port (0: any free port) and point every boto3 client at it."""
    copy_each_table_once()
    server = AtomicMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    endpoint = f"http://{host}:{bound}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID="local",  # never real credentials: nothing may reach AWS
        AWS_SECRET_ACCESS_KEY="local",
    )
    return server, endpoint


def local_client(service: str, endpoint: str, **options: Any) -> Any:
    """A boto3 client for a local endpoint, with placeholder credentials (never real ones)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        **options,
    )

"""The embedded AWS: moto's server, with DynamoDB requests served one at a time.

moto handles requests on parallel threads without locking its backends, so a conditional write
is not atomic there, while DynamoDB serialises writes to an item. Serving DynamoDB requests one
at a time restores that guarantee (clients stay concurrent). Other services are not serialised:
an SQS long poll waits inside moto, and holding a global lock through it would stall everything.

moto 5.2's TransactWriteItems also deep-copies every table it names (its rollback copy) once
per *item* of the transaction: the cost grows with the table, not the transaction.
`roll_back_items_not_tables` replaces those copies with an undo log of the items touched.
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


def roll_back_items_not_tables() -> None:
    """A moto transaction remembers the items it may touch and, on failure, puts those back,
    instead of deep-copying every table it names (moto 5.2 copies a table per item of the
    transaction: a 100-item transaction on a table of N items copied 100 x N items, so marking
    20,000 sessions took minutes and client timeouts). Requests are serialised (AtomicMotoServer),
    so nothing else writes those items meanwhile."""
    backend = dynamodb_models.DynamoDBBackend
    if getattr(backend.transact_write_items, "rolls_back_items", False):
        return
    original = backend.transact_write_items

    @wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = [entry for item in transact_items if (entry := _item_before(self, item)) is not None]
        _not_copying.tables = True
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(before):
                _put_back(table, hash_key, range_key, item)
            raise
        finally:
            _not_copying.tables = False

    transact_write_items.rolls_back_items = True  # type: ignore[attr-defined]
    backend.transact_write_items = transact_write_items
    dynamodb_models.copy = SimpleNamespace(deepcopy=_deepcopy, copy=copy.copy)


_not_copying = threading.local()


def _deepcopy(value: Any, memo: dict | None = None) -> Any:
    """moto's rollback copy of a table, skipped inside a transaction (the undo log above)."""
    if getattr(_not_copying, "tables", False) and isinstance(value, dynamodb_models.Table):
        return value
    return copy.deepcopy(value, memo)


def _item_before(backend: Any, transact_item: dict[str, Any]) -> tuple | None:
    """(table, hash key, range key, a copy of the item or None) for one action of a transaction;
    None when the action names no valid key (moto then refuses the whole transaction)."""
    _, action = next(iter(transact_item.items()))
    table = backend.tables.get(action.get("TableName"))
    if table is None:
        return None
    key = action.get("Key") or {
        name: action.get("Item", {}).get(name) for name in (table.hash_key_attr, table.range_key_attr) if name
    }
    try:
        hash_key, range_key = backend.get_keys_value(table, key)
        current = table.get_item(hash_key, range_key)
    except Exception:  # a malformed key: moto's own validation answers it
        return None
    return table, hash_key, range_key, copy.deepcopy(current)


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if item is None:
        table.delete_item(hash_key, range_key)
    elif range_key is not None:
        table.items[hash_key][range_key] = item
    else:
        table.items[hash_key] = item


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
    roll_back_items_not_tables()
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

"""The embedded AWS: moto's server, with DynamoDB requests served one at a time.

moto handles requests on parallel threads without locking its backends, so a conditional write
is not atomic there, while DynamoDB serialises writes to an item. Serving DynamoDB requests one
at a time restores that guarantee (clients stay concurrent). Other services are not serialised:
an SQS long poll waits inside moto, and holding a global lock through it would stall everything.
"""

import os
import threading
from typing import Any

import boto3
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

REGION = "us-east-1"


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

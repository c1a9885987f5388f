"""The REST resolver every API function uses: validation on, errors mapped, body size capped.
Who may call what is api/auth.py's: each route declares its role with `**requires(Role.X)`."""

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from scenario_migration.api import errors
from scenario_migration.api.auth import auth_mode
from scenario_migration.config import get_settings
from scenario_migration.errors import PayloadTooLarge

API_PREFIX = "/api/v1"


def create_resolver() -> APIGatewayRestResolver:
    """Called at import (Lambda's init): an invalid configuration fails the function at start."""
    get_settings()
    auth_mode()
    app = APIGatewayRestResolver(enable_validation=True)
    errors.register(app)
    app.use(middlewares=[_limit_body_size])
    return app


def _limit_body_size(app: APIGatewayRestResolver, next_middleware: NextMiddleware):
    body = app.current_event.body or ""
    limit = get_settings().limits.max_body_bytes
    size = len(body.encode()) if isinstance(body, str) else len(body)
    if size > limit:
        raise PayloadTooLarge(
            f"the request body is {size} bytes; the limit is {limit}", {"limit_bytes": limit}
        )
    return next_middleware(app)

"""The REST resolver every API function uses: validation on, errors mapped, bodies checked first.
Who may call what is api/auth.py's: each route declares its role with `**requires(Role.X)`."""

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)

from scenario_migration.api import bodies, errors
from scenario_migration.api.auth import auth_mode
from scenario_migration.config import get_settings

API_PREFIX = "/api/v1"


class _BodyFirst(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, preceded by the checks no parser may run before (size and
    type, bodies.check_body). Powertools runs its request validation ahead of every middleware of
    ours and parses forms and multipart bodies itself (a body without a boundary raised a bare
    ValueError, a 500); a user middleware would come too late. A route that takes no body never
    reads one: whatever a client sends it is ignored, so only body routes answer 413 and 415."""

    def handler(self, app: Any, next_middleware: NextMiddleware) -> Response:
        route = app.context.get("_route")
        if route is None or route.dependant.body_params:
            bodies.check_body(app.current_event.body, app.current_event.headers.get("content-type"))
        return super().handler(app, next_middleware)


class Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver with two changes, both where Powertools offers no public hook:

    - bodies are checked before its request validation parses them (`_BodyFirst`);
    - path parameters are percent-decoded: API Gateway REST hands the Lambda the request path
      still encoded and Powertools takes route parameters from it, so `/scenarios/a%3Ab` (how many
      clients send the valid id `a:b`) was refused as an invalid id."""

    def __init__(self) -> None:
        super().__init__(enable_validation=True, json_body_deserializer=bodies.parse_json_body)
        if not isinstance(
            getattr(self, "_request_validation_middleware", None), OpenAPIRequestValidationMiddleware
        ):
            raise RuntimeError("this Powertools version validates requests elsewhere: see api/resolver.py")
        self._request_validation_middleware = _BodyFirst()

    def _convert_matches_into_route_keys(self, match: Any) -> dict[str, str]:
        return {key: unquote(value) for key, value in super()._convert_matches_into_route_keys(match).items()}


def create_resolver() -> APIGatewayRestResolver:
    """Called at import (Lambda's init): an invalid configuration fails the function at start."""
    get_settings()
    auth_mode()
    app = Resolver()
    errors.register(app)
    return app

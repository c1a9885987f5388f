"""The one place that turns errors into HTTP responses (SPEC 12 error shape).

`{"error": {"code", "message", "details"}}`. Client mistakes are 4xx with every problem
listed; only a fault of ours is a 500, and its details never leak internals.
"""

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import BaseModel

from scenario_migration.api.bodies import not_json
from scenario_migration.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MigrationError,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
    validation_problems,
)

logger = Logger(child=True)

STATUS: dict[type[MigrationError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
}
DESCRIPTIONS = {
    400: "Bad input: every problem is listed in `details` (also a missing or invalid X-Tenant-ID)",
    401: "No credentials, or invalid ones (deployed: the token; the gateway's own 401 has this shape too)",
    403: "Not allowed: a role the route needs is missing, the X-Tenant-ID header disagrees with the token, "
    "or a rule such as four eyes",
    404: "Unknown, or another tenant's",
    409: "The resource's state forbids it (the current status is in the message)",
    413: "The body is larger than the configured limit",
    415: "The body is not JSON",
}


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """SPEC 12's error shape, the body of every 4xx (and of a 5xx, which is a fault of ours)."""

    error: ErrorBody


def responses(
    success: int, description: str, *statuses: int, headers: dict[str, str] | None = None
) -> dict[int, dict[str, Any]]:
    """OpenAPI `responses=` for a route: its success (with the `headers` it sets), 400 (every
    route validates the tenant header), 401 and 403 (every route needs a role; the header-mode
    document drops both, api/openapi.py), and the error statuses it can answer, each with the
    error model. Powertools then documents exactly these (its success response takes the route's
    return type); tests/integration/test_contract.py answers each of them for real."""
    documented: dict[int, dict[str, Any]] = {success: {"description": description}}
    if headers:
        documented[success]["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    for status in sorted({400, 401, 403, *statuses}):
        documented[status] = {
            "description": DESCRIPTIONS[status],
            "content": {content_types.APPLICATION_JSON: {"model": ErrorResponse}},
        }
    return documented


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return Response(status, content_types.APPLICATION_JSON, json.dumps(body, default=str))


def status_of(error: MigrationError) -> int:
    return next((status for cls, status in STATUS.items() if isinstance(error, cls)), 500)


def register(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(MigrationError)
    def domain_error(error: MigrationError) -> Response:
        status = status_of(error)
        if status == 500:
            logger.exception("unexpected domain error")
        return error_response(status, error.code, error.message, error.details)

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_type(_: RequestUnsupportedContentType) -> Response:
        """Not reached while the resolver checks bodies first; kept so that the mapping holds."""
        return domain_error(not_json(app.current_event.headers.get("content-type")))

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response:
        problems = validation_problems(error.errors(), drop=("body",))
        return error_response(400, "invalid_input", f"the request has {len(problems)} problem(s)", problems)

    @app.not_found
    def no_route(_: NotFoundError) -> Response:
        return error_response(404, "not_found", "no such resource")

    @app.exception_handler(Exception)
    def unexpected(_: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error: the request was not completed")

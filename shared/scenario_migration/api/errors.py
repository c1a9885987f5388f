"""The one place that turns errors into HTTP responses (SPEC 12 error shape).

`{"error": {"code", "message", "details"}}`. Client mistakes are 4xx with every problem
listed; only a fault of ours is a 500, and its details never leak internals.
"""

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from scenario_migration.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MigrationError,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
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
}


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

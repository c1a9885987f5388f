"""Domain errors. The API layer maps each class to one HTTP status (see api/errors.py)."""

from collections.abc import Iterable
from typing import Any


class MigrationError(Exception):
    """Base of every error the service reports to a caller; `details` goes in the error body."""

    code = "internal_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(MigrationError):
    """The request or document is wrong; `details` lists every problem found."""

    code = "invalid_input"


class ScenarioInvalid(InvalidInput):
    code = "invalid_scenario"

    def __init__(self, problems: list[dict[str, str]]) -> None:
        count = len(problems)
        super().__init__(f"the scenario has {count} problem{'s' if count != 1 else ''}", problems)
        self.problems = problems


class Unauthenticated(MigrationError):
    """No credentials, or credentials that identify nobody."""

    code = "unauthenticated"


class Forbidden(MigrationError):
    """The caller is known but may not do this (a role it lacks, another tenant, four eyes)."""

    code = "forbidden"


class NotFound(MigrationError):
    """Unknown, or belongs to another tenant: the two are indistinguishable on purpose."""

    code = "not_found"


class Conflict(MigrationError):
    """The resource's current state forbids the operation (e.g. approving an approved plan)."""

    code = "conflict"


class PayloadTooLarge(MigrationError):
    code = "payload_too_large"


def problem(location: str, message: str) -> dict[str, str]:
    """One entry of an error's `details`: where, and what is wrong there."""
    return {"location": location, "message": message}


def validation_problems(errors: Iterable[Any], drop: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """pydantic's errors as `details` entries: `steps[3].name`, the leading parts in `drop`
    (e.g. "body" of a request) left out. The one place validation errors become details."""
    found = []
    for error in errors:
        parts = list(error.get("loc", ()))
        while parts and parts[0] in drop:
            parts.pop(0)
        location = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
        if error.get("type") == "json_invalid":
            location = "body"
        found.append(problem(location or "(document)", error.get("msg", "invalid")))
    return found


class UnsupportedMediaType(MigrationError):
    """A request body that is not JSON (SPEC 12: 415). Bodies are never guessed at: a JSON
    document labelled `text/plain` is refused too, so a client's mistake shows at once."""

    code = "unsupported_media_type"

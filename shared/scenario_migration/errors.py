"""Domain errors. The API layer maps each class to one HTTP status (see api/errors.py)."""

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


class NotFound(MigrationError):
    """Unknown, or belongs to another tenant: the two are indistinguishable on purpose."""

    code = "not_found"


class Conflict(MigrationError):
    """The resource's current state forbids the operation (e.g. approving an approved plan)."""

    code = "conflict"


class PayloadTooLarge(MigrationError):
    code = "payload_too_large"


class UnsupportedMediaType(MigrationError):
    """A request body that is not JSON (SPEC 12: 415). Bodies are never guessed at: a JSON
    document labelled `text/plain` is refused too, so a client's mistake shows at once."""

    code = "unsupported_media_type"

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

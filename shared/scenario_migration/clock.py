"""The service's notion of now (UTC, second precision): one function to freeze in tests."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def isoformat(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp as stored or reported (`Z` or an offset; without one, UTC): the one
    parser of timestamps in the service."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

"""UTC time helpers shared by the engine, the cache and the API."""

from datetime import UTC, date, datetime, time, timedelta

import numpy as np

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(value: datetime | date | str, name: str) -> datetime:
    """Return ``value`` as a UTC-aware datetime.

    Dates (and ``YYYY-MM-DD`` strings) mean 00:00 UTC; ISO strings may end in ``Z``. Naive
    datetimes are refused: every timestamp in thetadesk is UTC and must say so.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{name}: {value!r} is not an ISO-8601 date or datetime") from exc
        if parsed.tzinfo is None:
            if len(value.strip()) != 10:
                raise ValueError(f"{name}: {value!r} has no timezone; use UTC (e.g. a 'Z' suffix)")
            parsed = parsed.replace(tzinfo=UTC)
        value = parsed
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name}: {value.isoformat()} has no timezone; use UTC")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    raise ValueError(f"{name}: expected a date or a UTC datetime, got {type(value).__name__}")


def to_ns(value: datetime) -> int:
    """Nanoseconds since the Unix epoch of a UTC-aware datetime."""
    if value.tzinfo is None:
        raise ValueError(f"{value.isoformat()} has no timezone; use UTC")
    return int(np.datetime64(value.astimezone(UTC).replace(tzinfo=None), "ns").astype(np.int64))


def from_ns(ns: int) -> datetime:
    """UTC-aware datetime of nanoseconds since the Unix epoch (microsecond precision)."""
    return EPOCH + timedelta(microseconds=int(ns) // 1000)

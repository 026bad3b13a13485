"""UTC time helpers and constants, shared by the cache, the engine and the API.

They live in the lowest layer that needs them (the cache), so nothing here imports upwards.
Years are ACT/365 (crypto trades every day; Deribit counts time to expiry that way) and every
Deribit BTC/ETH option expires at 08:00 UTC.
"""

from datetime import UTC, date, datetime, time, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAYS_PER_YEAR = 365
SECONDS_PER_DAY = 86_400
SECONDS_PER_YEAR = DAYS_PER_YEAR * SECONDS_PER_DAY
NS_PER_SECOND = 10**9
NS_PER_HOUR = 3_600 * NS_PER_SECOND
NS_PER_DAY = SECONDS_PER_DAY * NS_PER_SECOND
NS_PER_YEAR = DAYS_PER_YEAR * NS_PER_DAY
EXPIRY_HOUR_UTC = 8  # Deribit's options expire (and settle) at 08:00 UTC
TIMEFRAME_HOURS = {"1h": 1, "4h": 4, "1d": 24}  # bar lengths the cache and the engine know
TIMEFRAMES = {name: timedelta(hours=h) for name, h in TIMEFRAME_HOURS.items()}


def as_utc(value: datetime | date | str, name: str) -> datetime:
    """Return ``value`` as a UTC-aware datetime.

    Dates (and ``YYYY-MM-DD`` strings) mean 00:00 UTC; ISO strings may end in ``Z``. Naive
    datetimes are refused: every timestamp in thetadesk is UTC and must say so, and so is an
    instant whose UTC date falls outside years 1-9999. Every refusal is a ``ValueError`` that
    starts with ``name``.
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
        try:
            return value.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is in year 0 in UTC
            raise ValueError(
                f"{name}: {value.isoformat()} is outside the dates UTC can hold "
                f"({datetime.min.year:04d}-01-01 to {datetime.max.year}-12-31)"
            ) from None
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    raise ValueError(f"{name}: expected a date or a UTC datetime, got {type(value).__name__}")


def to_ns(value: datetime) -> int:
    """Nanoseconds since the Unix epoch of a UTC-aware datetime."""
    if value.tzinfo is None:
        raise ValueError(f"{value.isoformat()} has no timezone; use UTC")
    delta = value - EPOCH  # exact: timedelta holds whole days, seconds and microseconds
    seconds = delta.days * SECONDS_PER_DAY + delta.seconds
    return seconds * NS_PER_SECOND + delta.microseconds * 1000


def from_ns(ns: int) -> datetime:
    """UTC-aware datetime of nanoseconds since the Unix epoch (microsecond precision)."""
    return EPOCH + timedelta(microseconds=int(ns) // 1000)

"""Time to expiry as Deribit counts it: ACT/365 in years, expiries at 08:00 UTC.

Instants may be UTC-aware ``datetime`` objects (any aware timezone is converted to UTC), NumPy
``datetime64`` values or arrays (read as UTC, since they carry no timezone), or integer nanoseconds
since the Unix epoch. Naive datetimes are rejected: a wall-clock time without a zone is ambiguous.
"""

from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from cache.timeutil import EXPIRY_HOUR_UTC, NS_PER_HOUR, NS_PER_YEAR

EXPIRY_TIME_UTC = time(8, 0, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAT_NS = np.iinfo(np.int64).min  # how datetime64('NaT') reads as int64


def expiry_datetime(day: date | str) -> datetime:
    """Return the expiry instant of options expiring on ``day``: 08:00 UTC that day.

    Parameters
    ----------
    day : date or str
        The expiry date, or its ISO form ``"YYYY-MM-DD"``.

    Raises
    ------
    ValueError
        If ``day`` is a datetime (pass its date explicitly) or not a valid ISO date string.
    """
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day)
        except ValueError:
            raise ValueError(f"expiry date {day!r} is not an ISO date 'YYYY-MM-DD'") from None
    if isinstance(day, datetime) or not isinstance(day, date):
        raise ValueError(f"expiry date must be a datetime.date or 'YYYY-MM-DD', got {day!r}")
    return datetime.combine(day, EXPIRY_TIME_UTC)


def _epoch_ns_of_datetime(name: str, value: datetime) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime {value!r}; pass a UTC-aware datetime")
    return (value - _EPOCH) // timedelta(microseconds=1) * 1_000


def _epoch_ns(name: str, value: object) -> int | np.ndarray:
    """Convert one instant or an array of instants to int64 ns since the epoch (NaT kept)."""
    if isinstance(value, datetime):
        return _epoch_ns_of_datetime(name, value)
    if isinstance(value, date):
        raise ValueError(
            f"{name} is a date {value!r}, not an instant; use expiry_datetime() for expiries"
        )
    arr = np.asarray(value)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]").view(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype == object:
        flat = [_epoch_ns(name, v) for v in arr.ravel()]
        if all(isinstance(v, int) for v in flat):
            return np.array(flat, dtype=np.int64).reshape(arr.shape)
    raise ValueError(
        f"{name} must be aware datetimes, numpy datetime64 or int ns since the epoch; "
        f"got dtype {arr.dtype}"
    )


def _nat_mask(ns: int | np.ndarray) -> np.ndarray | bool:
    return np.asarray(ns) == _NAT_NS


def year_fraction(start: object, end: object) -> float | np.ndarray:
    """Return ``end - start`` in years, ACT/365 (negative when ``end`` is earlier).

    Parameters
    ----------
    start, end : datetime, datetime64, int ns, or arrays of these
        Instants (see the module docstring); arrays broadcast against each other.

    Returns
    -------
    float or ndarray
        A Python float when both arguments are scalars, otherwise a float64 array; NaT gives NaN.

    Raises
    ------
    ValueError
        On naive datetimes, plain dates, floats or other types that are not instants, or shapes
        that do not broadcast.
    """
    start_ns = _epoch_ns("start", start)
    end_ns = _epoch_ns("end", end)
    if isinstance(start_ns, int) and isinstance(end_ns, int):
        return (end_ns - start_ns) / NS_PER_YEAR
    try:
        years = (np.asarray(end_ns) - np.asarray(start_ns)) / NS_PER_YEAR
    except ValueError as exc:
        raise ValueError(f"start and end do not broadcast: {exc}") from None
    years = np.where(_nat_mask(start_ns) | _nat_mask(end_ns), np.nan, years)
    return float(years) if years.ndim == 0 else years


def t_years_to_expiry(now: object, expiry: object) -> float | np.ndarray:
    """Return the time from ``now`` to ``expiry`` in years, ACT/365, as Deribit prices options.

    Parameters
    ----------
    now : datetime, datetime64, int ns, or arrays of these
        The valuation instant(s).
    expiry : date, str, datetime, datetime64, int ns, or arrays of these
        Expiry instant(s). A date — ``datetime.date``, ``"YYYY-MM-DD"``, or ``datetime64[D]``
        (e.g. a polars Date column) — means 08:00 UTC of that day.

    Returns
    -------
    float or ndarray
        Years to expiry, negative once expired (the pricers treat ``T <= 0`` as expired).
    """
    if isinstance(expiry, str) or (isinstance(expiry, date) and not isinstance(expiry, datetime)):
        return year_fraction(now, expiry_datetime(expiry))
    if not isinstance(expiry, datetime):
        arr = np.asarray(expiry)
        if arr.dtype.kind == "U":
            try:
                arr = arr.astype("datetime64[D]")
            except ValueError:
                raise ValueError("expiry strings must be ISO dates 'YYYY-MM-DD'") from None
        if arr.dtype == np.dtype("datetime64[D]"):
            ns = arr.astype("datetime64[ns]").view(np.int64)
            expiry = np.where(ns == _NAT_NS, ns, ns + EXPIRY_HOUR_UTC * NS_PER_HOUR)
    return year_fraction(now, expiry)

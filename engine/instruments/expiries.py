"""Deribit's option expiry calendar: which expiries are listed at a given instant.

Every BTC/ETH option expires at 08:00 UTC. Expiries come in four series, each a sorted sequence of
dates: dailies (every calendar day), weeklies (Fridays), monthlies (the last Friday of each month)
and quarterlies (the last Friday of March, June, September and December). One rule, with its own
count ``n`` per series, says when an expiry is listed:

    expiry ``k`` of a series is listed at ``listing_hour_utc`` on the day ``lead_days`` before
    expiry ``k - n`` of the same series, and stays listed until it expires.

A date in several series (a Friday is a daily and a weekly; a last Friday is also a monthly) is
listed once, as soon as any of its series lists it. docs/instruments.md gives the evidence for the
default counts from the recorded chains and the live counts that follow (e.g. 4 dailies at all
times).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import ArrayLike

from cache.deribit.naming import check_underlying
from cache.timeutil import EXPIRY_HOUR_UTC, NS_PER_DAY, NS_PER_HOUR
from engine.instruments.nb import listed_expiries_nb

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAT_NS = np.iinfo(np.int64).min
# Longest gap between consecutive expiries of each series, in days, to size generation windows.
_MAX_GAP_DAYS = {"daily": 1, "weekly": 7, "monthly": 35, "quarterly": 98}


@dataclass(frozen=True)
class ExpiryRules:
    """Listing rules of the expiry calendar; the defaults are inferred from recorded chains.

    Attributes
    ----------
    dailies, weeklies, monthlies, quarterlies : int
        Series count ``n``: expiry ``k`` is listed ``lead_days`` before expiry ``k - n`` expires.
        A series then shows ``n`` expiries, plus one more during the lead window (for dailies the
        lead window spans a whole day, so the defaults always show 4 dailies).
    lead_days : int
        Days between listing the new expiry and the expiry of the one it replaces.
    listing_hour_utc : int
        Hour (UTC) at which new expiries are listed.
    """

    dailies: int = 3
    weeklies: int = 3
    monthlies: int = 3
    quarterlies: int = 4
    lead_days: int = 1
    listing_hour_utc: int = 8

    def __post_init__(self) -> None:
        for field in ("dailies", "weeklies", "monthlies", "quarterlies", "lead_days"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"ExpiryRules.{field} must be an integer >= 0, got {value!r}")
        hour = self.listing_hour_utc
        if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
            raise ValueError(f"ExpiryRules.listing_hour_utc must be an integer 0..23, got {hour!r}")

    def counts(self) -> dict[str, int]:
        """Return the series count of each series, keyed by series name."""
        return {
            "daily": self.dailies,
            "weekly": self.weeklies,
            "monthly": self.monthlies,
            "quarterly": self.quarterlies,
        }


DEFAULT_EXPIRY_RULES = ExpiryRules()


def _series_days(series: str, first_day: int, last_day: int) -> np.ndarray:
    """Return the expiry dates (days since the epoch) of a series within [first_day, last_day]."""
    days = np.arange(first_day, last_day + 1, dtype=np.int64)
    if series == "daily":
        return days
    if series == "weekly":
        return days[(days - 1) % 7 == 0]  # 1970-01-02 (day 1) was a Friday
    months = np.arange(
        np.datetime64(first_day, "D").astype("datetime64[M]"),
        np.datetime64(last_day, "D").astype("datetime64[M]") + 1,
    )
    if series == "quarterly":
        months = months[(months.astype(np.int64) % 12) % 3 == 2]  # Mar, Jun, Sep, Dec
    month_ends = (months + 1).astype("datetime64[D]").astype(np.int64) - 1
    last_fridays = month_ends - (month_ends - 1) % 7
    return last_fridays[(last_fridays >= first_day) & (last_fridays <= last_day)]


def listing_table(
    start_ns: int, end_ns: int, rules: ExpiryRules = DEFAULT_EXPIRY_RULES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return every series expiry that can be listed at some instant in [start_ns, end_ns].

    Returns
    -------
    expiry_ns, listing_ns : int64 arrays
        Expiry instants and their listing instants, grouped by series (daily, weekly, monthly,
        quarterly) and sorted by expiry within each series; both increase within a series.
    series_offsets : int64 array of 5
        Series ``s`` occupies ``[series_offsets[s], series_offsets[s + 1])``.
    """
    first_day, last_day = start_ns // NS_PER_DAY, end_ns // NS_PER_DAY
    expiries, listings, offsets = [], [], [0]
    for series, n in rules.counts().items():
        margin = (n + 1) * _MAX_GAP_DAYS[series] + rules.lead_days + 1
        days = _series_days(series, first_day - margin, last_day + margin)
        expiry_ns = days[n:] * NS_PER_DAY + EXPIRY_HOUR_UTC * NS_PER_HOUR
        listing_ns = (days[: days.size - n] - rules.lead_days) * NS_PER_DAY
        listing_ns += rules.listing_hour_utc * NS_PER_HOUR
        expiries.append(expiry_ns)
        listings.append(listing_ns)
        offsets.append(offsets[-1] + expiry_ns.size)
    return np.concatenate(expiries), np.concatenate(listings), np.asarray(offsets, np.int64)


def _instant_ns(at: datetime) -> int:
    if not isinstance(at, datetime):
        raise ValueError(f"time must be a UTC-aware datetime, got {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"time {at!r} is naive; pass a UTC-aware datetime")
    return (at - _EPOCH) // timedelta(microseconds=1) * 1_000


def _datetime_of_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(ns) // 1_000)


def listed_expiries(
    underlying: str, at: datetime, rules: ExpiryRules = DEFAULT_EXPIRY_RULES
) -> list[datetime]:
    """Return the expiries Deribit lists for ``underlying`` options at instant ``at``.

    Parameters
    ----------
    underlying : str
        ``"BTC"`` or ``"ETH"`` (both follow the same calendar).
    at : datetime
        UTC-aware instant.
    rules : ExpiryRules
        Listing rules; the default is inferred from recorded Deribit chains.

    Returns
    -------
    list of datetime
        Sorted, unique 08:00 UTC expiries, all strictly after ``at``.
    """
    check_underlying(underlying)
    t = _instant_ns(at)
    expiry_ns, listing_ns, _ = listing_table(t, t, rules)
    live = np.unique(expiry_ns[(listing_ns <= t) & (expiry_ns > t)])
    return [_datetime_of_ns(ns) for ns in live]


def _times_ns(times: ArrayLike) -> np.ndarray:
    arr = np.asarray(times)
    if arr.ndim != 1:
        raise ValueError(f"times must be a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind == "M":
        arr = arr.astype("datetime64[ns]").view(np.int64)
    elif arr.dtype.kind in "iu" or arr.size == 0:
        arr = arr.astype(np.int64)
    else:
        raise ValueError(f"times must be int64 ns since the epoch or datetime64, got {arr.dtype}")
    if np.any(arr == _NAT_NS):
        raise ValueError(f"times contain NaT at index {int(np.argmax(arr == _NAT_NS))}")
    return np.ascontiguousarray(arr)


def listed_expiries_batch(
    underlying: str, times: ArrayLike, rules: ExpiryRules = DEFAULT_EXPIRY_RULES
) -> tuple[np.ndarray, np.ndarray]:
    """Return the listed expiries at many instants at once, in CSR layout.

    Parameters
    ----------
    underlying : str
        ``"BTC"`` or ``"ETH"``.
    times : array of int64 ns since the epoch (UTC), or datetime64
        Instants, in any order.
    rules : ExpiryRules
        Listing rules, as for :func:`listed_expiries`.

    Returns
    -------
    offsets : int64 array, length ``len(times) + 1``
    expiries_ns : int64 array
        The expiries of ``times[i]`` are ``expiries_ns[offsets[i]:offsets[i + 1]]`` (ns since the
        epoch, sorted, unique, strictly after ``times[i]``), equal to :func:`listed_expiries`.
    """
    check_underlying(underlying)
    times_ns = _times_ns(times)
    if times_ns.size == 0:
        return np.zeros(1, np.int64), np.zeros(0, np.int64)
    expiry_ns, listing_ns, series_offsets = listing_table(
        int(times_ns.min()), int(times_ns.max()), rules
    )
    return listed_expiries_nb(times_ns, expiry_ns, listing_ns, series_offsets)


def is_monthly_expiry(expiry: datetime) -> bool:
    """Return True if ``expiry`` falls on the last Friday of its month (a monthly expiry)."""
    return expiry.weekday() == 4 and (expiry + timedelta(days=7)).month != expiry.month


def monthly_expiries_ns(expiries_ns: np.ndarray) -> np.ndarray:
    """:func:`is_monthly_expiry` of each of ``expiries_ns`` (int64 ns since the epoch, UTC) at once.

    The epoch fell on a Thursday, so day ``d`` since it is a Friday when ``(d + 3) % 7 == 4``.
    """
    expiries_ns = np.asarray(expiries_ns, np.int64)
    friday = (expiries_ns // NS_PER_DAY + 3) % 7 == 4

    def month(ns: np.ndarray) -> np.ndarray:
        return ns.astype("datetime64[ns]").astype("datetime64[M]")

    return friday & (month(expiries_ns) != month(expiries_ns + 7 * NS_PER_DAY))

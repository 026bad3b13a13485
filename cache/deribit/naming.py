"""Deribit option instrument names: ``BTC-26DEC25-100000-C`` and back.

A name is ``UNDERLYING-DMMMYY-STRIKE-TYPE``: the day without a leading zero, an upper-case
three-letter English month, a two-digit year (20YY), the strike in USD and ``C`` or ``P``. Strikes
are integers in every BTC/ETH name of the recorded chains; Deribit writes a fractional strike with
``d`` for the decimal point (``XRP_USDC-...-0d625-C``), which this module reads and writes too.

Only the inverse BTC and ETH options are supported: the calendar and strike-grid rules of
:mod:`engine.instruments` were inferred for them, and the linear ``*_USDC`` options follow other
listing rules. The module sits in the cache so that replies can be read without the engine.
"""

import math
import numbers
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Literal

import polars as pl

from cache.schema import CHAIN_SCHEMA
from cache.timeutil import EXPIRY_HOUR_UTC

SUPPORTED_UNDERLYINGS = ("BTC", "ETH")
# the contract fields of a snapshot row (CHAIN_SCHEMA) that its instrument name determines
NAME_FIELDS = ("underlying", "expiry", "expiry_timestamp", "option_type", "strike")
EXPIRY_TIME_UTC = time(EXPIRY_HOUR_UTC, tzinfo=UTC)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

OptionType = Literal["C", "P"]

_EXPIRY_RE = re.compile(r"([1-9]|[12][0-9]|3[01])([A-Z]{3})([0-9]{2})")
# Canonical strikes only (no leading zeros, no trailing fractional zeros), so that every accepted
# name is exactly what format_instrument writes back.
_STRIKE_RE = re.compile(r"(0|[1-9][0-9]*)(?:d([0-9]*[1-9]))?")


def check_underlying(underlying: str) -> str:
    """Return ``underlying`` if supported, else raise a ValueError listing the supported ones."""
    if underlying not in SUPPORTED_UNDERLYINGS:
        expected = ", ".join(SUPPORTED_UNDERLYINGS)
        raise ValueError(f"unsupported underlying {underlying!r}: expected one of {expected}")
    return underlying


def check_expiry(expiry: datetime) -> datetime:
    """Return ``expiry`` converted to UTC, checking it is an aware datetime at 08:00:00 UTC.

    Raises
    ------
    ValueError
        If ``expiry`` is not a datetime, is naive, or is not at 08:00:00 UTC.
    """
    if not isinstance(expiry, datetime):
        raise ValueError(f"expiry must be a UTC-aware datetime, got {expiry!r}")
    if expiry.tzinfo is None or expiry.utcoffset() is None:
        raise ValueError(f"expiry {expiry!r} is naive; pass a UTC-aware datetime at 08:00 UTC")
    expiry = expiry.astimezone(UTC)
    if expiry.timetz() != EXPIRY_TIME_UTC:
        raise ValueError(
            f"expiry {expiry.isoformat()} is not at 08:00:00 UTC, when Deribit expires"
        )
    return expiry


def parse_expiry_code(code: str) -> datetime:
    """Return the expiry instant (08:00 UTC) of a Deribit expiry code such as ``"26DEC25"``.

    Raises
    ------
    ValueError
        If the code is not ``D[D]MMMYY`` with a real calendar date.
    """
    match = _EXPIRY_RE.fullmatch(code)
    if match is None:
        raise ValueError(
            f"expiry {code!r} is not DMMMYY (day without leading zero, upper-case month, "
            "two-digit year, e.g. '5JAN26' or '26DEC25')"
        )
    day, month, year = match.groups()
    if month not in MONTHS:
        raise ValueError(f"expiry {code!r} has month {month!r}; expected one of {' '.join(MONTHS)}")
    try:
        expiry_date = date(2000 + int(year), MONTHS.index(month) + 1, int(day))
    except ValueError:
        raise ValueError(f"expiry {code!r} is not a calendar date") from None
    return datetime.combine(expiry_date, EXPIRY_TIME_UTC)


def format_expiry_code(expiry: datetime) -> str:
    """Return the Deribit expiry code (``"26DEC25"``) of an 08:00 UTC expiry instant."""
    expiry = check_expiry(expiry)
    if not 2000 <= expiry.year <= 2099:
        raise ValueError(f"expiry year {expiry.year} does not fit Deribit's two-digit year")
    return f"{expiry.day}{MONTHS[expiry.month - 1]}{expiry.year % 100:02d}"


def parse_strike(text: str) -> float:
    """Return the USD strike written as ``"100000"`` or, with ``d`` for the point, ``"0d625"``."""
    match = _STRIKE_RE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"strike {text!r} is not a canonical positive number: expected digits without "
            "leading zeros, optionally 'd' and fractional digits (e.g. '100000' or '0d625')"
        )
    whole, frac = match.groups()
    strike = float(f"{whole}.{frac}" if frac else whole)
    if strike <= 0.0:
        raise ValueError(f"strike {text!r} is not positive")
    return strike


def format_strike(strike: float) -> str:
    """Return the strike as Deribit writes it: integral as an integer, else ``d`` for the point."""
    if isinstance(strike, bool) or not isinstance(strike, numbers.Real):
        raise ValueError(f"strike must be a positive finite number (USD), got {strike!r}")
    if not (math.isfinite(strike) and strike > 0):
        raise ValueError(f"strike must be a positive finite number (USD), got {strike!r}")
    if float(strike).is_integer():
        return str(int(strike))
    # repr is the shortest text that reads back as the same float; Decimal drops any exponent.
    text = format(Decimal(repr(float(strike))), "f")
    return text.replace(".", "d")


@dataclass(frozen=True)
class Instrument:
    """One Deribit BTC/ETH option.

    Attributes
    ----------
    underlying : str
        ``"BTC"`` or ``"ETH"``.
    expiry : datetime
        Expiry instant, UTC-aware, 08:00 UTC.
    strike : float
        Strike in USD.
    option_type : {"C", "P"}
        Call or put.
    """

    underlying: str
    expiry: datetime
    strike: float
    option_type: OptionType

    def __post_init__(self) -> None:
        check_underlying(self.underlying)
        object.__setattr__(self, "expiry", check_expiry(self.expiry))
        format_strike(self.strike)
        object.__setattr__(self, "strike", float(self.strike))
        if self.option_type not in ("C", "P"):
            raise ValueError(f"option type {self.option_type!r} is not 'C' (call) or 'P' (put)")

    @property
    def name(self) -> str:
        """The Deribit instrument name, e.g. ``"BTC-26DEC25-100000-C"``."""
        return format_instrument(self.underlying, self.expiry, self.strike, self.option_type)


def parse_instrument(name: str) -> Instrument:
    """Parse a Deribit option name such as ``"BTC-26DEC25-100000-C"``.

    Raises
    ------
    ValueError
        Naming the part that is wrong (underlying, expiry, strike or type) and what was expected.
    """
    if not isinstance(name, str):
        raise ValueError(f"instrument name must be a string, got {name!r}")
    parts = name.split("-")
    if len(parts) != 4:
        raise ValueError(
            f"instrument name {name!r} has {len(parts)} '-'-separated parts; expected 4: "
            "UNDERLYING-DMMMYY-STRIKE-C|P (e.g. 'BTC-26DEC25-100000-C')"
        )
    underlying, expiry_code, strike_text, option_type = parts
    try:
        check_underlying(underlying)
        expiry = parse_expiry_code(expiry_code)
        strike = parse_strike(strike_text)
    except ValueError as exc:
        raise ValueError(f"instrument name {name!r}: {exc}") from None
    if option_type not in ("C", "P"):
        raise ValueError(
            f"instrument name {name!r}: option type {option_type!r} is not 'C' (call) or 'P' (put)"
        )
    return Instrument(underlying, expiry, strike, option_type)


def format_instrument(
    underlying: str, expiry: datetime, strike: float, option_type: OptionType
) -> str:
    """Return the Deribit name of a BTC/ETH option, e.g. ``"BTC-26DEC25-100000-C"``.

    Parameters
    ----------
    underlying : str
        ``"BTC"`` or ``"ETH"``.
    expiry : datetime
        Expiry instant, UTC-aware, at 08:00 UTC.
    strike : float
        Strike in USD; written as an integer when integral, else with ``d`` as decimal point.
    option_type : {"C", "P"}
        Call or put.
    """
    check_underlying(underlying)
    if option_type not in ("C", "P"):
        raise ValueError(f"option type {option_type!r} is not 'C' (call) or 'P' (put)")
    return f"{underlying}-{format_expiry_code(expiry)}-{format_strike(strike)}-{option_type}"


def option_names_expr(underlying: str, expiry: str, strike: str, option_type: str) -> pl.Expr:
    """Polars expression naming options from columns ``expiry`` (UTC datetime) and ``strike``.

    Vectorised :func:`format_instrument` for whole tables (a test checks they agree).
    """
    check_underlying(underlying)
    code = pl.col(expiry).dt.convert_time_zone("UTC").dt.strftime("%-d%b%y").str.to_uppercase()
    k = pl.col(strike)
    text = (
        pl.when(k == k.floor())
        .then(k.cast(pl.Int64).cast(pl.String))
        .otherwise(k.cast(pl.String).str.replace(".", "d", literal=True))
    )
    return pl.concat_str([pl.lit(underlying), code, text, pl.lit(option_type)], separator="-")


def complete_from_names(frame: pl.DataFrame) -> pl.DataFrame:
    """Fill null contract fields from ``instrument_name`` (each distinct name parsed once)."""
    incomplete = pl.any_horizontal(pl.col(c).is_null() for c in NAME_FIELDS)
    names = frame.filter(incomplete).get_column("instrument_name").unique().sort()
    if names.is_empty():
        return frame
    rows = []
    for name in names:
        try:
            option = parse_instrument(name)
        except ValueError:
            continue  # not a BTC/ETH option name: the row stays incomplete and is skipped
        rows.append(
            (
                name,
                option.underlying,
                option.expiry.date().isoformat(),
                option.expiry.timestamp(),
                option.option_type,
                option.strike,
            )
        )
    schema = {"instrument_name": pl.String, **{c: CHAIN_SCHEMA[c] for c in NAME_FIELDS}}
    parsed = pl.DataFrame(rows, schema=schema, orient="row")
    suffix = "_from_name"
    return (
        frame.join(parsed, on="instrument_name", how="left", suffix=suffix)
        .with_columns(pl.coalesce(c, f"{c}{suffix}").alias(c) for c in NAME_FIELDS)
        .select(frame.columns)
    )

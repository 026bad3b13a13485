"""A DVOL-style 30-day implied-volatility index of each option-chain snapshot.

It lives in the cache because both layers need it: the chain importer derives a chain source's IV
index from it (:mod:`cache.importers.series`), and the engine's calibration relates it to the
30-day ATM IV (:mod:`engine.calibration.relation`); the cache never imports the engine.

Deribit's DVOL follows the Cboe VIX method: the 30-day variance implied by the whole smile of the
two expiries bracketing 30 days, not the ATM vol. Per snapshot and expiry (``T`` years to the
08:00 UTC expiry, ``F`` its forward):

- ``K0`` is the listed strike at or below ``F``; ``Q(K)`` the out-of-the-money price in USD: the
  put below ``K0``, the call above, the mean of both at ``K0``; Deribit's inverse prices are
  converted with ``mark_price × underlying_price``;
- ``ΔK`` is half the distance between the neighbouring strikes (the full distance at the ends);
- ``σ²_T = 2/T · Σ ΔK/K² · Q(K) · e^{rT} − 1/T · (F/K0 − 1)²`` with ``r = 0``: Deribit prices on
  each expiry's forward, so no discounting is needed;

then the total variances ``σ²_T T`` of the expiries bracketing 30 days are interpolated linearly in
``T`` at 30 days, and the index is ``100 √σ²_30``. Departures from the published method, all
because a recorded snapshot holds less than the live order book: the mark price stands in for the
bid/ask mid-quote (marks are always there, books are often one-sided), so no zero-bid cut-off
applies; ``F`` is the forward Deribit quotes for the expiry (the median ``underlying_price`` of
its rows) rather than one implied from put-call parity; times are in seconds, not minutes.
An expiry counts when it has at least :data:`MIN_STRIKES_PER_SIDE` strikes on each side of
``K0``, which leaves out partial snapshots.
"""

import polars as pl

from cache.timeutil import DAYS_PER_YEAR, SECONDS_PER_YEAR

T30 = 30 / DAYS_PER_YEAR  # the index's horizon, in ACT/365 years
SNAPSHOT = ["underlying", "harvest_time"]  # the keys of a snapshot in the recorder's schema
MIN_STRIKES_PER_SIDE = 3
EXPIRY_KEYS = [*SNAPSHOT, "expiry_timestamp"]


def variance_at(table: pl.DataFrame, var: str, at: float = T30) -> pl.DataFrame:
    """Per snapshot, the annualised variance at ``at`` years from per-expiry variances ``var``.

    Total variance ``var · t`` is interpolated linearly in ``t`` between the expiries bracketing
    ``at`` (the VIX rule); snapshots without an expiry on each side are left out. Returns the
    snapshot keys, ``t_near``, ``t_next`` and ``var_at``.
    """
    t = pl.col("t")
    side = table.select(
        *SNAPSHOT,
        "t",
        total=pl.col(var) * t,
        t_near=t.filter(t <= at).max().over(SNAPSHOT),
        t_next=t.filter(t >= at).min().over(SNAPSHOT),
    )
    near = (
        side.filter(t == pl.col("t_near"))
        .group_by(SNAPSHOT)
        .agg(pl.col("t_near").first(), pl.col("t_next").first(), w_near=pl.col("total").first())
    )
    nxt = side.filter(t == pl.col("t_next")).group_by(SNAPSHOT).agg(w_next=pl.col("total").first())
    t_near, t_next = pl.col("t_near"), pl.col("t_next")
    span = t_next - t_near
    between = (pl.col("w_near") * (t_next - at) + pl.col("w_next") * (at - t_near)) / span
    total = pl.when(span > 0).then(between).otherwise(pl.col("w_near"))
    return (
        near.join(nxt, on=SNAPSHOT)
        .select(*SNAPSHOT, "t_near", "t_next", var_at=total / at)
        .sort(SNAPSHOT)
    )


def _strikes(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per strike of each snapshot's expiry: ``t``, ``fwd``, USD ``call`` and ``put``."""
    rows = (
        frame.filter(
            pl.col("underlying").is_not_null()
            & pl.col("strike").is_not_null()
            & pl.col("expiry_timestamp").is_not_null()
            & pl.col("option_type").is_in(["C", "P"])
            & (pl.col("mark_price") >= 0)
            & (pl.col("underlying_price") > 0)
        )
        .with_columns(
            t=(pl.col("expiry_timestamp") - pl.col("harvest_time").dt.epoch("us") / 1e6)
            / SECONDS_PER_YEAR,
            usd=pl.col("mark_price") * pl.col("underlying_price"),
            fwd=pl.col("underlying_price").median().over(EXPIRY_KEYS),
        )
        .filter(pl.col("t") > 0)
    )
    kind = pl.col("option_type")
    return (
        rows.group_by([*EXPIRY_KEYS, "strike"])
        .agg(
            pl.col("t").first(),
            pl.col("fwd").first(),
            call=pl.col("usd").filter(kind == "C").first(),
            put=pl.col("usd").filter(kind == "P").first(),
        )
        .sort([*EXPIRY_KEYS, "strike"])
    )


def expiry_variances(frame: pl.DataFrame) -> pl.DataFrame:
    """The strip variance ``var`` (annualised) of each snapshot's expiry.

    Columns: the snapshot keys, ``expiry_timestamp``, ``t``, ``fwd``, ``k0``, ``var`` and the
    number of strikes ``below`` and ``above`` ``k0``. Expiries without a strike at or below the
    forward are left out.
    """
    k = pl.col("strike")
    strikes = _strikes(frame).with_columns(k0=k.filter(k <= pl.col("fwd")).max().over(EXPIRY_KEYS))
    otm = (
        pl.when(k < pl.col("k0"))
        .then("put")
        .when(k > pl.col("k0"))
        .then("call")
        .otherwise(pl.mean_horizontal("call", "put"))
    )
    strikes = strikes.with_columns(q=otm).drop_nulls(["k0", "q"])
    prev, nxt = k.shift(1).over(EXPIRY_KEYS), k.shift(-1).over(EXPIRY_KEYS)
    dk = (
        pl.when(prev.is_null())
        .then(nxt - k)
        .when(nxt.is_null())
        .then(k - prev)
        .otherwise((nxt - prev) / 2)
    )
    t, fwd, k0 = pl.col("t"), pl.col("fwd"), pl.col("k0")
    return (
        strikes.with_columns(dk=dk)
        .group_by(EXPIRY_KEYS)
        .agg(
            t.first(),
            fwd.first(),
            k0.first(),
            strip=(pl.col("dk") / k**2 * pl.col("q")).sum(),
            below=(k < k0).sum(),
            above=(k > k0).sum(),
        )
        .with_columns(var=(2 * pl.col("strip") - (fwd / k0 - 1) ** 2) / t)
        .drop("strip")
        .sort(EXPIRY_KEYS)
    )


def iv_index(frame: pl.DataFrame) -> pl.DataFrame:
    """The DVOL-style index (percent) of every snapshot with expiries bracketing 30 days.

    Columns: ``underlying``, ``harvest_time``, ``index``, and the bracketing expiries' days
    ``near_days`` and ``next_days``. Frames in the ``../shared`` snapshot schema, contract fields
    complete (rows without them are skipped).
    """
    enough = (pl.col("below") >= MIN_STRIKES_PER_SIDE) & (pl.col("above") >= MIN_STRIKES_PER_SIDE)
    usable = expiry_variances(frame).filter(enough & (pl.col("var") > 0))
    at30 = variance_at(usable, "var", T30)
    return at30.select(
        *SNAPSHOT,
        index=100 * pl.col("var_at").sqrt(),
        near_days=pl.col("t_near") * DAYS_PER_YEAR,
        next_days=pl.col("t_next") * DAYS_PER_YEAR,
    )

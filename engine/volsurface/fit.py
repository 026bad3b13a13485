"""Fit the vol-surface model to real Deribit chain snapshots, and measure its error.

The model (:class:`engine.config.VolSurfaceParams`, ``docs/volsurface.md``) shapes a 30-day ATM
level into an IV per strike and expiry. The data are snapshot frames in the ``../shared`` schema
with their contract fields complete (:func:`engine.calibration.chains.conform_chain` fills them
from the instrument names). Per snapshot (``underlying``, ``harvest_time``):

1. Rows: options with strike, expiry, mark IV and forward; ``T`` in ACT/365 years to the 08:00 UTC
   expiry, ``k = ln(K / F)`` on the row's forward.
2. ATM IV of each expiry: the calls' ``mark_iv`` interpolated linearly in ``k`` at 0.
3. The 30-day ATM IV: total variance ``atm² T`` interpolated linearly in ``T`` at 30 days, between
   the expiries bracketing 30 days (:func:`cache.ivindex.variance_at`).
4. ``term_beta``: least squares of ``ln(atm / atm30)`` on ``ln(max(T, 1 d) / 30 d)``.
5. ``skew``, ``curvature``: least squares of ``mark_iv / atm − 1`` on ``x`` and ``x²`` over calls
   with ``|x| ≤ 3`` and at least a day to expiry (``x = k / (atm √T)``).
6. ``basis_annual``: least squares of ``ln(F_T / F_shortest)`` on ``T − T_shortest``.

:func:`surface_errors` measures fitted parameters on (other) snapshots, in vol points:
``term`` (the ATM IV of each expiry from the 30-day ATM IV), ``smile`` (each call's IV from its
expiry's own ATM IV), ``surface`` (each call's IV from the 30-day ATM IV: the whole model as the
engine uses it); and ``basis`` (annualised, expiries at least :data:`BASIS_MIN_SPAN_DAYS` beyond
the shortest: over shorter spans a forward's noise annualises into nonsense).
"""

from dataclasses import dataclass

import numpy as np
import polars as pl

from cache.ivindex import SNAPSHOT, T30, variance_at
from cache.timeutil import DAYS_PER_YEAR, SECONDS_PER_YEAR
from engine.config import VolSurfaceParams
from engine.volsurface import surface_args
from engine.volsurface.nb import surface_iv_nb

MIN_T = 1 / DAYS_PER_YEAR
MAX_ABS_X = 3.0
BASIS_MIN_SPAN_DAYS = 7.0
PARAM_DECIMALS = 3
EXPIRY = [*SNAPSHOT, "expiry"]


def prepare_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Options with strike, expiry, mark IV and forward, with ``t`` (years) and ``k = ln(K/F)``."""
    expiry = (pl.col("expiry_timestamp") * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC"))
    return (
        frame.filter(
            pl.col("underlying").is_not_null()
            & pl.col("strike").is_not_null()
            & pl.col("expiry_timestamp").is_not_null()
            & (pl.col("mark_iv") > 0)
            & (pl.col("underlying_price") > 0)
        )
        .with_columns(
            t=(expiry - pl.col("harvest_time")).dt.total_seconds() / SECONDS_PER_YEAR,
            k=(pl.col("strike") / pl.col("underlying_price")).log(),
        )
        .filter(pl.col("t") > 0)
    )


def atm_table(rows: pl.DataFrame) -> pl.DataFrame:
    """Per expiry of each snapshot: ``t``, ``atm`` (fraction), ``forward``, and the snapshot's
    ``atm30``; snapshots without expiries bracketing 30 days are left out."""
    k, iv = pl.col("k"), pl.col("mark_iv") / 100
    below, above = k <= 0, k >= 0
    per_expiry = (
        rows.filter(pl.col("option_type") == "C")
        .sort(*EXPIRY, "k")
        .group_by(EXPIRY, maintain_order=True)
        .agg(
            pl.col("t").first(),
            forward=pl.col("underlying_price").first(),
            k_lo=k.filter(below).last(),
            k_hi=k.filter(above).first(),
            iv_lo=iv.filter(below).last(),
            iv_hi=iv.filter(above).first(),
        )
        .drop_nulls(["k_lo", "k_hi"])
    )
    gap = pl.col("k_hi") - pl.col("k_lo")
    atm = pl.when(gap > 0).then(
        pl.col("iv_lo") + (pl.col("iv_hi") - pl.col("iv_lo")) * -pl.col("k_lo") / gap
    )
    per_expiry = per_expiry.select(*EXPIRY, "t", "forward", atm=atm.otherwise(pl.col("iv_lo")))
    atm30 = variance_at(per_expiry.with_columns(var=pl.col("atm") ** 2), "var")
    return per_expiry.join(
        atm30.select(*SNAPSHOT, atm30=pl.col("var_at").sqrt()), on=SNAPSHOT
    ).sort(EXPIRY)


def smile_rows(rows: pl.DataFrame, atm: pl.DataFrame) -> pl.DataFrame:
    """Calls with their expiry's ``atm`` and ``atm30`` and ``x``, where the smile is fitted."""
    calls = rows.filter(pl.col("option_type") == "C").join(
        atm.select(*EXPIRY, "atm", "atm30"), on=EXPIRY
    )
    calls = calls.with_columns(x=pl.col("k") / (pl.col("atm") * pl.col("t").sqrt()))
    return calls.filter((pl.col("x").abs() <= MAX_ABS_X) & (pl.col("t") >= MIN_T)).select(
        *EXPIRY, "t", "k", "x", "mark_iv", "atm", "atm30"
    )


@dataclass(frozen=True)
class SurfaceData:
    """What the fit reads: the ATM table (per expiry) and the smile rows (per call)."""

    atm: pl.DataFrame
    smile: pl.DataFrame

    @classmethod
    def from_frames(cls, frames: list[pl.DataFrame]) -> "SurfaceData":
        """Build the tables from snapshot frames (contract fields complete)."""
        rows = pl.concat(
            [prepare_rows(f.select(sorted(f.columns))) for f in frames], how="diagonal"
        )
        atm = atm_table(rows)
        return cls(atm=atm, smile=smile_rows(rows, atm))


def _basis_spans(atm: pl.DataFrame) -> pl.DataFrame:
    """Expiries after each snapshot's shortest: ``dt`` (years) and ``ln(F / F_shortest)``."""
    first = (
        atm.sort("t").group_by(SNAPSHOT).agg(t0=pl.col("t").first(), f0=pl.col("forward").first())
    )
    log_ratio = (pl.col("forward") / pl.col("f0")).log()
    return (
        atm.join(first, on=SNAPSHOT)
        .filter(pl.col("t") > pl.col("t0"))
        .select(*SNAPSHOT, dt=pl.col("t") - pl.col("t0"), log_ratio=log_ratio)
    )


def fit_params(atm: pl.DataFrame, smile: pl.DataFrame) -> VolSurfaceParams:
    """The fitted parameters (rounded to :data:`PARAM_DECIMALS`) of an ATM table and smile rows."""
    tt = np.log(np.maximum(atm.get_column("t").to_numpy(), MIN_T) / T30)
    yy = np.log((atm.get_column("atm") / atm.get_column("atm30")).to_numpy())
    term_beta = float(tt @ yy / (tt @ tt))

    spans = _basis_spans(atm)
    dt = spans.get_column("dt").to_numpy()
    basis = float(dt @ spans.get_column("log_ratio").to_numpy() / (dt @ dt))

    x = smile.get_column("x").to_numpy()
    y = (smile.get_column("mark_iv") / 100 / smile.get_column("atm")).to_numpy() - 1
    skew, curvature = np.linalg.lstsq(np.c_[x, x * x], y, rcond=None)[0]
    return VolSurfaceParams(
        term_beta=round(term_beta, PARAM_DECIMALS),
        skew=round(float(skew), PARAM_DECIMALS),
        curvature=round(float(curvature), PARAM_DECIMALS),
        basis_annual=round(basis, PARAM_DECIMALS),
    )


def _ivs(level: np.ndarray, k: np.ndarray, t: np.ndarray, args: tuple[float, ...]) -> np.ndarray:
    """IVs in vol points from the surface kernel, one call per row."""
    rows = zip(level, k, t, strict=True)
    return 100 * np.array([surface_iv_nb(a, kk, tt, *args) for a, kk, tt in rows])


def surface_errors(
    params: VolSurfaceParams, atm: pl.DataFrame, smile: pl.DataFrame
) -> dict[str, np.ndarray]:
    """Signed errors of ``params`` on an ATM table and smile rows (see the module docstring)."""
    args = surface_args(params.model_copy(update={"atm_over_index": 1.0}))  # levels are ATM
    flat = (1.0, 0.0, *args[2:])  # no term structure: the level is the expiry's own ATM IV
    a_t = atm.get_column("t").to_numpy()
    term = _ivs(atm.get_column("atm30").to_numpy(), np.zeros(a_t.size), a_t, args)
    s_k, s_t = smile.get_column("k").to_numpy(), smile.get_column("t").to_numpy()
    quoted = smile.get_column("mark_iv").to_numpy()
    spans = _basis_spans(atm).filter(pl.col("dt") >= BASIS_MIN_SPAN_DAYS / DAYS_PER_YEAR)
    basis = (spans.get_column("log_ratio") / spans.get_column("dt")).to_numpy()
    return {
        "term": term - 100 * atm.get_column("atm").to_numpy(),
        "smile": _ivs(smile.get_column("atm").to_numpy(), s_k, s_t, flat) - quoted,
        "surface": _ivs(smile.get_column("atm30").to_numpy(), s_k, s_t, args) - quoted,
        "basis": params.basis_annual - basis,
    }

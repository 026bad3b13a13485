"""The error tables of a model check: statistics of :func:`compared_calls` rows per bucket.

Every table lists its non-empty delta × DTE buckets (DTE first, then delta, in bucket order)
and ends with the pooled row, labelled ``all``. Errors are model minus market; medians and 90th
percentiles (linear interpolation) are over the rows the table counts.
"""

import math

import polars as pl

from engine.modelcheck.compare import ALL, DELTA_BUCKETS, DTE_BUCKETS
from engine.modelcheck.report import (
    FillErrorCell,
    ForwardErrorCell,
    IvErrorCell,
    PremiumErrorCell,
)

BUCKETS = ("delta_bucket", "dte_bucket_days")
SIDES = ("bid", "ask")


def _abs_p90(e: pl.Expr) -> pl.Expr:
    return e.abs().quantile(0.9, "linear")


def _table(rows: pl.DataFrame, aggs: dict[str, pl.Expr], by: tuple[str, ...], n: str) -> list:
    """``aggs`` per bucket of ``by`` with ``n`` > 0, in bucket order, then the pooled row."""
    order = {"delta_bucket": DELTA_BUCKETS, "dte_bucket_days": DTE_BUCKETS}
    ranks = [pl.col(c).replace_strict(order[c], range(len(order[c]))) for c in reversed(by)]
    cells = rows.group_by(list(by)).agg(**aggs).filter(pl.col(n) > 0).sort(ranks)
    pooled = rows.select(**aggs).with_columns(pl.lit(ALL).alias(c) for c in by)
    return [_finite(row) for row in (*cells.to_dicts(), *pooled.to_dicts())]


def _finite(row: dict) -> dict:
    """A table row with NaN and infinities (no data behind a statistic) as None."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def iv_error(rows: pl.DataFrame) -> list[IvErrorCell]:
    """The model IV (model forward) against the recorded mark IV, in vol points."""
    priced = rows.filter(pl.col("model_iv_pct").is_not_nan())
    err = pl.col("model_iv_pct") - pl.col("iv_pct")
    aggs = {
        "n": pl.len(),
        "median_error_vol_points": err.median(),
        "median_abs_error_vol_points": err.abs().median(),
        "p90_abs_error_vol_points": _abs_p90(err),
        "median_error_at_recorded_forward_vol_points": (
            pl.col("model_iv_at_recorded_forward_pct") - pl.col("iv_pct")
        ).median(),
    }
    return [IvErrorCell(**c) for c in _table(priced, aggs, BUCKETS, "n")]


def premium_error(rows: pl.DataFrame) -> list[PremiumErrorCell]:
    """The model mark against the recorded mark, in coin and relative to the recorded mark."""
    priced = rows.filter(pl.col("model_mark_coin").is_not_nan() & (pl.col("mark_coin") > 0))
    err = pl.col("model_mark_coin") - pl.col("mark_coin")
    rel = 100.0 * err / pl.col("mark_coin")
    aggs = {
        "n": pl.len(),
        "median_error_coin": err.median(),
        "median_rel_error_pct": rel.median(),
        "median_abs_rel_error_pct": rel.abs().median(),
        "p90_abs_rel_error_pct": _abs_p90(rel),
    }
    return [PremiumErrorCell(**c) for c in _table(priced, aggs, BUCKETS, "n")]


def fill_error(rows: pl.DataFrame) -> list[FillErrorCell]:
    """Modelled bid and ask against the recorded ones where the side was quoted: the spread
    model on the recorded mark (``spread_*``) and the model's own quote (``full_*``)."""
    cells = []
    mark = pl.col("mark_coin")
    for side in SIDES:
        quoted = pl.col(f"{side}_coin").is_not_nan() & (mark > 0)
        priced = quoted & pl.col(f"model_{side}_coin").is_not_nan()
        aggs: dict[str, pl.Expr] = {}
        for kind, ok in (("spread", quoted), ("full", priced)):
            model = "spread" if kind == "spread" else "model"
            err = (pl.col(f"{model}_{side}_coin") - pl.col(f"{side}_coin")).filter(ok)
            aggs |= {
                f"n_{kind}": ok.sum(),
                f"{kind}_median_error_coin": err.median(),
                f"{kind}_median_error_pct_of_mark": (100.0 * err / mark.filter(ok)).median(),
                f"{kind}_p90_abs_error_pct_of_mark": _abs_p90(100.0 * err / mark.filter(ok)),
            }
        cells += [FillErrorCell(side=side, **c) for c in _table(rows, aggs, BUCKETS, "n_spread")]
    return cells


def forward_error(rows: pl.DataFrame, basis_annual: float) -> list[ForwardErrorCell]:
    """The model's forward against the recorded one, per expiry seen at an instant.

    The recorded forward of an expiry is the median of its calls' (Deribit's forward can move
    within a snapshot); the implied basis is ``ln(forward / spot) / T``.
    """
    expiries = rows.group_by("time", "expiry").agg(
        pl.col("dte_bucket_days").first(),
        pl.col("forward_usd").median(),
        pl.col("model_forward_usd").first(),
        pl.col("spot_usd").first(),
        pl.col("t_years").first(),
    )
    err = 100.0 * (pl.col("model_forward_usd") / pl.col("forward_usd") - 1.0)
    implied = 100.0 * (pl.col("forward_usd") / pl.col("spot_usd")).log() / pl.col("t_years")
    aggs = {
        "n": pl.len(),
        "median_error_pct": err.median(),
        "p90_abs_error_pct": _abs_p90(err),
        "median_implied_basis_annual_pct": implied.median(),
    }
    cells = _table(expiries, aggs, ("dte_bucket_days",), "n")
    return [ForwardErrorCell(**c, model_basis_annual_pct=100.0 * basis_annual) for c in cells]

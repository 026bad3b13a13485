"""Fit the candidate-IV model to real Deribit chain snapshots.

Run ``python -m engine.volsurface.fit ../shared/data/deribit_chain_snapshots/*.parquet`` to print
the fitted parameters and their error. The steps, per snapshot (``harvest_time``):

1. ATM IV of each expiry: ``mark_iv`` interpolated linearly in log-moneyness at ``K = F``.
2. The 30-day ATM IV (our stand-in for DVOL, the IV index the model starts from): total variance
   ``atm² T`` interpolated linearly in ``T`` at 30 days.
3. ``term_beta``: least squares of ``ln(atm / atm30)`` on ``ln(max(T, 1 d) / 30 d)``.
4. ``skew``, ``curvature``: least squares of ``mark_iv / atm − 1`` on ``x`` and ``x²`` over calls
   with ``|x| ≤ 3`` and at least a day to expiry.
5. ``basis_annual``: least squares of ``ln(F_T / F_shortest)`` on ``T − T_shortest``.

Rows from the early recorder without ``strike``/``expiry`` are skipped (their names are parsed
elsewhere; here every snapshot has enough complete rows).
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from cache.timeutil import SECONDS_PER_YEAR
from engine.config import VolSurfaceParams
from engine.volsurface import surface_args
from engine.volsurface.nb import surface_iv_nb

T30 = 30 / 365
MIN_T = 1 / 365


@dataclass(frozen=True)
class FitReport:
    """Fitted parameters and how well the model reproduces ``mark_iv`` (vol points)."""

    params: VolSurfaceParams
    rows: int
    rmse_vol_pts: float
    median_abs_err_vol_pts: float
    p90_abs_err_vol_pts: float


def _prepare(df: pl.DataFrame) -> pl.DataFrame:
    expiry = (pl.col("expiry_timestamp") * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC"))
    return (
        df.filter(
            pl.col("strike").is_not_null()
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


def _atm_table(df: pl.DataFrame) -> pl.DataFrame:
    rows = []
    calls = df.filter(pl.col("option_type") == "C").sort("harvest_time", "expiry", "k")
    for (ht, exp), g in calls.group_by(["harvest_time", "expiry"], maintain_order=True):
        k = g.get_column("k").to_numpy()
        if k.min() > 0 or k.max() < 0:
            continue
        atm = float(np.interp(0.0, k, g.get_column("mark_iv").to_numpy())) / 100
        rows.append((ht, exp, float(g.get_column("t")[0]), atm, float(g["underlying_price"][0])))
    table = pl.DataFrame(
        rows, schema=["harvest_time", "expiry", "t", "atm", "forward"], orient="row"
    )
    atm30 = []
    for (ht,), g in table.sort("t").group_by(["harvest_time"], maintain_order=True):
        t, a = g.get_column("t").to_numpy(), g.get_column("atm").to_numpy()
        if t.min() <= T30 <= t.max():
            atm30.append((ht, float(np.sqrt(np.interp(T30, t, a * a * t) / T30))))
    a30 = pl.DataFrame(atm30, schema=["harvest_time", "atm30"], orient="row")
    return table.join(a30, on="harvest_time")


def fit_surface(frames: list[pl.DataFrame]) -> FitReport:
    """Fit the model to snapshot frames (``../shared`` schema) and measure its error."""
    df = pl.concat([_prepare(f.select(sorted(f.columns))) for f in frames], how="diagonal")
    atm = _atm_table(df)

    tt = np.log(np.maximum(atm["t"].to_numpy(), MIN_T) / T30)
    yy = np.log(atm["atm"].to_numpy() / atm["atm30"].to_numpy())
    term_beta = float(tt @ yy / (tt @ tt))

    first = (
        atm.sort("t")
        .group_by("harvest_time")
        .agg(pl.col("t").first().alias("t0"), pl.col("forward").first().alias("f0"))
    )
    b = atm.join(first, on="harvest_time").filter(pl.col("t") > pl.col("t0"))
    dt = (b["t"] - b["t0"]).to_numpy()
    basis = float(dt @ np.log((b["forward"] / b["f0"]).to_numpy()) / (dt @ dt))

    rows = df.filter(pl.col("option_type") == "C").join(
        atm.select("harvest_time", "expiry", "atm", "atm30"), on=["harvest_time", "expiry"]
    )
    rows = rows.with_columns(x=pl.col("k") / (pl.col("atm") * pl.col("t").sqrt()))
    fit_rows = rows.filter((pl.col("x").abs() <= 3) & (pl.col("t") >= MIN_T))
    x = fit_rows["x"].to_numpy()
    y = fit_rows["mark_iv"].to_numpy() / 100 / fit_rows["atm"].to_numpy() - 1
    skew, curvature = np.linalg.lstsq(np.c_[x, x * x], y, rcond=None)[0]

    params = VolSurfaceParams(
        term_beta=round(term_beta, 3),
        skew=round(float(skew), 3),
        curvature=round(float(curvature), 3),
        basis_annual=round(basis, 3),
    )
    args = surface_args(params)
    err = np.array(
        [
            100 * surface_iv_nb(a30, k, t, *args) - iv
            for a30, k, t, iv in fit_rows.select("atm30", "k", "t", "mark_iv").iter_rows()
        ]
    )
    abs_err = np.abs(err)
    return FitReport(
        params=params,
        rows=len(err),
        rmse_vol_pts=float(np.sqrt(np.mean(err**2))),
        median_abs_err_vol_pts=float(np.median(abs_err)),
        p90_abs_err_vol_pts=float(np.quantile(abs_err, 0.9)),
    )


def main(paths: list[str]) -> None:
    """Print the fit of the snapshot files given on the command line."""
    report = fit_surface([pl.read_parquet(Path(p)) for p in paths])
    print(report.params.model_dump_json(indent=2))
    print(
        f"rows={report.rows} rmse={report.rmse_vol_pts:.2f} vol pts "
        f"median|err|={report.median_abs_err_vol_pts:.2f} p90|err|={report.p90_abs_err_vol_pts:.2f}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

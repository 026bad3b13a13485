"""The calibration's ``surface`` block: smile, term structure and forward basis, with errors.

The parameters are those of :class:`engine.config.VolSurfaceParams`, fitted on BTC and ETH
together as the engine uses one set for both (:mod:`engine.volsurface.fit`); the guards
(``min_ratio``, ``max_ratio``, ``min_term_days``) are not fitted and stay out of the block.
"""

from engine.calibration.oos import leave_one_day_out, summary
from engine.volsurface.fit import BASIS_MIN_SPAN_DAYS, SurfaceData, fit_params, surface_errors

FITTED = ("term_beta", "skew", "curvature", "basis_annual")
UNITS = {"term": "vol points", "smile": "vol points", "surface": "vol points", "basis": "per year"}


def surface_block(data: SurfaceData) -> dict:
    """Parameters fitted on all snapshots, their in-sample and leave-one-day-out errors."""
    if data.atm.is_empty() or data.smile.is_empty():
        raise ValueError("no snapshot with ATM calls and expiries bracketing 30 days")
    params = fit_params(data.atm, data.smile)
    in_sample = surface_errors(params, data.atm, data.smile)
    errs, days = leave_one_day_out([data.atm, data.smile], fit_params, surface_errors)
    return {
        "params": {name: getattr(params, name) for name in FITTED},
        "rows": {k: int(v.size) for k, v in in_sample.items()},
        "basis_min_span_days": BASIS_MIN_SPAN_DAYS,
        "units": UNITS,
        "in_sample": {k: summary(v) for k, v in in_sample.items()},
        "leave_one_day_out": {"days": days} | {k: summary(v) for k, v in errs.items()},
    }

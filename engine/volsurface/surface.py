"""Candidate implied vol: the 30-day IV index shaped by a term structure and a smile.

``iv(K, T) = atm(T) * clip(1 + skew*x + curvature*x², min_ratio, max_ratio)`` with
``atm(T) = iv_index * atm_over_index * (max(T, min_term) / 30d) ** term_beta`` and
``x = ln(K/F) / (atm * sqrt(T))`` (standardised moneyness). Default parameters are fitted to
real Deribit snapshots by :mod:`engine.volsurface.fit` (``atm_over_index`` by the calibration);
the fits and their errors are in ``docs/volsurface.md``.
"""

import numpy as np

from engine.config import VolSurfaceParams
from engine.volsurface.nb import quote_calls_array_nb, surface_iv_nb


def surface_args(p: VolSurfaceParams) -> tuple[float, ...]:
    """The parameter tuple the kernels take after ``(iv_index, log_moneyness, t_years)``.

    ``p.atm_over_index`` must be resolved: a :class:`engine.config.StrategyConfig` fills it in
    from the calibration for its underlying.
    """
    if p.atm_over_index is None:
        raise ValueError(
            "vol_surface.atm_over_index is unresolved: build the surface through a strategy "
            "config (it takes the calibration's ratio for the underlying) or set it"
        )
    return (p.atm_over_index, p.term_beta, p.skew, p.curvature, p.min_ratio, p.max_ratio,
            p.min_term_days / 365.0)  # fmt: skip


def candidate_iv(
    iv_index_pct: float, strike: float, forward: float, t_years: float, params: VolSurfaceParams
) -> float:
    """IV in percent of a strike, from the IV index in percent."""
    if not (forward > 0 and strike > 0 and t_years > 0 and iv_index_pct > 0):
        raise ValueError("candidate_iv needs positive iv_index_pct, strike, forward and t_years")
    k = float(np.log(strike / forward))
    return 100.0 * surface_iv_nb(iv_index_pct / 100.0, k, t_years, *surface_args(params))


def forward_price(spot: float, t_years: float, params: VolSurfaceParams) -> float:
    """Forward of an expiry ``t_years`` away: ``spot * exp(basis_annual * T)``."""
    return float(spot * np.exp(params.basis_annual * t_years))


def quote_calls(
    forward, strike, t_years, iv_index_pct, params: VolSurfaceParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calls quoted on the surface, as the model chain quotes them: arrays broadcast together.

    Returns ``(iv_pct, mark_coin, delta)``: the surface IV in percent at ``ln(strike/forward)``
    and ``t_years``, the Black-76 price on ``forward`` in coin (USD price / forward) and the
    Black-76 call delta. An element without a positive forward, strike, time or index is NaN.
    """
    arrays = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (forward, strike, t_years, iv_index_pct))
    )
    f, k, t, index = (np.ascontiguousarray(a).ravel() for a in arrays)
    iv, price_usd, delta = np.empty(f.size), np.empty(f.size), np.empty(f.size)
    quote_calls_array_nb(f, k, t, index / 100.0, surface_args(params), iv, price_usd, delta)
    shape = arrays[0].shape
    return (100.0 * iv).reshape(shape), (price_usd / f).reshape(shape), delta.reshape(shape)

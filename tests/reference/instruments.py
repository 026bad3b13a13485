"""Slow, obvious twins of the kernels in engine/instruments/nb.py (compared by hypothesis tests).

Plain Python on purpose: sets, sorted lists and exact ``Decimal`` arithmetic, one time or one band
at a time.
"""

import math
from decimal import Decimal

import numpy as np

_EDGE_TOL = 1e-9


def listed_expiries_batch_ref(
    times_ns: np.ndarray, expiry_ns: np.ndarray, listing_ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Twin of ``listed_expiries_nb``: per time, every expiry with ``listing <= t < expiry``."""
    offsets, out = [0], []
    for t in times_ns.tolist():
        live = sorted(
            {
                e
                for e, lst in zip(expiry_ns.tolist(), listing_ns.tolist(), strict=True)
                if lst <= t < e
            }
        )
        out.extend(live)
        offsets.append(len(out))
    return np.asarray(offsets, np.int64), np.asarray(out, np.int64)


def decimal_value_ref(q: int, e: int) -> float:
    """Twin of ``decimal_value_nb``: the double nearest the decimal ``q * 10**e``."""
    return float(Decimal(q).scaleb(e))


def nice_step_ref(x: float, mantissas: list[float], round_up: bool) -> tuple[int, int]:
    """Twin of ``nice_step_nb``: scan nice numbers ``m * 10**d`` over a wide range of decades."""
    candidates = [
        (round(m * 10), d - 1, decimal_value_ref(round(m * 10), d - 1))
        for d in range(-30, 31)
        for m in mantissas
    ]
    if round_up:
        q, e, _ = min((c for c in candidates if c[2] >= x * (1.0 - _EDGE_TOL)), key=lambda c: c[2])
    else:
        q, e, _ = min(candidates, key=lambda c: (max(c[2] / x, x / c[2]), c[2]))
    return q, e


def strike_grid_ref(
    spot_usd: float,
    t_years: float,
    monthly: bool,
    sigma: float,
    tier_max_years: list[float],
    tier_rel_step: list[float],
    monthly_min_tier: int,
    band_sd: list[float],
    band_step_factor: list[float],
    t_floor_years: float,
    mantissas: list[float],
) -> np.ndarray:
    """Twin of ``strike_grid_nb``: the union of the bands' covering multiples, as exact decimals."""
    tier = next(
        (j for j, bound in enumerate(tier_max_years) if t_years <= bound), len(tier_max_years)
    )
    if monthly and 0 < tier < monthly_min_tier:
        tier = monthly_min_tier
    inner_q, inner_e = nice_step_ref(tier_rel_step[tier] * spot_usd, mantissas, False)
    inner_step = decimal_value_ref(inner_q, inner_e)
    scale = sigma * math.sqrt(max(t_years, t_floor_years))
    strikes: set[Decimal] = set()
    for width, factor in zip(band_sd, band_step_factor, strict=True):
        q, e = nice_step_ref(inner_step * factor, mantissas, True)
        step = Decimal(q).scaleb(e)
        lo = spot_usd * math.exp(-width * scale) / float(step)
        hi = spot_usd * math.exp(width * scale) / float(step)
        first = max(math.floor(lo * (1.0 + _EDGE_TOL)), 1)
        last = math.ceil(hi * (1.0 - _EDGE_TOL))
        strikes.update(j * step for j in range(first, last + 1))
    return np.array(sorted(float(k) for k in strikes), dtype=np.float64)

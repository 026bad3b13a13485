"""Slow, obvious twin of the scoring numba kernel (``engine/scoring/nb.py``).

Plain Python on purpose: each part of the score written out with the math module, one candidate
at a time.
"""

import math


def score_ref(
    yld,
    ratio,
    delta,
    dte,
    regime,
    target_delta,
    target_dte,
    w_yield,
    w_rich,
    w_delta,
    w_dte,
    yield_ref,
    delta_width,
    dte_log_width,
    bull_penalty,
    bear_penalty,
):
    """Twin of ``engine.scoring.nb.score_nb``, written out plainly."""
    yield_part = yld / yield_ref
    yield_part = 0.0 if yield_part < 0 else (1.0 if yield_part > 1 else yield_part)
    if math.isnan(ratio):
        rich = 0.5
    else:
        rich = (ratio - 0.8) / 0.6
        rich = 0.0 if rich < 0 else (1.0 if rich > 1 else rich)
    delta_part = math.exp(-0.5 * ((delta - target_delta) / delta_width) ** 2)
    dte_part = math.exp(-0.5 * (math.log(max(dte, 1e-6) / target_dte) / dte_log_width) ** 2)
    total = w_yield * yield_part + w_rich * rich + w_delta * delta_part + w_dte * dte_part
    if regime == 1:
        total -= bull_penalty
    if regime == -1:
        total -= bear_penalty
    return min(10.0, max(0.0, total))

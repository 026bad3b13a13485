"""Slow twin of the fill model's kernels (``engine.fills.nb``), written from its definition.

The vega comes from the stdlib's exact normal quantile; the grid rounding from the Decimal twins
of :mod:`tests.reference.policy`. Parameters are read from the calibration document by name, not
through the engine's slot layout.
"""

import math
from statistics import NormalDist

from tests.reference.policy import tick_down_ref, tick_up_ref

_N = NormalDist()
TICKS = (0.0001, 0.005, 0.0005)  # Deribit's BTC/ETH option grid: tick, step above, tick above


def _tick(price: float) -> float:
    return TICKS[2] if price >= TICKS[1] else TICKS[0]


def spread_terms_ref(mark: float, delta: float, dte: float) -> list[float]:
    """The ten terms of the gap, in the order of the document's ``features``."""
    vega = _N.pdf(_N.inv_cdf(delta)) * math.sqrt(dte / 365) / 100
    ln_dte = math.log(dte)
    return [_tick(mark), vega, vega * ln_dte, mark, mark * delta, mark * ln_dte, vega * delta,
            1e-4, mark * math.log(mark), mark * delta * delta]  # fmt: skip


def gap_ref(model: dict, side: str, mark: float, delta: float, dte: float) -> float:
    """Unrounded gap (coin) between the mark and ``side`` of one underlying's ``model`` block."""
    d = min(max(delta, model["delta_range"][0]), model["delta_range"][1])
    t = min(max(dte, model["dte_range_days"][0]), model["dte_range_days"][1])
    terms = spread_terms_ref(mark, d, t)
    return max(sum(c * x for c, x in zip(model[side], terms, strict=True)), 0.0)


def model_bid_ask_ref(model: dict, mark: float, delta: float, dte: float) -> tuple[float, float]:
    """Twin of ``model_bid_ask_nb`` (with ``at_mark`` off) for one underlying's model block."""
    if mark <= 0:
        return 0.0, TICKS[0]
    tick = _tick(mark)
    bid = tick_down_ref(
        max(mark - gap_ref(model, "bid", mark, delta, dte) + model["tick_shift"]["bid"] * tick, 0),
        *TICKS,
    )
    ask = tick_up_ref(
        mark + gap_ref(model, "ask", mark, delta, dte) - model["tick_shift"]["ask"] * tick, *TICKS
    )
    bid = min(bid, tick_down_ref(mark, *TICKS))
    ask = max(ask, tick_up_ref(mark, *TICKS))
    if ask <= bid:
        ask = tick_up_ref(bid + _tick(bid), *TICKS)
    return bid, ask

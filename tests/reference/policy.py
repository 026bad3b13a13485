"""Slow twins of the policy's price-grid kernels (``engine.policy.nb``), in exact decimals.

Plain Python on purpose: prices are converted to ``Decimal`` by their shortest repr, so the grid
arithmetic has no float rounding at all.
"""

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


def _step(price: Decimal, tick_size: float, step_above: float, step_tick: float) -> Decimal:
    return Decimal(repr(step_tick if price >= Decimal(repr(step_above)) else tick_size))


def tick_down_ref(price: float, tick_size: float, step_above: float, step_tick: float) -> float:
    """Twin of ``tick_down_nb``: the grid price at or below ``price``."""
    p = Decimal(repr(price))
    step = _step(p, tick_size, step_above, step_tick)
    return float((p / step).to_integral_value(ROUND_FLOOR) * step)


def tick_up_ref(price: float, tick_size: float, step_above: float, step_tick: float) -> float:
    """Twin of ``tick_up_nb``: the grid price at or above ``price``."""
    p = Decimal(repr(price))
    step = _step(p, tick_size, step_above, step_tick)
    return float((p / step).to_integral_value(ROUND_CEILING) * step)

"""What carrying out a decision costs: fill prices, trading and settlement fees, as Python calls.

Thin wrappers over the kernels of :mod:`engine.policy.nb`, for the agent's brokers; the replay
kernel calls the kernels directly, so a backtest and the agent fill and pay alike.
"""

from datetime import datetime

import numpy as np

from cache.timeutil import to_ns
from engine.config import FeeModel
from engine.enums import N_FEE_PARAMS, FeeParam
from engine.instruments.contracts import OptionSpec
from engine.policy.nb import (
    buyback_price_nb,
    sale_price_nb,
    settlement_fee_nb,
    settlement_value_nb,
    tick_down_nb,
    tick_up_nb,
    trade_fee_nb,
)


def fee_params(fees: FeeModel) -> np.ndarray:
    """The fee schedule as the kernels take it (slots of ``FeeParam``)."""
    out = np.empty(N_FEE_PARAMS)
    out[FeeParam.option_rate] = fees.option_fee_rate
    out[FeeParam.option_cap] = fees.option_fee_cap_pct / 100
    out[FeeParam.settlement_rate] = fees.settlement_fee_rate
    out[FeeParam.settlement_cap] = fees.settlement_fee_cap_pct / 100
    out[FeeParam.settlement_on_dailies] = float(fees.settlement_fee_on_dailies)
    return out


def trade_fee_coin(fees: FeeModel, quantity: float, price_coin: float) -> float:
    """Deribit's option trading fee (coin) for ``quantity`` contracts at ``price_coin``."""
    return float(trade_fee_nb(quantity, price_coin, fee_params(fees)))


def settlement_coin(
    fees: FeeModel, quantity: float, settlement_price_usd: float, strike: float, expiry: datetime
) -> tuple[float, float]:
    """``(value, fee)`` of a short call settling: coin paid per contract, fee for the quantity.

    The value is ``max(S − K, 0) / S``; the fee is nothing out of the money, nor on dailies
    unless the schedule says so.
    """
    value = float(settlement_value_nb(settlement_price_usd, strike))
    return value, float(settlement_fee_nb(quantity, value, to_ns(expiry), fee_params(fees)))


def sale_price_coin(mark: float, bid: float | None) -> float:
    """Where a sale fills: the bid when one is quoted, else the mark."""
    return float(sale_price_nb(mark, np.nan if bid is None else bid))


def buyback_price_coin(mark: float, ask: float | None) -> float:
    """Where a buy-back fills: the ask when one is quoted, else the mark."""
    return float(buyback_price_nb(mark, np.nan if ask is None else ask))


def sale_limit_coin(price: float, spec: OptionSpec) -> float:
    """A sale's limit price: ``price`` rounded down to the contract's tick grid."""
    return float(tick_down_nb(price, spec.tick_params()))


def buyback_limit_coin(price: float, spec: OptionSpec) -> float:
    """A buy-back's limit price: ``price`` rounded up to the contract's tick grid."""
    return float(tick_up_nb(price, spec.tick_params()))

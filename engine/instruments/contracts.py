"""Deribit's BTC/ETH option contracts: the price tick grid and the trade sizes.

Read off the recorded ``public/get_instruments`` replies in ``../shared`` (a test checks them):
``ETH-6JUL25-1500-C`` has ``tick_size`` 0.0001 coin with ``tick_size_steps``
``[{above_price: 0.005, tick_size: 0.0005}]``, ``min_trade_amount`` 1 and ``contract_size`` 1;
BTC options trade from 0.1 contract. The recorded BTC chains of December 2025 quote on the same
two-step grid (0.0017 coin below 0.005, multiples of 0.0005 above); BTC replies recorded in 2022
and 2024 show a flat 0.0005 tick, an older schedule this module does not model.
"""

from dataclasses import dataclass

import numpy as np

from engine.enums import N_TICK_PARAMS, TickParam


@dataclass(frozen=True)
class OptionSpec:
    """One underlying's option contract: coin prices per 1-coin contract, sizes in contracts."""

    tick_size: float  # coin, for prices below ``step_above``
    step_above: float  # coin price from which ``step_tick`` applies
    step_tick: float  # coin
    min_amount: float  # the smallest order, and the step of every order size
    contract_size: float = 1.0  # coin per contract

    def tick_params(self) -> np.ndarray:
        """The grid as the kernels take it (slots of ``TickParam``)."""
        out = np.empty(N_TICK_PARAMS)
        out[TickParam.tick_size] = self.tick_size
        out[TickParam.step_above] = self.step_above
        out[TickParam.step_tick] = self.step_tick
        return out


OPTION_SPECS = {
    "BTC": OptionSpec(tick_size=0.0001, step_above=0.005, step_tick=0.0005, min_amount=0.1),
    "ETH": OptionSpec(tick_size=0.0001, step_above=0.005, step_tick=0.0005, min_amount=1.0),
}

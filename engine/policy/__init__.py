"""The covered-call policy: what to do at one instant, what it costs, and how to say why.

- :mod:`engine.policy.nb`: the kernels — the decision at one instant (take-profit test, roll
  target, sale choice), fill prices, trading and settlement fees, the roll counter;
- :mod:`engine.policy.decide`: :func:`decide`, the same decision as a Python call (the agent's);
- :mod:`engine.policy.execution`: fills and fees as Python calls (the agent's brokers);
- :mod:`engine.policy.actions`: the table of actions and close reasons, and reason texts.
"""

from engine.policy.actions import ACTION_BY_NAME, ACTIONS, CLOSE_REASONS, reason_text
from engine.policy.decide import Decision, OpenCall, decide, policy_params
from engine.policy.execution import (
    buyback_price_coin,
    fee_params,
    sale_price_coin,
    settlement_coin,
    trade_fee_coin,
)

__all__ = [
    "ACTIONS",
    "ACTION_BY_NAME",
    "CLOSE_REASONS",
    "Decision",
    "OpenCall",
    "buyback_price_coin",
    "decide",
    "fee_params",
    "policy_params",
    "reason_text",
    "sale_price_coin",
    "settlement_coin",
    "trade_fee_coin",
]

"""The policy at one instant as a Python call: :func:`decide`, a thin wrapper over the kernels.

The live agent asks :func:`decide` at every cycle; the replay kernel calls
:func:`engine.policy.nb.decide_nb` itself at every instant of a backtest. Both therefore take the
same decisions from the same inputs: that is how the backtest and the live agent share one brain.
"""

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from cache.timeutil import to_ns
from engine.config import StrategyConfig
from engine.enums import N_CAND_FIELDS, N_POLICY_PARAMS, Action, Cand, PolicyParam
from engine.policy.actions import ACTIONS, reason_text
from engine.policy.nb import decide_nb, rolls_after_nb


@dataclass(frozen=True)
class OpenCall:
    """The covered call currently sold."""

    instrument_name: str
    strike: float  # USD
    expiry: datetime
    premium_coin: float  # received per contract
    open_time: datetime


@dataclass(frozen=True)
class Decision:
    """What to do now: buy the open call back (take-profit, roll), then sell ``sell`` (if any)."""

    code: int  # engine.enums.Action
    reason: str
    sell: dict | None = None  # the candidate row to sell (see engine.state.score_call)
    no_roll: int = -1  # engine.enums.NoRoll when a take-profit did not roll
    captured_share: float = math.nan  # of the open call's premium, NaN unless tested

    @property
    def action(self) -> str:
        """The action's name (``engine.policy.actions.ACTIONS``)."""
        return ACTIONS[self.code].name

    @property
    def buy_back(self) -> bool:
        """Whether the open call is bought back now."""
        return self.code in (Action.roll, Action.take_profit)

    @property
    def traded(self) -> bool:
        """Whether a call is sold now (a new sale or a roll)."""
        return self.sell is not None


def policy_params(cfg: StrategyConfig) -> np.ndarray:
    """The strategy's policy parameters as the kernels take them (slots of ``PolicyParam``)."""
    out = np.empty(N_POLICY_PARAMS)
    out[PolicyParam.tp_style] = 1.0 if cfg.exit_style == "tp_and_roll" else 0.0
    out[PolicyParam.min_score] = cfg.min_score_to_trade
    out[PolicyParam.tp_frac] = cfg.tp_threshold_pct / 100
    out[PolicyParam.max_rolls] = cfg.max_rolls_per_chain
    out[PolicyParam.min_dte_to_roll] = cfg.min_dte_to_roll
    return out


def candidate_rows(candidates: list[dict], keep: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The ``keep`` best candidate dicts as kernel rows (columns ``Cand``) and expiries (ns).

    The policy reads two rows at most: the best, and the next best when the best is the very
    call a take-profit closes. ``bid_price_coin`` (a recorded bid) is optional: NaN without it.
    """
    rows = np.full((keep, N_CAND_FIELDS), np.nan)
    exps = np.zeros(keep, np.int64)
    for k, c in enumerate(candidates[:keep]):
        for name in Cand._fields:
            value = c.get(name, math.nan) if name == "bid_price_coin" else c[name]
            rows[k, getattr(Cand, name)] = value
        exps[k] = to_ns(c["expiry"])
    return rows, exps


def decide(
    cfg: StrategyConfig,
    now: datetime,
    position: OpenCall | None,
    mark_coin: float | None,
    candidates: list[dict],
    rolls_in_chain: int,
    is_decision_time: bool = True,
) -> Decision:
    """Apply the policy at ``now`` (see :func:`engine.policy.nb.decide_nb`).

    ``candidates`` are sorted best first; ``mark_coin`` is the open call's mark now (None when
    unknown: no take-profit test). The caller settles an expired call before asking.
    """
    rows, exps = candidate_rows(candidates)
    is_open = position is not None
    code, rank, no_roll, share = decide_nb(
        to_ns(now),
        is_decision_time,
        is_open,
        position.premium_coin if is_open else math.nan,
        math.nan if mark_coin is None else mark_coin,
        position.strike if is_open else math.nan,
        to_ns(position.expiry) if is_open else 0,
        rolls_in_chain,
        rows,
        exps,
        len(candidates),
        policy_params(cfg),
    )
    sell = candidates[rank] if rank >= 0 else None
    best = candidates[0] if candidates else None
    reason = reason_text(
        code,
        best_instrument=best["instrument_name"] if best else None,
        best_score=best["score"] if best else math.nan,
        sold_instrument=sell["instrument_name"] if sell else None,
        sold_score=sell["score"] if sell else math.nan,
        min_score=cfg.min_score_to_trade,
        captured_share=share,
        tp_threshold_pct=cfg.tp_threshold_pct,
        no_roll=no_roll,
    )
    return Decision(int(code), reason, sell, int(no_roll), float(share))


def rolls_after(code: int, rolls_in_chain: int) -> int:
    """Rolls in the chain after action ``code`` (see :func:`engine.policy.nb.rolls_after_nb`)."""
    return int(rolls_after_nb(code, rolls_in_chain))

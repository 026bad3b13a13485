"""The covered-call policy as plain Python: what to do at one moment, and why.

The replay kernel (:func:`engine.replay.nb.replay_chunk_nb`) applies these same rules in numba; the
slow reference backtest (``tests/reference_backtest.py``) calls :func:`decide` and must match the
kernel trade for trade, and the live agent calls :func:`decide` at every cycle. That is how the
backtest and the live agent share one brain.

Order of events at a moment (the caller settles an expired call before asking):

1. with ``tp_and_roll``, an open call whose captured share of premium,
   ``(premium − mark) / premium``, reaches ``tp_threshold_pct`` is bought back; it is rolled into
   the best other candidate at once if the chain has rolls left, the closed call had at least
   ``min_dte_to_roll`` days left, and that candidate scores at least ``min_score_to_trade``;
2. at a decision moment with no open call, the best candidate is sold if it scores enough.
"""

from dataclasses import dataclass
from datetime import datetime

from engine.config import StrategyConfig

SELL = "sell"
POSITION_OPEN = "position_open"
NO_CANDIDATE = "no_candidate"
BELOW_THRESHOLD = "below_threshold"
ROLL = "roll"
TAKE_PROFIT = "take_profit"
NOT_A_DECISION = "not_a_decision"


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
    """What to do now: ``buy_back`` the open call, then ``sell`` a candidate (either optional)."""

    action: str
    reason: str
    buy_back: bool = False
    sell: dict | None = None  # a candidate row (see engine.state.score_call)

    @property
    def traded(self) -> bool:
        """Whether a call is sold now (a new sale or a roll)."""
        return self.sell is not None


def captured_share(premium_coin: float, mark_coin: float) -> float:
    """Share of the premium already earned: ``(premium − mark) / premium``."""
    return (premium_coin - mark_coin) / premium_coin


def roll_target(cfg: StrategyConfig, position: OpenCall, candidates: list[dict]) -> dict | None:
    """The best candidate other than the call being closed, if it scores enough.

    Rolling into the very option just bought back would only pay fees and the spread.
    """
    for cand in candidates:
        if cand["strike"] == position.strike and cand["expiry"] == position.expiry:
            continue
        return cand if cand["score"] >= cfg.min_score_to_trade else None
    return None


def decide(
    cfg: StrategyConfig,
    now: datetime,
    position: OpenCall | None,
    mark_coin: float | None,
    candidates: list[dict],
    rolls_in_chain: int,
    is_decision_time: bool = True,
) -> Decision:
    """Apply the policy at ``now``; ``candidates`` are sorted best first."""
    best = candidates[0] if candidates else None
    qualifies = best is not None and best["score"] >= cfg.min_score_to_trade
    if position is not None and cfg.exit_style == "tp_and_roll" and mark_coin is not None:
        into = roll_target(cfg, position, candidates)
        share = captured_share(position.premium_coin, mark_coin)
        if share >= cfg.tp_threshold_pct / 100:
            days_left = (position.expiry - now).total_seconds() / 86_400
            taken = f"{share:.0%} of the premium captured (threshold {cfg.tp_threshold_pct:g}%)"
            if (
                rolls_in_chain < cfg.max_rolls_per_chain
                and days_left >= cfg.min_dte_to_roll
                and into is not None
            ):
                return Decision(
                    ROLL,
                    f"{taken}: bought back {position.instrument_name}, rolled into "
                    f"{into['instrument_name']} (score {into['score']:.2f})",
                    buy_back=True,
                    sell=into,
                )
            why = (
                "roll limit reached"
                if rolls_in_chain >= cfg.max_rolls_per_chain
                else f"only {days_left:.2f} days were left"
                if days_left < cfg.min_dte_to_roll
                else "no candidate scores enough"
            )
            return Decision(
                TAKE_PROFIT,
                f"{taken}: bought back {position.instrument_name}; no roll ({why})",
                buy_back=True,
            )
    if not is_decision_time:
        return Decision(NOT_A_DECISION, "between decision times")
    if position is not None:
        return Decision(POSITION_OPEN, f"covered call {position.instrument_name} open: hold")
    if best is None:
        return Decision(NO_CANDIDATE, "no call within the DTE and delta bands")
    if not qualifies:
        return Decision(
            BELOW_THRESHOLD,
            f"best candidate {best['instrument_name']} scores {best['score']:.2f} < "
            f"{cfg.min_score_to_trade:g}",
        )
    return Decision(
        SELL,
        f"sold {best['instrument_name']} (score {best['score']:.2f} >= "
        f"{cfg.min_score_to_trade:g}, delta {best['delta']:.2f}, {best['dte']:.1f} DTE)",
        sell=best,
    )

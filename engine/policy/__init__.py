"""The covered-call policy: what to do at one instant, and why."""

from engine.policy.decide import (
    BELOW_THRESHOLD,
    NO_CANDIDATE,
    NOT_A_DECISION,
    POSITION_OPEN,
    ROLL,
    SELL,
    TAKE_PROFIT,
    Decision,
    OpenCall,
    captured_share,
    decide,
    roll_target,
)

__all__ = [
    "BELOW_THRESHOLD",
    "NOT_A_DECISION",
    "NO_CANDIDATE",
    "POSITION_OPEN",
    "ROLL",
    "SELL",
    "TAKE_PROFIT",
    "Decision",
    "OpenCall",
    "captured_share",
    "decide",
    "roll_target",
]

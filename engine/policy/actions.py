"""The table of actions and close reasons: code, name, label, description and reason text.

One table serves the replay (steps.parquet), the live agent (its journal and status), the API
(``GET /api/meta``) and the dashboard (the page's bootstrap JSON). A reason is rendered from its
action's template, so a backtest step and an agent decision that did the same thing say so in
the same words.
"""

import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from engine.enums import Action, CloseReason, NoRoll


@dataclass(frozen=True)
class ActionInfo:
    """One action: its code (:data:`engine.enums.Action`), name, label, meaning and reason."""

    code: int
    name: str
    label: str  # short, for tables
    description: str  # what it means, for a newcomer
    reason: str  # template; fields as in :data:`REASON_FIELDS`
    traded: bool  # a call was sold (a new sale or a roll)


@dataclass(frozen=True)
class CloseReasonInfo:
    """One close reason (:data:`engine.enums.CloseReason`)."""

    code: int
    name: str
    label: str
    description: str


# What a reason template may refer to (units as in the names).
REASON_FIELDS = (
    "best_instrument",  # the best candidate now
    "best_score",
    "sold_instrument",  # the call sold now (a sale or a roll)
    "sold_score",
    "min_score",  # min_score_to_trade
    "captured_share",  # of the open call's premium, as a fraction
    "tp_threshold_pct",
    "no_roll",  # why a take-profit did not roll (text of NO_ROLL_TEXT)
)

_TAKEN = (
    "took profit: {captured_share:.0%} of the premium captured (threshold {tp_threshold_pct:g}%)"
)
ACTIONS: tuple[ActionInfo, ...] = (
    ActionInfo(
        Action.sell, "sell", "sold a call",
        "No call was open and the best candidate scored enough: it was sold.",
        "sold {sold_instrument} (score {sold_score:.2f} >= {min_score:g})", True,
    ),
    ActionInfo(
        Action.position_open, "position_open", "holding",
        "A covered call is open: it is held (no second call is sold against the same coins).",
        "a covered call is open: hold", False,
    ),
    ActionInfo(
        Action.no_candidate, "no_candidate", "no candidate",
        "No listed call lies within the DTE and delta bands.",
        "no call within the DTE and delta bands", False,
    ),
    ActionInfo(
        Action.below_threshold, "below_threshold", "below threshold",
        "The best candidate scores less than min_score_to_trade: nothing is sold.",
        "best candidate {best_instrument} scores {best_score:.2f} < {min_score:g}", False,
    ),
    ActionInfo(
        Action.roll, "roll", "took profit and rolled",
        "The open call reached the take-profit threshold: it was bought back and the best "
        "other candidate sold at once.",
        _TAKEN + " and rolled into {sold_instrument} (score {sold_score:.2f})", True,
    ),
    ActionInfo(
        Action.take_profit, "take_profit", "took profit",
        "The open call reached the take-profit threshold: it was bought back, with no roll.",
        _TAKEN + "; no roll: {no_roll}", False,
    ),
    ActionInfo(
        Action.not_a_decision, "not_a_decision", "between decisions",
        "Between decision instants only a take-profit can act.",
        "between decision times", False,
    ),
    ActionInfo(
        Action.expiry, "expiry", "expired",
        "The open call expired and was settled at the expiry's settlement price.",
        "the covered call expired and was settled", False,
    ),
    ActionInfo(
        Action.awaiting_settlement, "awaiting_settlement", "awaiting settlement",
        "The open call expired; its settlement price is not published yet.",
        "the covered call expired; waiting for its settlement price", False,
    ),
    ActionInfo(
        Action.error, "error", "error",
        "The agent's cycle failed (network, rate limit, exchange error); it tries again.",
        "cycle failed", False,
    ),
    ActionInfo(
        Action.close, "close", "closed on request",
        "The open call was bought back on request (the agent switching strategy).",
        "bought back the open call on request", False,
    ),
    ActionInfo(
        Action.no_ask, "no_ask", "no ask to buy back",
        "Real chains: the open call reached the take-profit threshold but the recorded book had "
        "no ask, so it could not be bought back at this instant; it is held and tested again.",
        "take-profit reached ({captured_share:.0%} of the premium captured, threshold "
        "{tp_threshold_pct:g}%) but no ask was quoted: not bought back", False,
    ),
)  # fmt: skip
ACTION_BY_NAME = {a.name: a for a in ACTIONS}

CLOSE_REASONS: tuple[CloseReasonInfo, ...] = (
    CloseReasonInfo(
        CloseReason.expiry, "expiry", "expiry",
        "Held to expiry and settled: worthless out of the money, assigned (paid "
        "max(S − K, 0) / S coin) in the money.",
    ),
    CloseReasonInfo(
        CloseReason.take_profit, "take_profit", "take profit",
        "Bought back once the captured share of the premium reached the threshold.",
    ),
    CloseReasonInfo(
        CloseReason.end_of_data, "end_of_data", "end of data",
        "Still open at the last instant: valued at its mark, without a fee (not a trade).",
    ),
    CloseReasonInfo(
        CloseReason.manual, "manual", "closed on request",
        "Bought back on request (the live agent switching strategy).",
    ),
)  # fmt: skip

NO_ROLL_TEXT = {
    NoRoll.roll_limit: "roll limit reached",
    NoRoll.too_close_to_expiry: "too close to expiry",
    NoRoll.no_candidate: "no other candidate scores enough",
}


def _fields_of(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


_NEEDS = {a.code: _fields_of(a.reason) for a in ACTIONS}


def reason_text(action: int, **values: object) -> str:
    """The reason of one action, from its template and the values it refers to.

    ``no_roll`` is given as its code (:data:`engine.enums.NoRoll`).
    """
    values = dict(values)
    if "no_roll" in _NEEDS[action]:
        values["no_roll"] = NO_ROLL_TEXT[int(values["no_roll"])]
    return ACTIONS[action].reason.format(**{k: values[k] for k in _NEEDS[action]})


def reason_texts(
    actions: np.ndarray, columns_at: Callable[[np.ndarray], Mapping[str, Sequence]]
) -> pl.Series:
    """Reasons of many steps as a string column, equal to :func:`reason_text` row by row.

    ``columns_at(rows)`` returns, for the row indices ``rows``, one sequence per field a template
    refers to; it is asked only for the rows whose action's template has fields. Most steps of a
    backtest hold an open call and share one text, which is gathered without formatting.
    """
    actions = np.asarray(actions, dtype=np.int64)
    out = pl.Series("reason", [a.reason for a in ACTIONS], dtype=pl.String).gather(actions)
    rows = np.flatnonzero(np.isin(actions, [c for c, need in _NEEDS.items() if need]))
    if rows.size:
        columns = columns_at(rows)
        texts = [
            reason_text(int(actions[i]), **{k: columns[k][j] for k in _NEEDS[int(actions[i])]})
            for j, i in enumerate(rows)
        ]
        out = out.scatter(rows, texts)
    return out


def meta_tables() -> dict:
    """The tables as JSON-ready data for the API and the page."""
    return {
        "actions": [asdict(a) for a in ACTIONS],
        "close_reasons": [asdict(r) for r in CLOSE_REASONS],
        "no_roll": [{"code": c, "text": t} for c, t in NO_ROLL_TEXT.items()],
    }

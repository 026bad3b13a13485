"""Named layouts and codes of the engine's arrays: what each column and each code means, once.

Kernels index a candidate row by name (``row[Cand.score]``), write trades, steps and the book into
NumPy record arrays whose dtypes are declared here, and return the codes below. Global named
tuples are compile-time constants to numba, so a name costs nothing over a bare index. The
human side of the codes (names, descriptions, reason texts) is :mod:`engine.policy.actions`.
"""

from typing import NamedTuple

import numpy as np


class CandFieldT(NamedTuple):
    """Columns of a scored candidate row (``top_f[i, k, :]`` of the prepare phase)."""

    strike: int = 0  # USD
    t_years: int = 1  # ACT/365 to the 08:00 UTC expiry
    forward: int = 2  # USD
    iv: int = 3  # fraction
    delta: int = 4  # Black-76 call delta (USD, forward)
    mark_price_coin: int = 5  # coin per contract
    premium_yield_annual: int = 6  # mark_price_coin / t_years
    iv_rv_ratio: int = 7  # iv / rv_30d
    score: int = 8  # 0..10
    bid_price_coin: int = 9  # the recorded best bid on real chains; NaN on model chains


Cand = CandFieldT()
N_CAND_FIELDS = len(Cand)


class ActionT(NamedTuple):
    """What the policy did at an instant (one step per decision instant in a backtest).

    The first seven come out of the policy kernel; the next four only from the live agent
    (settling an expiry, waiting for a settlement price, a failed cycle, closing the call on
    request); ``no_ask`` from a backtest on real chains, where a take-profit that fired found no
    ask to buy the call back at.
    """

    sell: int = 0
    position_open: int = 1
    no_candidate: int = 2
    below_threshold: int = 3
    roll: int = 4
    take_profit: int = 5
    not_a_decision: int = 6
    expiry: int = 7
    awaiting_settlement: int = 8
    error: int = 9
    close: int = 10
    no_ask: int = 11


Action = ActionT()


class CloseReasonT(NamedTuple):
    """Why a covered call was closed."""

    expiry: int = 0  # settled at the expiry's settlement price
    take_profit: int = 1  # bought back once enough of the premium was captured
    end_of_data: int = 2  # still open at the last instant: valued at its mark, no fee
    manual: int = 3  # bought back on request (the live agent switching strategy)


CloseReason = CloseReasonT()


class NoRollT(NamedTuple):
    """Why a take-profit did not roll into a new call (``-1``: it rolled, or no take-profit)."""

    roll_limit: int = 0  # the chain already rolled max_rolls_per_chain times
    too_close_to_expiry: int = 1  # the closed call had less than min_dte_to_roll days left
    no_candidate: int = 2  # no other candidate scores min_score_to_trade


NoRoll = NoRollT()


class PolicyParamT(NamedTuple):
    """Slots of the policy parameter array (see :func:`engine.policy.policy_params`)."""

    tp_style: int = 0  # 1.0 for tp_and_roll, 0.0 for hold_to_expiry
    min_score: int = 1
    tp_frac: int = 2  # tp_threshold_pct / 100
    max_rolls: int = 3
    min_dte_to_roll: int = 4  # days


PolicyParam = PolicyParamT()
N_POLICY_PARAMS = len(PolicyParam)


class FeeParamT(NamedTuple):
    """Slots of the fee parameter array (see :func:`engine.policy.fee_params`)."""

    option_rate: int = 0  # coin per contract
    option_cap: int = 1  # share of the option price
    settlement_rate: int = 2  # coin per contract
    settlement_cap: int = 3  # share of the option's value at settlement
    settlement_on_dailies: int = 4  # 1.0 when daily expiries pay a settlement fee


FeeParam = FeeParamT()
N_FEE_PARAMS = len(FeeParam)


class TickParamT(NamedTuple):
    """Slots of an option price grid (see :meth:`engine.instruments.OptionSpec.tick_params`)."""

    tick_size: int = 0  # coin, below step_above
    step_above: int = 1  # coin price from which step_tick applies
    step_tick: int = 2  # coin


TickParam = TickParamT()
N_TICK_PARAMS = len(TickParam)

# The backtest's book: the coins held and the covered call open against them (one record).
book_dt = np.dtype(
    [
        ("coins", np.float64),  # coin held, premiums received and fees paid included
        ("is_open", np.int64),  # 1 while a call is sold
        ("strike", np.float64),  # USD
        ("expiry_ns", np.int64),
        ("open_ns", np.int64),
        ("premium_coin", np.float64),  # per contract: the sale's fill price
        ("mark_at_open_coin", np.float64),  # per contract: the call's mark when sold
        ("open_fee_coin", np.float64),  # for the whole quantity
        ("forward_at_open", np.float64),
        ("iv_at_open", np.float64),  # fraction
        ("delta_at_open", np.float64),
        ("spot_at_open", np.float64),
        ("score_at_open", np.float64),
        ("rolls_in_chain", np.int64),
        ("chain_id", np.int64),
        ("roll_index", np.int64),
        ("n_trades", np.int64),
        ("n_steps", np.int64),
        ("last_mark_coin", np.float64),  # real chains: the open call's last recorded mark
        ("n_no_ask", np.int64),  # real chains: instants a take-profit found no ask
        ("n_unquoted", np.int64),  # real chains: instants the open call was not quoted
    ],
    align=True,
)

# One closed covered call (columns of trades.parquet before naming and unit conversion).
trade_dt = np.dtype(
    [
        ("open_ns", np.int64),
        ("close_ns", np.int64),
        ("expiry_ns", np.int64),
        ("strike", np.float64),
        ("forward_at_open", np.float64),
        ("iv_at_open", np.float64),  # fraction
        ("delta_at_open", np.float64),
        ("spot_at_open", np.float64),
        ("score_at_open", np.float64),
        ("premium_coin", np.float64),  # the sale's fill price
        ("close_price_coin", np.float64),  # the buy-back's fill price, or the settlement value
        ("mark_at_open_coin", np.float64),
        ("mark_at_close_coin", np.float64),  # the settlement value at expiry
        ("close_reason", np.int64),  # CloseReason
        ("settlement_price", np.float64),  # USD; NaN unless settled
        ("settlement_stale", np.int64),  # 1: the price is more than one base bar old
        ("spot_at_close", np.float64),
        ("fees_coin", np.float64),  # opening plus closing fee, whole quantity
        ("pnl_coin", np.float64),
        ("pnl_usd", np.float64),
        ("chain_id", np.int64),
        ("roll_index", np.int64),
    ],
    align=True,
)

# One decision instant of a backtest (steps.parquet before naming).
step_dt = np.dtype(
    [
        ("instant", np.int64),  # index into the run's instants
        ("n_candidates", np.int64),  # in the DTE and delta bands, before keeping the top K
        ("best_score", np.float64),  # NaN without a candidate
        ("action", np.int64),  # Action
        ("sold_rank", np.int64),  # rank of the call sold (0 = best), -1 when none
        ("captured_share", np.float64),  # of the open call's premium, NaN when not tested
        ("no_roll", np.int64),  # NoRoll, -1 when it does not apply
    ],
    align=True,
)


class SpreadFeatureT(NamedTuple):
    """Terms of the spread model: the gap between the mark and one side of the book (coin).

    ``gap = Σ coef_j · feature_j`` of the call's mark ``m`` (coin), delta ``d``, days to expiry
    (``ln_dte`` is its log) and vega ``v`` (coin per vol point, from delta and days alone). See
    :mod:`engine.fills`.
    """

    tick: int = 0  # the tick at the mark (coin): quotes sit on the grid
    vega: int = 1
    vega_ln_dte: int = 2
    mark: int = 3
    mark_delta: int = 4
    mark_ln_dte: int = 5
    vega_delta: int = 6
    const: int = 7  # 0.0001 coin
    mark_ln_mark: int = 8
    mark_delta_sq: int = 9


SpreadFeature = SpreadFeatureT()
N_SPREAD_FEATURES = len(SpreadFeature)


class SpreadParamT(NamedTuple):
    """Slots of one underlying's spread parameters (see :meth:`engine.fills.SpreadModel.params`).

    The model is applied within the delta and days-to-expiry range it was fitted on; inputs
    outside are clamped to it. The tick shifts (fitted, within ±1 tick) centre the rounding: a
    modelled bid a little above a grid level is most often quoted at that level. ``at_mark``
    1.0 fills at the mark instead (the optimistic model).
    """

    at_mark: int = 0
    delta_lo: int = 1
    delta_hi: int = 2
    dte_lo: int = 3  # days
    dte_hi: int = 4
    bid_tick_shift: int = 5  # ticks added to the modelled bid before rounding it down
    ask_tick_shift: int = 6  # ticks taken from the modelled ask before rounding it up
    bid: int = 7  # first of N_SPREAD_FEATURES coefficients of mark - bid
    ask: int = 7 + N_SPREAD_FEATURES  # first of N_SPREAD_FEATURES coefficients of ask - mark


SpreadParam = SpreadParamT()
N_SPREAD_PARAMS = SpreadParam.ask + N_SPREAD_FEATURES

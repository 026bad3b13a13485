"""Numba kernels of the covered-call policy: the decision at one instant, fills, fees, settlement.

These are the one copy of the rules. The replay kernel (:mod:`engine.replay.nb`) calls them at
every instant of a backtest; the live agent calls them through :func:`engine.policy.decide` and
its brokers price fills and fees with them. Codes are those of :mod:`engine.enums`.

Reference: ``tests.reference.backtest.backtest_ref`` writes the same rules out in plain
Python and must agree with the replay trade for trade.
"""

import math

from cache.kernel_cache import njit
from cache.timeutil import NS_PER_DAY
from engine.enums import Action, Cand, FeeParam, NoRoll, PolicyParam, TickParam


@njit(cache=True, nogil=True)
def trade_fee_nb(qty, price_coin, fees):
    """Fee (coin) to buy or sell ``qty`` contracts at ``price_coin``: a rate capped at a share.

    Reference: ``tests.reference.backtest.trade_fee_ref``.
    """
    return qty * min(fees[FeeParam.option_rate], fees[FeeParam.option_cap] * price_coin)


@njit(cache=True, nogil=True)
def settlement_value_nb(settle_price_usd, strike):
    """Coin a short call pays per contract at expiry: ``max(S − K, 0) / S``."""
    return max(settle_price_usd - strike, 0.0) / settle_price_usd


@njit(cache=True, nogil=True)
def settlement_fee_nb(qty, value_coin, expiry_ns, fees):
    """Fee (coin) at expiry: nothing out of the money, nor on dailies unless configured.

    Only Friday expiries (weeklies, monthlies, quarterlies) are not dailies.
    Reference: ``tests.reference.backtest.settlement_fee_ref``.
    """
    weekday = (expiry_ns // NS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday; Friday is 4
    if value_coin <= 0.0 or (weekday != 4 and fees[FeeParam.settlement_on_dailies] == 0.0):
        return 0.0
    return qty * min(fees[FeeParam.settlement_rate], fees[FeeParam.settlement_cap] * value_coin)


@njit(cache=True, nogil=True)
def tick_at_nb(price, ticks):
    """The tick (coin) of Deribit's option price grid at ``price``."""
    if price >= ticks[TickParam.step_above]:
        return ticks[TickParam.step_tick]
    return ticks[TickParam.tick_size]


@njit(cache=True, nogil=True)
def tick_down_nb(price, ticks):
    """The highest price on the tick grid at or below ``price`` (where a sale may be limited).

    A price already on the grid stays put, despite the float division (0.0215 / 0.0005 is
    42.999…). Reference: ``tests.reference.policy.tick_down_ref``.
    """
    step = tick_at_nb(price, ticks)
    return round(math.floor(price / step + 1e-6) * step, 10)


@njit(cache=True, nogil=True)
def tick_up_nb(price, ticks):
    """The lowest price on the tick grid at or above ``price`` (where a buy may be limited).

    Reference: ``tests.reference.policy.tick_up_ref``.
    """
    step = tick_at_nb(price, ticks)
    return round(math.ceil(price / step - 1e-6) * step, 10)


@njit(cache=True, nogil=True)
def sale_price_nb(mark, bid):
    """Price (coin) a sale fills at: the bid when one is quoted, else the mark."""
    return bid if bid > 0.0 else mark


@njit(cache=True, nogil=True)
def buyback_price_nb(mark, ask):
    """Price (coin) a buy-back fills at: the ask when one is quoted, else the mark."""
    return ask if ask > 0.0 else mark


@njit(cache=True, nogil=True)
def roll_target_nb(cand, cand_exp_ns, n_cand, strike, expiry_ns, min_score):
    """Rank of the best candidate that is not the call just closed, or -1 if it scores too low.

    Rolling into the very option just bought back would only pay fees and the spread, so the
    roll goes to the best *other* candidate, if it scores at least ``min_score``. ``n_cand`` may
    exceed the rows kept (a count before the top K): only the rows present are read.
    """
    for k in range(min(n_cand, cand.shape[0])):
        if cand[k, Cand.strike] == strike and cand_exp_ns[k] == expiry_ns:
            continue
        return k if cand[k, Cand.score] >= min_score else -1
    return -1


@njit(cache=True, nogil=True)
def captured_share_nb(is_open, premium_coin, mark_coin, policy):
    """Share of the open call's premium captured, ``(premium − mark) / premium``, where the
    policy tests for take-profit (an open call, take-profit on, a known mark); else NaN."""
    if is_open and policy[PolicyParam.tp_style] > 0.0 and not math.isnan(mark_coin):
        return (premium_coin - mark_coin) / premium_coin
    return math.nan


@njit(cache=True, nogil=True)
def roll_barred_nb(now_ns, expiry_ns, rolls_in_chain, policy):
    """Why a take-profit now may not roll (a :data:`NoRoll` code: the chain's roll limit, or
    too close to expiry), or -1 when it may roll into a candidate."""
    if rolls_in_chain >= policy[PolicyParam.max_rolls]:
        return NoRoll.roll_limit
    if (expiry_ns - now_ns) / NS_PER_DAY < policy[PolicyParam.min_dte_to_roll]:
        return NoRoll.too_close_to_expiry
    return -1


@njit(cache=True, nogil=True)
def reads_roll_candidates_nb(now_ns, is_open, premium_coin, mark_coin, expiry_ns,
                             rolls_in_chain, policy):  # fmt: skip
    """Whether :func:`decide_nb` reads the candidates to roll into (a take-profit that may
    roll): the replay scores an instant that was not prepared only then."""
    share = captured_share_nb(is_open, premium_coin, mark_coin, policy)
    return share >= policy[PolicyParam.tp_frac] and (
        roll_barred_nb(now_ns, expiry_ns, rolls_in_chain, policy) < 0
    )


@njit(cache=True, nogil=True)
def decide_nb(
    now_ns,
    is_decision,
    is_open,
    premium_coin,
    mark_coin,
    strike,
    expiry_ns,
    rolls_in_chain,
    cand,
    cand_exp_ns,
    n_cand,
    policy,
):
    """Apply the policy at one instant; return ``(action, rank, no_roll, captured_share)``.

    The caller has settled an expired call already. In order:

    1. with take-profit on (``policy[tp_style] > 0``) and an open call with a known mark, the
       captured share ``(premium − mark) / premium`` is tested; once it reaches ``tp_frac`` the
       call is bought back (``take_profit``) and, if the chain has rolls left, the call had at
       least ``min_dte_to_roll`` days left and another candidate scores enough, rolled into it
       (``roll``, ``rank`` = that candidate's rank); otherwise ``no_roll`` says why not;
    2. between decision instants nothing else happens (``not_a_decision``);
    3. at a decision instant an open call is held (``position_open``); without one the best
       candidate (rank 0) is sold if it scores at least ``min_score`` (``sell``), else
       ``no_candidate`` or ``below_threshold``.

    ``cand`` holds candidate rows best first (columns :data:`engine.enums.Cand`),
    ``cand_exp_ns`` their expiries, ``n_cand`` how many there are (0: none). ``mark_coin`` is NaN
    when unknown. ``rank`` is -1 unless a call is sold; ``captured_share`` is NaN unless tested.
    """
    share = captured_share_nb(is_open, premium_coin, mark_coin, policy)
    if share >= policy[PolicyParam.tp_frac]:  # NaN (not tested) is never
        no_roll = roll_barred_nb(now_ns, expiry_ns, rolls_in_chain, policy)
        if no_roll >= 0:
            return Action.take_profit, -1, no_roll, share
        into = roll_target_nb(
            cand, cand_exp_ns, n_cand, strike, expiry_ns, policy[PolicyParam.min_score]
        )
        if into < 0:
            return Action.take_profit, -1, NoRoll.no_candidate, share
        return Action.roll, into, -1, share
    if not is_decision:
        return Action.not_a_decision, -1, -1, share
    if is_open:
        return Action.position_open, -1, -1, share
    if n_cand == 0:
        return Action.no_candidate, -1, -1, share
    if cand[0, Cand.score] < policy[PolicyParam.min_score]:
        return Action.below_threshold, -1, -1, share
    return Action.sell, 0, -1, share


@njit(cache=True, nogil=True)
def rolls_after_nb(action, rolls_in_chain):
    """Rolls in the current chain after ``action``: one more on a roll, none once a chain ends.

    A chain starts with a sale and ends at expiry, with a take-profit that does not roll, or
    with a call closed on request.
    """
    if action == Action.roll:
        return rolls_in_chain + 1
    if (
        action == Action.sell
        or action == Action.take_profit
        or action == Action.expiry
        or action == Action.close
    ):
        return 0
    return rolls_in_chain

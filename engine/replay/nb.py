"""Numba kernel of the replay stepper: walk the instants, keep the book, record trades and steps.

The decisions are the policy's (:func:`engine.policy.nb.decide_nb`); this module only books them:
coins, the open call, closed trades (records of :data:`engine.enums.trade_dt`) and one step per
decision instant (:data:`engine.enums.step_dt`). :mod:`engine.replay.replayer` turns the records
into tables.
"""

import math

import numpy as np
from numba import njit

from cache.timeutil import NS_PER_DAY, NS_PER_YEAR
from engine.enums import N_CAND_FIELDS, Action, Cand, CloseReason, PolicyParam
from engine.policy.nb import (
    buyback_price_nb,
    decide_nb,
    rolls_after_nb,
    sale_price_nb,
    settlement_fee_nb,
    settlement_value_nb,
    trade_fee_nb,
)
from engine.volsurface.nb import model_mark_coin_nb


@njit(cache=True, nogil=True)
def _sell_nb(b, row, exp_ns, t_ns, spot, qty, fees):
    # model chains quote no bid: the sale fills at the mark
    price = sale_price_nb(row[Cand.mark_price_coin], math.nan)
    fee = trade_fee_nb(qty, price, fees)
    b.coins += qty * price - fee
    b.is_open = 1
    b.strike = row[Cand.strike]
    b.expiry_ns = exp_ns
    b.open_ns = t_ns
    b.premium_coin = price
    b.open_fee_coin = fee
    b.forward_at_open = row[Cand.forward]
    b.iv_at_open = row[Cand.iv]
    b.delta_at_open = row[Cand.delta]
    b.spot_at_open = spot
    b.score_at_open = row[Cand.score]


@njit(cache=True, nogil=True)
def _close_nb(b, trades, close_ns, close_price, reason, settle, spot_close, fee, qty):
    b.coins -= qty * close_price + fee
    tr = trades[b.n_trades]
    tr.open_ns = b.open_ns
    tr.close_ns = close_ns
    tr.expiry_ns = b.expiry_ns
    tr.strike = b.strike
    tr.forward_at_open = b.forward_at_open
    tr.iv_at_open = b.iv_at_open
    tr.delta_at_open = b.delta_at_open
    tr.spot_at_open = b.spot_at_open
    tr.score_at_open = b.score_at_open
    tr.premium_coin = b.premium_coin
    tr.close_price_coin = close_price
    tr.close_reason = reason
    tr.settlement_price = settle
    tr.spot_at_close = spot_close
    fees_total = b.open_fee_coin + fee
    tr.fees_coin = fees_total
    tr.pnl_coin = qty * (b.premium_coin - close_price) - fees_total
    tr.pnl_usd = tr.pnl_coin * spot_close
    tr.chain_id = b.chain_id
    tr.roll_index = b.roll_index
    b.n_trades += 1
    b.is_open = 0


@njit(cache=True, nogil=True)
def replay_chunk_nb(
    i0,
    i1,
    t_ns,
    spot,
    iv_index,
    prep_row,
    is_decision,
    n_cand,
    top_f,
    top_exp_ns,
    settle_day0_ns,
    settle_price,
    qty,
    policy,
    fees,
    surface_args,
    basis_annual,
    book,
    trades,
    steps,
    eq_coin,
    call_mark,
):
    """Replay instants ``i0 .. i1-1``, carrying the book (``book[0]``, :data:`book_dt`) along.

    At each instant, in order: (1) an open call whose expiry has come is settled at the expiry's
    settlement price (the spot when the day has none), paying ``qty * max(S - K, 0) / S`` coin
    plus the settlement fee; (2) the policy decides (:func:`engine.policy.nb.decide_nb`) on the
    open call's model mark and the instant's prepared candidates: a take-profit buys the call
    back (plus fee) and a roll or a sale sells a candidate at once; one step is recorded per
    decision instant; (3) the coin equity ``coins - qty * mark`` is booked.

    Reference: ``tests.reference.backtest.backtest_ref`` (a plain Python loop).
    """
    b = book[0]
    no_rows = np.full((1, N_CAND_FIELDS), math.nan)
    no_exps = np.zeros(1, np.int64)
    for i in range(i0, i1):
        t = t_ns[i]
        s = spot[i]
        if b.is_open == 1 and b.expiry_ns <= t:
            day = (b.expiry_ns - settle_day0_ns) // NS_PER_DAY
            settle = settle_price[day] if 0 <= day < settle_price.size else math.nan
            if not settle > 0:
                settle = s
            value = settlement_value_nb(settle, b.strike)
            fee = settlement_fee_nb(qty, value, b.expiry_ns, fees)
            _close_nb(b, trades, b.expiry_ns, value, CloseReason.expiry, settle, settle, fee, qty)
            b.rolls_in_chain = rolls_after_nb(Action.expiry, b.rolls_in_chain)
        r = prep_row[i]
        rows, exps, n = no_rows, no_exps, 0
        if r >= 0:
            rows, exps, n = top_f[r], top_exp_ns[r], n_cand[r]
        mark = math.nan
        if b.is_open == 1 and policy[PolicyParam.tp_style] > 0.0:  # only a take-profit reads it
            mark = model_mark_coin_nb(s, iv_index[i], b.strike, (b.expiry_ns - t) / NS_PER_YEAR,
                                      surface_args, basis_annual)  # fmt: skip
        action, rank, no_roll, share = decide_nb(
            t, is_decision[i], b.is_open == 1, b.premium_coin, mark, b.strike, b.expiry_ns,
            b.rolls_in_chain, rows, exps, n, policy,
        )  # fmt: skip
        if action == Action.take_profit or action == Action.roll:
            # model chains quote no ask: the buy-back fills at the mark
            price = buyback_price_nb(mark, math.nan)
            _close_nb(b, trades, t, price, CloseReason.take_profit, math.nan, s,
                      trade_fee_nb(qty, price, fees), qty)  # fmt: skip
        if action == Action.sell:
            b.chain_id += 1
            b.roll_index = 0
        b.rolls_in_chain = rolls_after_nb(action, b.rolls_in_chain)
        if action == Action.roll:
            b.roll_index = b.rolls_in_chain
        if rank >= 0:
            _sell_nb(b, rows[rank], exps[rank], t, s, qty, fees)
        if is_decision[i]:
            st = steps[b.n_steps]
            st.instant = i
            st.n_candidates = n
            st.best_score = rows[0, Cand.score] if r >= 0 else math.nan
            st.action = action
            st.sold_rank = rank
            st.captured_share = share
            st.no_roll = no_roll
            b.n_steps += 1
        if b.is_open == 1:
            if rank >= 0 or math.isnan(mark):  # else the call marked above is still open
                mark = model_mark_coin_nb(s, iv_index[i], b.strike,
                                          (b.expiry_ns - t) / NS_PER_YEAR, surface_args,
                                          basis_annual)  # fmt: skip
            call_mark[i] = mark
            eq_coin[i] = b.coins - qty * mark
        else:
            call_mark[i] = math.nan
            eq_coin[i] = b.coins


@njit(cache=True, nogil=True)
def close_at_end_nb(book, trades, t_end, spot_end, mark, qty):
    """Close a call still open at the last instant at its mark, without a fee (a valuation)."""
    b = book[0]
    if b.is_open == 1:
        _close_nb(b, trades, t_end, mark, CloseReason.end_of_data, math.nan, spot_end, 0.0, qty)

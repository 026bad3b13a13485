"""Numba kernel of the replay stepper: walk the instants, keep the book, record trades and steps.

The decisions are the policy's (:func:`engine.policy.nb.decide_nb`); this module only books them:
coins, the open call, closed trades (records of :data:`engine.enums.trade_dt`) and one step per
decision instant (:data:`engine.enums.step_dt`). :mod:`engine.replay.replayer` turns the records
into tables.
"""

import math

import numpy as np

from cache.kernel_cache import njit
from cache.timeutil import DAYS_PER_YEAR, NS_PER_DAY, NS_PER_YEAR
from engine.chains.nb import recorded_quote_nb
from engine.enums import N_CAND_FIELDS, Action, Cand, CloseReason, PolicyParam, SpreadParam
from engine.fills.nb import model_bid_ask_nb
from engine.policy.nb import (
    buyback_price_nb,
    decide_nb,
    reads_roll_candidates_nb,
    rolls_after_nb,
    sale_price_nb,
    settlement_fee_nb,
    settlement_value_nb,
    trade_fee_nb,
)
from engine.volsurface.nb import model_mark_coin_nb, model_quote_coin_nb


@njit(cache=True, nogil=True)
def _sell_nb(b, row, exp_ns, t_ns, spot, qty, fees, ticks, spread):
    """Sell the candidate ``row``: at its recorded bid on real chains, else at the model bid;
    at the mark when ``spread`` says so."""
    mark = row[Cand.mark_price_coin]
    if spread[SpreadParam.at_mark] == 0.0 and row[Cand.bid_price_coin] > 0.0:
        bid = row[Cand.bid_price_coin]
    else:
        bid = model_bid_ask_nb(mark, row[Cand.delta], row[Cand.t_years] * DAYS_PER_YEAR, ticks,
                               spread)[0]  # fmt: skip
    price = sale_price_nb(mark, bid)
    fee = trade_fee_nb(qty, price, fees)
    b.coins += qty * price - fee
    b.is_open = 1
    b.strike = row[Cand.strike]
    b.expiry_ns = exp_ns
    b.open_ns = t_ns
    b.premium_coin = price
    b.mark_at_open_coin = mark
    b.open_fee_coin = fee
    b.forward_at_open = row[Cand.forward]
    b.iv_at_open = row[Cand.iv]
    b.delta_at_open = row[Cand.delta]
    b.spot_at_open = spot
    b.score_at_open = row[Cand.score]
    b.last_mark_coin = mark


@njit(cache=True, nogil=True)
def _close_nb(b, trades, close_ns, close_price, mark, reason, settle, stale, spot_close, fee,
              qty):  # fmt: skip
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
    tr.mark_at_open_coin = b.mark_at_open_coin
    tr.mark_at_close_coin = mark
    tr.close_reason = reason
    tr.settlement_price = settle
    tr.settlement_stale = stale
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
    settle_stale,
    qty,
    policy,
    fees,
    ticks,
    spread,
    chain_snap,
    q_offsets,
    q_exp_ns,
    q_strike,
    q_mark,
    q_ask,
    surface_args,
    basis_annual,
    book,
    trades,
    steps,
    eq_coin,
    call_mark,
    extra_at,
    extra_rows,
    extra_exps,
    extra_n,
):
    """Replay instants ``i0 .. i1-1``, carrying the book (``book[0]``, :data:`book_dt`) along;
    return ``i1``, or the instant it stopped at to be given candidates.

    Only decision instants are prepared. At any other instant where a take-profit fires and may
    roll (:func:`engine.policy.nb.reads_roll_candidates_nb`) the kernel needs that instant's
    candidates: given them (``extra_at`` is that instant, ``extra_rows``/``extra_exps``/
    ``extra_n`` as one prepared row) it goes on; otherwise it returns the instant, having changed
    nothing that replaying it again would not redo the same way, and the caller scores it with
    the prepare kernel and calls again from there.

    At each instant, in order: (1) an open call whose expiry has come is settled at the expiry's
    settlement price (the spot when the day has none; either flagged stale when more than one
    base bar old), paying ``qty * max(S - K, 0) / S`` coin plus the settlement fee; (2) the
    policy decides (:func:`engine.policy.nb.decide_nb`) on the open call's model mark and the
    instant's prepared candidates: a take-profit buys the call back at the model ask (plus fee)
    and a roll or a sale sells a candidate at its model bid (:mod:`engine.fills.nb`; both at the
    mark when ``spread`` says so); one step is recorded per decision instant; (3) the coin equity
    ``coins - qty * mark`` is booked. ``qty`` is the contracts sold, ``book.coins`` the coins.

    On real chains (``chain_snap`` not empty: the snapshot each instant reads, -1 for a gap, with
    the recorded calls ``q_*`` of :class:`engine.chains.ChainQuotes`) the open call is marked at
    its recorded mark; unquoted (a gap, or missing from the snapshot) it keeps its last recorded
    mark and is not tested for take-profit (``book.n_unquoted`` counts such instants). A sale
    fills at the candidate's recorded bid and a buy-back at the recorded ask; a take-profit that
    finds no ask holds the call (action ``no_ask``, counted in ``book.n_no_ask``).

    Reference: ``tests.reference.backtest.backtest_ref`` (a plain Python loop).
    """
    b = book[0]
    no_rows = np.full((1, N_CAND_FIELDS), math.nan)
    no_exps = np.zeros(1, np.int64)
    on_chains = chain_snap.size > 0
    at_mark = spread[SpreadParam.at_mark] != 0.0
    for i in range(i0, i1):
        t = t_ns[i]
        s = spot[i]
        if b.is_open == 1 and b.expiry_ns <= t:
            day = (b.expiry_ns - settle_day0_ns) // NS_PER_DAY
            settle, stale = math.nan, 1
            if 0 <= day < settle_price.size:
                settle, stale = settle_price[day], settle_stale[day]
            if not settle > 0:
                settle, stale = s, 1
            value = settlement_value_nb(settle, b.strike)
            fee = settlement_fee_nb(qty, value, b.expiry_ns, fees)
            _close_nb(b, trades, b.expiry_ns, value, value, CloseReason.expiry, settle, stale,
                      settle, fee, qty)  # fmt: skip
            b.rolls_in_chain = rolls_after_nb(Action.expiry, b.rolls_in_chain)
        r = prep_row[i]
        rows, exps, n = no_rows, no_exps, 0
        if r >= 0:
            rows, exps, n = top_f[r], top_exp_ns[r], n_cand[r]
        mark, delta, ask = math.nan, math.nan, math.nan
        if b.is_open == 1 and on_chains:
            mark, ask = recorded_quote_nb(chain_snap[i], b.expiry_ns, b.strike, q_offsets,
                                          q_exp_ns, q_strike, q_mark, q_ask)  # fmt: skip
            if math.isnan(mark):
                b.n_unquoted += 1
            else:
                b.last_mark_coin = mark
        elif b.is_open == 1 and policy[PolicyParam.tp_style] > 0.0:  # only a take-profit reads it
            mark, delta = model_quote_coin_nb(s, iv_index[i], b.strike,
                                              (b.expiry_ns - t) / NS_PER_YEAR, surface_args,
                                              basis_annual)  # fmt: skip
        if r < 0 and reads_roll_candidates_nb(t, b.is_open == 1, b.premium_coin, mark,
                                              b.expiry_ns, b.rolls_in_chain, policy):  # fmt: skip
            if extra_at != i:
                return i
            rows, exps, n = extra_rows, extra_exps, extra_n
        action, rank, no_roll, share = decide_nb(
            t, is_decision[i], b.is_open == 1, b.premium_coin, mark, b.strike, b.expiry_ns,
            b.rolls_in_chain, rows, exps, n, policy,
        )  # fmt: skip
        if (
            (action == Action.take_profit or action == Action.roll)
            and on_chains
            and not (at_mark or ask > 0.0)
        ):
            action, rank, no_roll = Action.no_ask, -1, -1
            b.n_no_ask += 1
        if action == Action.take_profit or action == Action.roll:
            if on_chains:
                price = mark if at_mark else ask
            else:
                dte = (b.expiry_ns - t) / NS_PER_YEAR * DAYS_PER_YEAR
                ask = model_bid_ask_nb(mark, delta, dte, ticks, spread)[1]
                price = buyback_price_nb(mark, ask)
            _close_nb(b, trades, t, price, mark, CloseReason.take_profit, math.nan, 0, s,
                      trade_fee_nb(qty, price, fees), qty)  # fmt: skip
        if action == Action.sell:
            b.chain_id += 1
            b.roll_index = 0
        b.rolls_in_chain = rolls_after_nb(action, b.rolls_in_chain)
        if action == Action.roll:
            b.roll_index = b.rolls_in_chain
        if rank >= 0:
            _sell_nb(b, rows[rank], exps[rank], t, s, qty, fees, ticks, spread)
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
            if on_chains:
                mark = b.last_mark_coin  # the sale's, the recorded one, or the last recorded
            elif rank >= 0 or math.isnan(mark):  # else the call marked above is still open
                mark = model_mark_coin_nb(s, iv_index[i], b.strike,
                                          (b.expiry_ns - t) / NS_PER_YEAR, surface_args,
                                          basis_annual)  # fmt: skip
            call_mark[i] = mark
            eq_coin[i] = b.coins - qty * mark
        else:
            call_mark[i] = math.nan
            eq_coin[i] = b.coins
    return i1


@njit(cache=True, nogil=True)
def close_at_end_nb(book, trades, t_end, spot_end, mark, qty):
    """Close a call still open at the last instant at its mark, without a fee (a valuation)."""
    b = book[0]
    if b.is_open == 1:
        _close_nb(b, trades, t_end, mark, mark, CloseReason.end_of_data, math.nan, 0, spot_end,
                  0.0, qty)  # fmt: skip

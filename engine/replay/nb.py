"""Numba kernel of the replay stepper: walk the instants, open/close covered calls, book equity.

Codes and array layouts are named here once; :mod:`engine.replay` turns them into tables.
"""

import math

from numba import njit

from cache.timeutil import NS_PER_DAY, NS_PER_YEAR
from engine.prepare.nb import (
    F_DELTA,
    F_FORWARD,
    F_IV,
    F_PRICE_COIN,
    F_SCORE,
    F_STRIKE,
)
from engine.volsurface.nb import quote_call_nb

# step actions (one step per decision instant)
A_SELL, A_POSITION_OPEN, A_NO_CANDIDATE, A_BELOW_THRESHOLD, A_ROLLED, A_TOOK_PROFIT = range(6)
# close reasons
R_EXPIRY, R_TAKE_PROFIT, R_END_OF_DATA = range(3)

# policy array
P_TP_STYLE, P_MIN_SCORE, P_TP_FRAC, P_MAX_ROLLS, P_MIN_DTE_TO_ROLL, P_QTY = range(6)
# fee array
FEE_RATE, FEE_CAP, SET_RATE, SET_CAP, SET_ON_DAILIES = range(5)

# float state
S_COINS, S_STRIKE, S_PREMIUM, S_FWD, S_IV, S_DELTA, S_SPOT, S_SCORE, S_FEES = range(9)
N_STATE_F = 9
# int state
I_OPEN, I_EXPIRY, I_OPEN_NS, I_ROLLS, I_CHAIN, I_N_TRADES, I_N_STEPS, I_ROLL_INDEX = range(8)
N_STATE_I = 8

# trade int columns
TI_OPEN_NS, TI_CLOSE_NS, TI_EXPIRY_NS, TI_CHAIN, TI_ROLL_INDEX = range(5)
N_TI = 5
# trade float columns
(
    TF_STRIKE,
    TF_FORWARD,
    TF_IV,
    TF_DELTA,
    TF_PREMIUM,
    TF_CLOSE_PRICE,
    TF_REASON,
    TF_SETTLEMENT,
    TF_FEES,
    TF_PNL_COIN,
    TF_PNL_USD,
    TF_SPOT_OPEN,
    TF_SPOT_CLOSE,
    TF_SCORE,
) = range(14)
N_TF = 14


@njit(cache=True, nogil=True)
def trade_fee_nb(qty, price_coin, fees):
    """Fee (coin) to buy or sell ``qty`` contracts at ``price_coin``: rate capped at a share."""
    return qty * min(fees[FEE_RATE], fees[FEE_CAP] * price_coin)


@njit(cache=True, nogil=True)
def settlement_fee_nb(qty, value_coin, expiry_ns, fees):
    """Fee (coin) at expiry: nothing out of the money, and on dailies unless configured."""
    weekday = (expiry_ns // NS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday; Friday is 4
    if value_coin <= 0.0 or (weekday != 4 and fees[SET_ON_DAILIES] == 0.0):
        return 0.0
    return qty * min(fees[SET_RATE], fees[SET_CAP] * value_coin)


@njit(cache=True, nogil=True)
def mark_call_nb(spot, iv_index, t_ns, state_f, state_i, surface_args, basis_annual):
    """Coin mark of the open call at an instant (Black-76 on that instant's surface)."""
    t = (state_i[I_EXPIRY] - t_ns) / NS_PER_YEAR
    fwd = spot * math.exp(basis_annual * t)
    price_usd = quote_call_nb(fwd, state_f[S_STRIKE], t, iv_index, surface_args)[1]
    return price_usd / fwd


@njit(cache=True, nogil=True)
def _sell_nb(row, exp_ns, t_ns, spot, qty, fees, state_f, state_i):
    price = row[F_PRICE_COIN]
    fee = trade_fee_nb(qty, price, fees)
    state_f[S_COINS] += qty * price - fee
    state_f[S_STRIKE] = row[F_STRIKE]
    state_f[S_PREMIUM] = price
    state_f[S_FWD] = row[F_FORWARD]
    state_f[S_IV] = row[F_IV]
    state_f[S_DELTA] = row[F_DELTA]
    state_f[S_SPOT] = spot
    state_f[S_SCORE] = row[F_SCORE]
    state_f[S_FEES] = fee
    state_i[I_OPEN] = 1
    state_i[I_EXPIRY] = exp_ns
    state_i[I_OPEN_NS] = t_ns


@njit(cache=True, nogil=True)
def _close_nb(close_ns, close_price, reason, settle, spot_close, fee, qty, state_f, state_i,
              trade_i, trade_f):  # fmt: skip
    state_f[S_COINS] -= qty * close_price + fee
    k = state_i[I_N_TRADES]
    trade_i[k, TI_OPEN_NS] = state_i[I_OPEN_NS]
    trade_i[k, TI_CLOSE_NS] = close_ns
    trade_i[k, TI_EXPIRY_NS] = state_i[I_EXPIRY]
    trade_i[k, TI_CHAIN] = state_i[I_CHAIN]
    trade_i[k, TI_ROLL_INDEX] = state_i[I_ROLL_INDEX]
    fees_total = state_f[S_FEES] + fee
    pnl_coin = qty * (state_f[S_PREMIUM] - close_price) - fees_total
    trade_f[k, TF_STRIKE] = state_f[S_STRIKE]
    trade_f[k, TF_FORWARD] = state_f[S_FWD]
    trade_f[k, TF_IV] = state_f[S_IV]
    trade_f[k, TF_DELTA] = state_f[S_DELTA]
    trade_f[k, TF_PREMIUM] = state_f[S_PREMIUM]
    trade_f[k, TF_CLOSE_PRICE] = close_price
    trade_f[k, TF_REASON] = reason
    trade_f[k, TF_SETTLEMENT] = settle
    trade_f[k, TF_FEES] = fees_total
    trade_f[k, TF_PNL_COIN] = pnl_coin
    trade_f[k, TF_PNL_USD] = pnl_coin * spot_close
    trade_f[k, TF_SPOT_OPEN] = state_f[S_SPOT]
    trade_f[k, TF_SPOT_CLOSE] = spot_close
    trade_f[k, TF_SCORE] = state_f[S_SCORE]
    state_i[I_N_TRADES] = k + 1
    state_i[I_OPEN] = 0


@njit(cache=True, nogil=True)
def roll_target_nb(rows, exps, n_cand, strike, expiry_ns, min_score):
    """Rank of the best kept candidate that is not the call just closed, or -1.

    Rolling into the very option just bought back would only pay fees and the spread, so the
    roll goes to the best *other* candidate, if it scores at least ``min_score``.
    """
    for k in range(min(n_cand, rows.shape[0])):
        if rows[k, F_STRIKE] == strike and exps[k] == expiry_ns:
            continue
        return k if rows[k, F_SCORE] >= min_score else -1
    return -1


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
    policy,
    fees,
    surface_args,
    basis_annual,
    state_f,
    state_i,
    trade_i,
    trade_f,
    step_i,
    step_f,
    eq_coin,
    call_mark,
):
    """Replay instants ``i0 .. i1-1``, carrying the position in ``state_f``/``state_i``.

    At each instant, in order: (1) an open call whose expiry has come is settled at the expiry's
    settlement price, paying ``qty * max(S - K, 0) / S`` coin plus the settlement fee;
    (2) with take-profit on, the open call is marked and, once ``(premium - mark) / premium``
    reaches the threshold, bought back (plus fee) and, if the chain has rolls left and the closed
    call had at least ``min_dte_to_roll`` days left, the best candidate of this instant is sold at
    once if it scores enough (a roll); (3) at a decision instant with no open call, the best
    candidate is sold if it scores at least ``min_score`` — one step is recorded per decision
    instant; (4) the coin equity ``coins - qty * mark`` is booked.

    Reference: ``tests.reference_backtest.reference_backtest`` (a plain Python loop).
    """
    qty = policy[P_QTY]
    tp_style = policy[P_TP_STYLE] > 0
    for i in range(i0, i1):
        t = t_ns[i]
        s = spot[i]
        if state_i[I_OPEN] == 1 and state_i[I_EXPIRY] <= t:
            expiry = state_i[I_EXPIRY]
            day = (expiry - settle_day0_ns) // NS_PER_DAY
            settle = settle_price[day] if 0 <= day < settle_price.size else math.nan
            if not settle > 0:
                settle = s
            value = max(settle - state_f[S_STRIKE], 0.0) / settle
            fee = settlement_fee_nb(qty, value, expiry, fees)
            _close_nb(expiry, value, R_EXPIRY, settle, settle, fee, qty, state_f, state_i,
                      trade_i, trade_f)  # fmt: skip
            state_i[I_ROLLS] = 0
        took_profit = False
        rolled = False
        r = prep_row[i]
        if tp_style and state_i[I_OPEN] == 1:
            mark = mark_call_nb(s, iv_index[i], t, state_f, state_i, surface_args, basis_annual)
            premium = state_f[S_PREMIUM]
            if (premium - mark) / premium >= policy[P_TP_FRAC]:
                days_left = (state_i[I_EXPIRY] - t) / NS_PER_DAY
                _close_nb(t, mark, R_TAKE_PROFIT, math.nan, s, trade_fee_nb(qty, mark, fees), qty,
                          state_f, state_i, trade_i, trade_f)  # fmt: skip
                took_profit = True
                into = -1
                if (
                    state_i[I_ROLLS] < policy[P_MAX_ROLLS]
                    and days_left >= policy[P_MIN_DTE_TO_ROLL]
                    and r >= 0
                ):
                    into = roll_target_nb(top_f[r], top_exp_ns[r], n_cand[r], state_f[S_STRIKE],
                                          state_i[I_EXPIRY], policy[P_MIN_SCORE])  # fmt: skip
                if into >= 0:
                    state_i[I_ROLLS] += 1
                    state_i[I_ROLL_INDEX] = state_i[I_ROLLS]
                    _sell_nb(top_f[r, into], top_exp_ns[r, into], t, s, qty, fees, state_f,
                             state_i)  # fmt: skip
                    rolled = True
                else:
                    state_i[I_ROLLS] = 0
        if is_decision[i]:
            k = state_i[I_N_STEPS]
            step_i[k, 0] = i
            step_i[k, 1] = n_cand[r] if r >= 0 else 0
            step_f[k] = top_f[r, 0, F_SCORE] if r >= 0 else math.nan
            if rolled:
                action = A_ROLLED
            elif took_profit:
                action = A_TOOK_PROFIT
            elif state_i[I_OPEN] == 1:
                action = A_POSITION_OPEN
            elif r < 0 or n_cand[r] == 0:
                action = A_NO_CANDIDATE
            elif top_f[r, 0, F_SCORE] < policy[P_MIN_SCORE]:
                action = A_BELOW_THRESHOLD
            else:
                action = A_SELL
                state_i[I_CHAIN] += 1
                state_i[I_ROLLS] = 0
                state_i[I_ROLL_INDEX] = 0
                _sell_nb(top_f[r, 0], top_exp_ns[r, 0], t, s, qty, fees, state_f, state_i)
            step_i[k, 2] = action
            state_i[I_N_STEPS] = k + 1
        if state_i[I_OPEN] == 1:
            mark = mark_call_nb(s, iv_index[i], t, state_f, state_i, surface_args, basis_annual)
            call_mark[i] = mark
            eq_coin[i] = state_f[S_COINS] - qty * mark
        else:
            call_mark[i] = math.nan
            eq_coin[i] = state_f[S_COINS]


@njit(cache=True, nogil=True)
def close_at_end_nb(t_end, spot_end, mark, qty, state_f, state_i, trade_i, trade_f):
    """Close a call still open at the last instant at its mark, without a fee (a valuation)."""
    if state_i[I_OPEN] == 1:
        _close_nb(t_end, mark, R_END_OF_DATA, math.nan, spot_end, 0.0, qty, state_f, state_i,
                  trade_i, trade_f)  # fmt: skip

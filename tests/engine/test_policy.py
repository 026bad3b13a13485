"""The policy kernels: one hand-built case per action, and the kernels against plain twins."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cache.timeutil import to_ns
from engine.config import FeeModel, StrategyConfig
from engine.enums import Action, NoRoll
from engine.policy import decide, fee_params, settlement_coin, trade_fee_coin
from engine.policy.decide import OpenCall, policy_params, rolls_after
from engine.policy.nb import buyback_price_nb, sale_price_nb, settlement_fee_nb
from engine.policy.schedule import DecisionSchedule, decision_mask
from tests.reference.backtest import decide_ref, settlement_fee_ref, trade_fee_ref

NOW = datetime(2024, 3, 1, 8, tzinfo=UTC)
CALL = OpenCall("BTC-8MAR24-70000-C", 70_000.0, NOW + timedelta(days=7), 0.01, NOW)


def cand(name: str, strike: float, days: float, score: float) -> dict:
    """A scored candidate row, as the state builder makes them (only what the policy reads)."""
    return {
        "instrument_name": name, "strike": strike, "expiry": NOW + timedelta(days=days),
        "t_years": days / 365, "forward": 62_000.0, "iv": 0.6, "delta": 0.25,
        "mark_price_coin": 0.01, "premium_yield_annual": 0.5, "iv_rv_ratio": 1.1, "score": score,
    }  # fmt: skip


SAME = cand(CALL.instrument_name, CALL.strike, 7, 9.0)  # the open call itself, still the best
OTHER = cand("BTC-15MAR24-72000-C", 72_000.0, 14, 6.0)
WEAK = cand("BTC-15MAR24-74000-C", 74_000.0, 14, 2.0)
TP = StrategyConfig(underlying="BTC", exit_style="tp_and_roll", tp_threshold_pct=80)
HOLD = StrategyConfig(underlying="BTC")

# (name, cfg, position, mark, candidates, rolls, is_decision, action, sold, no_roll)
CASES = [
    ("sell", HOLD, None, None, [OTHER, WEAK], 0, True, Action.sell, OTHER, -1),
    ("position_open", HOLD, CALL, 0.001, [OTHER], 0, True, Action.position_open, None, -1),
    ("no_candidate", HOLD, None, None, [], 0, True, Action.no_candidate, None, -1),
    ("below_threshold", HOLD, None, None, [WEAK], 0, True, Action.below_threshold, None, -1),
    ("roll past the call itself", TP, CALL, 0.001, [SAME, OTHER], 0, False, Action.roll, OTHER,
     -1),
    ("take_profit: roll limit", TP, CALL, 0.001, [OTHER], 3, True, Action.take_profit, None,
     NoRoll.roll_limit),
    ("take_profit: no other candidate", TP, CALL, 0.001, [SAME, WEAK], 0, True,
     Action.take_profit, None, NoRoll.no_candidate),
    ("not_a_decision", TP, CALL, 0.005, [OTHER], 0, False, Action.not_a_decision, None, -1),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_one_case_per_action(case):
    _, cfg, pos, mark, cands, rolls, is_decision, action, sold, no_roll = case
    d = decide(cfg, NOW, pos, mark, cands, rolls, is_decision)
    assert (d.code, d.sell, d.no_roll) == (action, sold, no_roll)
    assert d.buy_back == (action in (Action.roll, Action.take_profit))
    assert d.reason and "{" not in d.reason
    ref_call = None if pos is None else {
        "premium": pos.premium_coin, "strike": pos.strike, "expiry": pos.expiry}  # fmt: skip
    assert decide_ref(cfg, NOW, ref_call, mark, cands, rolls, is_decision) == (d.action, sold)


def test_take_profit_too_close_to_expiry_does_not_roll():
    cfg = TP.model_copy(update={"min_dte_to_roll": 8.0})
    d = decide(cfg, NOW, CALL, 0.001, [OTHER], 0)
    assert (d.code, d.no_roll) == (Action.take_profit, NoRoll.too_close_to_expiry)
    assert d.captured_share == pytest.approx(0.9)
    assert "90% of the premium captured" in d.reason and "too close to expiry" in d.reason


def test_hold_to_expiry_never_takes_profit():
    d = decide(HOLD, NOW, CALL, 0.0, [OTHER], 0, is_decision_time=False)
    assert d.code == Action.not_a_decision and math.isnan(d.captured_share)


def test_unknown_mark_skips_the_take_profit_test():
    assert decide(TP, NOW, CALL, None, [OTHER], 0).code == Action.position_open


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [
        (Action.roll, 1, 2),
        (Action.sell, 2, 0),
        (Action.take_profit, 2, 0),
        (Action.expiry, 1, 0),
        (Action.close, 2, 0),
        (Action.position_open, 2, 2),
        (Action.not_a_decision, 1, 1),
    ],
)
def test_roll_counter(action, before, after):
    assert rolls_after(action, before) == after


def test_policy_params_carry_the_strategy():
    p = policy_params(TP.model_copy(update={"max_rolls_per_chain": 2, "min_dte_to_roll": 1.5}))
    assert p.tolist() == [1.0, 5.0, 0.8, 2.0, 1.5]


prices = st.floats(0.0, 0.5, allow_nan=False)
sizes = st.floats(0.1, 100.0, allow_nan=False)


@given(qty=sizes, price=prices, rate=st.floats(0, 0.01), cap=st.floats(0, 100))
def test_trade_fee_equals_its_twin(qty, price, rate, cap):
    fees = FeeModel(option_fee_rate=rate, option_fee_cap_pct=cap)
    assert trade_fee_coin(fees, qty, price) == trade_fee_ref(fees, qty, price)


@given(
    qty=sizes,
    settle=st.floats(1_000, 200_000),
    strike=st.floats(1_000, 200_000),
    day=st.integers(0, 6),
    dailies=st.booleans(),
)
def test_settlement_equals_its_twin(qty, settle, strike, day, dailies):
    fees = FeeModel(settlement_fee_on_dailies=dailies)
    expiry = datetime(2024, 3, 4, 8, tzinfo=UTC) + timedelta(days=day)  # Monday + day
    value, fee = settlement_coin(fees, qty, settle, strike, expiry)
    assert value == max(settle - strike, 0.0) / settle
    assert fee == settlement_fee_ref(fees, qty, value, expiry)
    if day == 4 and value > 0:  # a Friday in the money always pays
        assert fee > 0


def test_settlement_fee_kernel_knows_fridays_from_the_epoch():
    friday = int(np.datetime64("2024-03-08T08:00", "ns").astype(np.int64))
    params = fee_params(FeeModel())
    assert settlement_fee_nb(1.0, 0.1, friday, params) == pytest.approx(0.00015)
    assert settlement_fee_nb(1.0, 0.1, friday - 86_400 * 10**9, params) == 0.0


@pytest.mark.parametrize(
    ("quoted", "expected"), [(0.012, 0.012), (0.0, 0.01), (math.nan, 0.01), (-1.0, 0.01)]
)
def test_fills_take_the_quoted_side_else_the_mark(quoted, expected):
    assert sale_price_nb(0.01, quoted) == expected
    assert buyback_price_nb(0.01, quoted) == expected


def test_schedule_decides_once_per_interval_from_its_anchor():
    anchor = datetime(2024, 3, 1, tzinfo=UTC)
    sched = DecisionSchedule(24, anchor=anchor, until=anchor + timedelta(days=3))
    t = anchor + timedelta(hours=5)  # a live agent starting mid-interval decides at once
    assert sched.is_due(t)
    sched.done(t)
    assert not sched.is_due(t + timedelta(hours=18))  # same interval
    assert sched.is_due(anchor + timedelta(days=1))  # the next interval's first cycle
    assert sched.is_due(anchor + timedelta(days=1, hours=7))  # still due: not decided yet
    assert not sched.is_due(anchor + timedelta(days=3))  # ``until`` is exclusive


def test_schedule_on_a_bar_grid_equals_the_backtests_decision_instants():
    anchor = datetime(2024, 3, 1, tzinfo=UTC)
    end = anchor + timedelta(days=5)
    times = [anchor + timedelta(hours=4 * k) for k in range(31)]  # 4h bars through the end
    sched = DecisionSchedule(12, anchor=anchor, until=end)
    due = []
    for t in times:
        due.append(sched.is_due(t))
        if due[-1]:
            sched.done(t)
    ns = np.array([to_ns(t) for t in times])
    assert due == decision_mask(ns, to_ns(anchor), 12, to_ns(end)).tolist()
    assert sum(due) == 10

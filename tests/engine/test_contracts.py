"""Deribit's option contracts: the tick grid and trade sizes, checked on recorded data."""

import json

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.instruments.contracts import OPTION_SPECS
from engine.policy.execution import buyback_limit_coin, sale_limit_coin
from tests.reference.policy import tick_down_ref, tick_up_ref


def _instruments(path) -> list[dict]:
    reply = json.loads(path.read_text())
    result = reply.get("result", reply)
    return result if isinstance(result, list) else [result]


def test_eth_spec_is_the_recorded_get_instruments_reply(api_responses_dir):
    path = api_responses_dir / "gec" / "public_get_instruments_ETH_option_ETH-6JUL25.json"
    options = [i for i in _instruments(path) if i.get("kind") == "option"]
    assert options
    spec = OPTION_SPECS["ETH"]
    for inst in options:
        assert inst["tick_size"] == spec.tick_size
        assert inst["tick_size_steps"] == [{"tick_size": spec.step_tick,
                                            "above_price": spec.step_above}]  # fmt: skip
        assert inst["min_trade_amount"] == spec.min_amount
        assert inst["contract_size"] == spec.contract_size


def test_btc_options_trade_from_a_tenth_of_a_coin(api_responses_dir):
    path = api_responses_dir / "nautilus_trader" / "http_get_instrument_option.json"
    [inst] = _instruments(path)
    assert inst["min_trade_amount"] == OPTION_SPECS["BTC"].min_amount == 0.1
    assert inst["contract_size"] == OPTION_SPECS["BTC"].contract_size


@pytest.mark.parametrize("underlying", ["BTC", "ETH"])
def test_real_quotes_sit_on_the_grid(snapshots_dir, underlying):
    chain = pl.read_parquet(snapshots_dir / f"{underlying}_2025-12-07_2025-12-11.parquet")
    quotes = pl.concat([chain["best_bid_price"], chain["best_ask_price"]]).drop_nulls()
    quotes = quotes.filter(quotes > 0).unique().to_list()
    assert len(quotes) > 100
    spec = OPTION_SPECS[underlying]
    off_grid = [
        q for q in quotes if sale_limit_coin(q, spec) != q or buyback_limit_coin(q, spec) != q
    ]
    assert off_grid == []


prices = st.floats(1e-5, 2.0, allow_nan=False).map(lambda x: round(x, 7))


@given(price=prices, underlying=st.sampled_from(["BTC", "ETH"]))
def test_limits_equal_their_twins_and_stay_on_the_right_side(price, underlying):
    spec = OPTION_SPECS[underlying]
    grid = (spec.tick_size, spec.step_above, spec.step_tick)
    down, up = sale_limit_coin(price, spec), buyback_limit_coin(price, spec)
    assert down == tick_down_ref(price, *grid) and up == tick_up_ref(price, *grid)
    assert down <= price <= up
    assert sale_limit_coin(down, spec) == down and buyback_limit_coin(up, spec) == up


@pytest.mark.parametrize(
    ("price", "down", "up"),
    [(0.0215, 0.0215, 0.0215), (0.02151, 0.0215, 0.022), (0.00501, 0.005, 0.0055),
     (0.00498, 0.0049, 0.005), (0.0049999, 0.0049, 0.005), (0.00012, 0.0001, 0.0002)],
)  # fmt: skip
def test_grid_by_hand(price, down, up):
    spec = OPTION_SPECS["BTC"]
    assert (sale_limit_coin(price, spec), buyback_limit_coin(price, spec)) == (down, up)

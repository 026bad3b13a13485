"""Backtests on recorded option chains: a hand-made chain checked step by step, and an audit of
every trade on the real snapshots in ``../shared`` against the store they were read from."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cache.chains import ChainStore
from cache.datasource import DataNotCoveredError, DeribitDataSource
from cache.importers import series
from cache.importers.chains import import_chains
from cache.store import Store
from engine.chains import data_fingerprint, resolve_option_market
from engine.config import CallSimulationConfig
from engine.market import load_run_market
from engine.simulator import CoveredCallSimulator
from tests.cache.chain_files import tardis_from_snapshots, write_tardis
from tests.conftest import SNAPSHOTS_DIR, require_dir

T0 = datetime(2025, 12, 8, tzinfo=UTC)
EXPIRY = datetime(2025, 12, 10, 8, tzinfo=UTC)
CALL = "BTC-10DEC25-92000-C"
# minutes after T0 -> (mark, bid, ask) of CALL; None: that side is empty. The derived candles
# have a bar for each hour holding a snapshot, so every hour here holds one.
QUOTES = {
    0: (0.0041, 0.0036, 0.0046),
    60: (0.0040, 0.0035, 0.0045),  # 01:00: the first instant sells at this bid
    120: (0.0030, None, 0.0035),  # 02:00: held
    160: (0.0028, None, 0.0033),  # 02:40: 20 min before 03:00, a gap at 03:00
    230: (0.0015, None, None),  # 03:50, read at 04:00: take-profit reached, no ask
    240: (0.0015, None, None),
    300: (0.0012, None, 0.0014),  # 05:00: bought back at the ask
    360: (0.0010, None, 0.0012),
    420: (0.0009, None, 0.0011),
}


def _chain_rows(minutes: int, mark: float, bid, ask) -> dict:
    return {
        "time": T0 + timedelta(minutes=minutes),
        "instrument_name": CALL,
        "expiry": EXPIRY,
        "strike": 92000.0,
        "option_type": "C",
        "bid_price": bid,
        "bid_amount": None if bid is None else 5.0,
        "ask_price": ask,
        "ask_amount": None if ask is None else 5.0,
        "mark_price": mark,
        "mark_iv": 50.0,
        "bid_iv": None,
        "ask_iv": None,
        "underlying_price": 90000.0,
        "underlying_index": "SYN.BTC-10DEC25",
        "index_price": 90000.0 - minutes,
        "open_interest": 10.0,
    }


@pytest.fixture
def hand_source(tmp_path: Path) -> DeribitDataSource:
    """A chain source holding one call quoted as :data:`QUOTES` says, with derived candles."""
    store = Store(tmp_path)
    store.ensure_source("hand", "import", label="hand-made chains")
    rows = [_chain_rows(m, *q) for m, q in sorted(QUOTES.items())]
    ChainStore(store).write("hand", "BTC", pl.DataFrame(rows))
    series.derive(store, "hand", "BTC", [T0.date()])
    return DeribitDataSource(tmp_path, "hand")


def _hand_config(**kw) -> CallSimulationConfig:
    base = dict(
        underlying="BTC", start=T0, end=T0 + timedelta(hours=7), source="hand",
        decision_interval_hours=1, exit_style="tp_and_roll", target_dte=2.0, min_dte=0.5,
        max_dte=7.0, min_score_to_trade=0.0, tp_threshold_pct=50.0, option_market="chains",
    )  # fmt: skip
    return CallSimulationConfig(**(base | kw))


def test_a_hand_made_chain_is_traded_at_its_recorded_bid_and_ask(hand_source):
    res = CoveredCallSimulator(hand_source, _hand_config()).simulate_policy()
    steps = res.steps.select(pl.col("time").dt.hour().alias("h"), "action", "reason")
    by_hour = dict(zip(steps["h"], steps["action"], strict=True))
    assert by_hour == {
        1: "sell", 2: "position_open", 3: "position_open", 4: "no_ask", 5: "take_profit",
        6: "no_candidate",
    }  # fmt: skip
    assert "no ask was quoted" in steps.filter(pl.col("h") == 4)["reason"][0]
    (trade,) = res.trades.iter_rows(named=True)
    assert trade["instrument_name"] == CALL
    assert trade["premium_coin"] == 0.0035  # the recorded bid at 01:00, not the mark
    assert trade["mark_at_open_coin"] == 0.0040
    assert trade["close_price_coin"] == 0.0014  # the recorded ask at 05:00
    assert trade["mark_at_close_coin"] == 0.0012
    assert trade["close_reason"] == "take_profit"
    # 03:00 reads no snapshot (02:40 is 20 min old): the call keeps its 02:00 mark
    eq = res.equity.filter(pl.col("time") == T0 + timedelta(hours=3))
    assert eq["call_mark_coin"][0] == 0.0030
    chains = res.data["chains"]
    assert chains["gap_decisions"] == 1 and chains["gap_instants"] == 1
    assert chains["no_ask_instants"] == 1 and chains["unquoted_instants"] == 1
    assert res.data["option_market"] == "chains"
    assert any("no ask" in w for w in res.data["warnings"])
    assert any("1 of 6 decision instants had no snapshot" in w for w in res.data["warnings"])


def test_the_staleness_limit_decides_what_is_a_gap(hand_source):
    res = CoveredCallSimulator(
        hand_source, _hand_config(chain_max_age_minutes=30)
    ).simulate_policy()
    assert res.data["chains"]["gap_instants"] == 0
    eq = res.equity.filter(pl.col("time") == T0 + timedelta(hours=3))
    assert eq["call_mark_coin"][0] == 0.0028  # the 02:40 snapshot is recent enough now


def test_fills_at_mark_on_chains_take_the_recorded_mark(hand_source):
    res = CoveredCallSimulator(hand_source, _hand_config(fill_model="mark")).simulate_policy()
    (trade,) = res.trades.iter_rows(named=True)
    assert trade["premium_coin"] == 0.0040
    # at the mark the buy-back needs no ask: the take-profit fires at 04:00
    assert trade["close_price_coin"] == 0.0015
    assert res.data["chains"]["no_ask_instants"] == 0


def test_chains_are_demanded_only_where_they_are(hand_source):
    with pytest.raises(DataNotCoveredError, match="recorded BTC chains of source 'hand'") as err:
        load_run_market(hand_source, _hand_config(end=T0 + timedelta(hours=12)))
    assert err.value.fields == ("end",)
    auto = _hand_config(option_market="auto")
    assert resolve_option_market(hand_source, auto) == "chains"
    assert load_run_market(hand_source, auto).chains is not None
    beyond = _hand_config(option_market="auto", end=T0 + timedelta(hours=12))
    assert resolve_option_market(hand_source, beyond) == "model"
    assert resolve_option_market(hand_source, _hand_config(option_market="model")) == "model"
    with pytest.raises(DataNotCoveredError, match="holds no ETH data") as err:
        resolve_option_market(hand_source, _hand_config(underlying="ETH"))
    assert err.value.fields == ("source",)


# -- the real snapshots of ../shared ------------------------------------------------------------


@pytest.fixture(scope="module")
def real_source(tmp_path_factory) -> DeribitDataSource:
    """The ``../shared`` snapshots imported into a chain source (once for the module)."""
    snapshots = require_dir(SNAPSHOTS_DIR)
    data_dir = tmp_path_factory.mktemp("real-chains")
    import_chains(Store(data_dir), "real", "snapshots", sorted(snapshots.glob("*.parquet")))
    return DeribitDataSource(data_dir, "real")


@pytest.fixture(scope="module")
def tardis_source(tmp_path_factory) -> DeribitDataSource:
    """The same snapshots converted to Tardis ``options_chain`` CSV in the test and imported as
    Tardis files (sampled every 5 minutes), as a user with Tardis data would."""
    snapshots = require_dir(SNAPSHOTS_DIR)
    work = tmp_path_factory.mktemp("tardis-chains")
    files = [
        write_tardis(tardis_from_snapshots(pl.read_parquet(path)), work / f"{path.stem}.csv.gz")
        for path in sorted(snapshots.glob("*.parquet"))
    ]
    import_chains(Store(work / "data"), "tardis", "tardis", files, every="5m")
    return DeribitDataSource(work / "data", "tardis")


def _used_snapshot(ds, underlying: str, at: datetime, max_age: timedelta) -> pl.DataFrame:
    snap = ds.get_chain_at(underlying, at, max_age)
    assert snap.height, f"no snapshot within {max_age} of {at}"
    return snap


AUDITED = [
    ("BTC", "tp_and_roll", 30.0, 60),
    ("ETH", "tp_and_roll", 30.0, 60),
    ("BTC", "hold_to_expiry", 80.0, 15),
    ("ETH", "tp_and_roll", 50.0, 15),
]


@pytest.mark.parametrize("imported", ["real_source", "tardis_source"])
@pytest.mark.parametrize(("underlying", "style", "tp", "max_age"), AUDITED)
def test_every_real_chain_trade_is_at_the_recorded_bid_and_ask(
    request, imported, underlying, style, tp, max_age
):
    real_source = request.getfixturevalue(imported)  # imported as snapshots, or as Tardis CSV
    cfg = CallSimulationConfig(
        underlying=underlying, start="2025-12-07T20:00:00Z", end="2025-12-11T22:00:00Z",
        source=real_source.source, decision_interval_hours=1, exit_style=style, target_dte=2.0,
        min_dte=0.3, max_dte=7.0, min_score_to_trade=3.0, tp_threshold_pct=tp,
        chain_max_age_minutes=max_age, option_market="chains",
    )  # fmt: skip
    res = CoveredCallSimulator(real_source, cfg).simulate_policy()
    age = timedelta(minutes=max_age)
    assert res.trades.height > 0
    for tr in res.trades.iter_rows(named=True):
        opened = _used_snapshot(real_source, underlying, tr["open_time"], age)
        quote = opened.filter(pl.col("instrument_name") == tr["instrument_name"])
        assert quote.height == 1, f"{tr['instrument_name']} was not quoted at {tr['open_time']}"
        assert tr["premium_coin"] == quote["bid_price"][0]
        assert tr["mark_at_open_coin"] == quote["mark_price"][0]
        if tr["close_reason"] == "take_profit":
            closed = _used_snapshot(real_source, underlying, tr["close_time"], age)
            quote = closed.filter(pl.col("instrument_name") == tr["instrument_name"])
            assert tr["close_price_coin"] == quote["ask_price"][0]
            assert tr["mark_at_close_coin"] == quote["mark_price"][0]
    # every candidate kept was a call quoted with a bid in the snapshot its instant read
    for (t,), cands in res.candidates.group_by("time"):
        snap = _used_snapshot(real_source, underlying, t, age).filter(pl.col("bid_price") > 0)
        quoted = set(zip(snap["expiry"], snap["strike"], snap["bid_price"], strict=True))
        kept = zip(cands["expiry"], cands["strike"], cands["bid_price_coin"], strict=True)
        assert set(kept) <= quoted


def test_gaps_are_the_instants_without_a_fresh_snapshot(real_source):
    cfg = CallSimulationConfig(
        underlying="BTC", start="2025-12-07T20:00:00Z", end="2025-12-11T22:00:00Z",
        source="real", decision_interval_hours=1, option_market="chains", target_dte=2.0,
        min_dte=0.3, max_dte=7.0,
    )  # fmt: skip
    market = load_run_market(real_source, cfg)
    times = ChainStore(real_source.store).snapshot_times(
        "real", "BTC", cfg.start - timedelta(hours=1), cfg.end + timedelta(hours=1)
    )
    stored = times.dt.epoch("ns").to_numpy()
    j = np.searchsorted(stored, market.t_ns, side="right") - 1
    fresh = (j >= 0) & (market.t_ns - stored[np.maximum(j, 0)] <= 15 * 60 * 10**9)
    assert market.chains.gaps() == int((~fresh).sum())
    assert 0 < market.chains.gaps() < len(market.t_ns)
    assert np.array_equal(market.chains.instant_snap >= 0, fresh)
    res = CoveredCallSimulator(real_source, cfg).simulate_policy()
    gap_times = pl.Series(market.t_ns[~fresh]).cast(pl.Datetime("ns", "UTC"))
    at_gaps = res.steps.filter(
        pl.col("time").is_in(gap_times.cast(pl.Datetime("us", "UTC")).implode())
    )
    assert at_gaps.height == res.data["chains"]["gap_decisions"] > 0
    assert (at_gaps["candidates"] == 0).all()
    assert not at_gaps["traded"].any()


def test_recording_chains_changes_only_what_reads_them(tmp_path):
    """Chains the agent records every cycle must not re-key model runs on the same source."""
    store = Store(tmp_path)
    store.ensure_source("own", "import", label="candles of its own")
    hours = pl.datetime_range(T0 - timedelta(days=2), T0 + timedelta(hours=8), "1h", eager=True)
    candles = pl.DataFrame({"time": hours}).with_columns(
        open=pl.lit(90000.0), high=pl.lit(90100.0), low=pl.lit(89900.0), close=pl.lit(90000.0),
        volume=pl.lit(1.0),
    )  # fmt: skip
    store.write_candles("own", "BTC", candles)
    store.write_iv("own", "BTC", candles.select("time", iv=pl.lit(50.0)))
    model = _hand_config(source="own", option_market="model")
    chains = _hand_config(source="own", option_market="chains")
    before = DeribitDataSource(tmp_path, "own")
    assert before.meta.series_fingerprint == before.fingerprint  # no chains yet
    rows = [_chain_rows(m, *q) for m, q in sorted(QUOTES.items())]
    ChainStore(store).write("own", "BTC", pl.DataFrame(rows[:4]))
    first = DeribitDataSource(tmp_path, "own")
    ChainStore(store).write("own", "BTC", pl.DataFrame(rows[4:]))  # the next cycles' snapshots
    second = DeribitDataSource(tmp_path, "own")
    assert len({before.fingerprint, first.fingerprint, second.fingerprint}) == 3
    assert data_fingerprint(second, model) == data_fingerprint(before, model)
    assert data_fingerprint(second, chains) == second.fingerprint
    assert CoveredCallSimulator(second, model).run_id == CoveredCallSimulator(before, model).run_id
    assert load_run_market(second, model).data_fingerprint == before.meta.series_fingerprint

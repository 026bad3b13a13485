"""Benchmark: a backtest on a month of 5-minute BTC option chains (real-chain mode).

Run with ``.venv/bin/python -m bench.chain_backtest [--days 30] [--data-dir DIR]``. It writes a
synthetic chain source shaped like Deribit's: every 5 minutes, the calls and puts of the expiries
Deribit lists (:func:`engine.instruments.listed_expiries`) on the strike grid it uses
(:func:`engine.instruments.strike_grid`), about 750 instruments per snapshot, priced with Black-76
on a random-walk spot and a smiled IV, bid and ask a few percent around the mark on the tick grid
and empty where the mark is under a tick. Then it runs hourly decisions with ``option_market
chains`` for both exit styles and prints:

- load + prepare time (reading the store, one snapshot per instant, and scoring in numba) against
  the 10 s target, and the replay time against the 1 s target, as ratios;
- the same snapshots read one instant at a time through ``DeribitDataSource.get_chain_at`` (the
  obvious slow path), timed on a day's instants and scaled to the month: the batch read's
  speed-up;
- peak RSS.

Timings exclude compilation (a small run compiles every kernel first).
"""

import argparse
import math
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from cache.chains import ChainStore
from cache.datasource import DeribitDataSource
from cache.importers import series
from cache.store import Store
from engine.config import CallSimulationConfig
from engine.instruments import format_instrument, is_monthly_expiry, listed_expiries, strike_grid
from engine.market import load_run_market
from engine.prepare import prepare
from engine.pricing.black76 import option_price
from engine.replay import Replayer

TARGET_PREPARE_S = 10.0
TARGET_REPLAY_S = 1.0
START = datetime(2025, 11, 1, tzinfo=UTC)
EVERY = timedelta(minutes=5)
SPOT0, VOL, TICK = 90_000.0, 0.5, 0.0001
GRID_SIGMA = 0.62  # widens the strike bands to the ~750 instruments of a real snapshot
SOURCE = "bench-chains"


def _day_instruments(day: datetime, spot: float) -> pl.DataFrame:
    """The options listed on ``day`` at 00:00 UTC: name, expiry, strike, type."""
    rows = []
    for expiry in listed_expiries("BTC", day):
        t = (expiry - day).total_seconds() / (365 * 86400)
        for k in strike_grid("BTC", spot, t, monthly=is_monthly_expiry(expiry), sigma=GRID_SIGMA):
            for kind in ("C", "P"):
                rows.append((format_instrument("BTC", expiry, float(k), kind), expiry, k, kind))
    return pl.DataFrame(
        rows, schema=["instrument_name", "expiry", "strike", "option_type"], orient="row"
    ).with_columns(pl.col("expiry").dt.cast_time_unit("us"))


def _day_chains(day: datetime, spots: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """One day of 5-minute snapshots in the chain store's schema."""
    listed = _day_instruments(day, float(spots[0]))
    n_snap, n_inst = len(spots), listed.height
    naive = day.replace(tzinfo=None)
    times = np.array([naive + i * EVERY for i in range(n_snap)], dtype="datetime64[us]")
    t_ns = times.astype("datetime64[ns]").view(np.int64)
    exp_ns = listed["expiry"].dt.epoch("ns").to_numpy()
    t_years = (exp_ns[None, :] - t_ns[:, None]) / (365 * 86400e9)
    strike = np.broadcast_to(listed["strike"].to_numpy(), (n_snap, n_inst))
    fwd = spots[:, None] * np.exp(0.04 * np.maximum(t_years, 0))
    x = np.log(strike / fwd) / np.sqrt(np.maximum(t_years, 1 / 365))
    iv = VOL * (1 - 0.06 * x + 0.05 * x * x) * (1 + 0.01 * rng.standard_normal((n_snap, 1)))
    is_call = np.broadcast_to(listed["option_type"].to_numpy() == "C", (n_snap, n_inst))
    live = t_years > 0
    mark = np.where(live, option_price(fwd, strike, np.maximum(t_years, 1e-9), iv, is_call), 0)
    mark = np.round(mark, 8)
    bid = np.floor(mark * 0.97 / TICK) * TICK
    ask = np.ceil(mark * 1.03 / TICK) * TICK + TICK
    flat = lambda a: np.ascontiguousarray(a).reshape(-1)  # noqa: E731
    frame = pl.DataFrame(
        {
            "time": np.repeat(times, n_inst),
            "instrument_name": np.tile(listed["instrument_name"].to_numpy(), n_snap),
            "expiry": np.tile(listed["expiry"].to_numpy(), n_snap),
            "strike": flat(strike),
            "option_type": np.tile(listed["option_type"].to_numpy(), n_snap),
            "bid_price": flat(np.where(bid >= TICK, bid, np.nan)),
            "bid_amount": flat(np.where(bid >= TICK, 10.0, np.nan)),
            "ask_price": flat(ask),
            "ask_amount": np.full(n_snap * n_inst, 10.0),
            "mark_price": flat(mark),
            "mark_iv": flat(iv * 100),
            "underlying_price": flat(fwd),
            "index_price": np.repeat(spots, n_inst),
        },
        nan_to_null=True,
    ).with_columns(pl.col("time", "expiry").dt.replace_time_zone("UTC"))
    return frame.filter(flat(live)).sort("time", "instrument_name")


def write_month(data_dir: Path, days: int, seed: int = 0) -> tuple[int, int]:
    """Write ``days`` days of chains and their derived candles; return (snapshots, rows)."""
    rng = np.random.default_rng(seed)
    store = Store(data_dir)
    store.ensure_source(SOURCE, "import", label="benchmark chains (synthetic, not market data)")
    chains = ChainStore(store)
    per_day = int(timedelta(days=1) / EVERY)
    step_sd = VOL * math.sqrt(EVERY.total_seconds() / (365 * 86400))
    spot, rows = SPOT0, 0
    for d in range(days):
        day = START + timedelta(days=d)
        path = spot * np.exp(np.cumsum(step_sd * rng.standard_normal(per_day)))
        frame = _day_chains(day, path, rng)
        rows += chains.write(SOURCE, "BTC", frame).rows
        spot = float(path[-1])
    series.derive(store, SOURCE, "BTC", [(START + timedelta(days=d)).date() for d in range(days)])
    return days * per_day, rows


def _config(days: int, style: str) -> CallSimulationConfig:
    return CallSimulationConfig(
        underlying="BTC", start=START, end=START + timedelta(days=days - 1), source=SOURCE,
        decision_interval_hours=1, exit_style=style, option_market="chains",
    )  # fmt: skip


def _timed(ds, cfg) -> dict[str, float]:
    t0 = time.perf_counter()
    market = load_run_market(ds, cfg)
    t1 = time.perf_counter()
    prepared = prepare(market, cfg)
    t2 = time.perf_counter()
    out = Replayer(market, prepared, cfg, 1.0).run()
    t3 = time.perf_counter()
    return {
        "load": t1 - t0, "prepare": t2 - t1, "replay": t3 - t2, "instants": len(market.t_ns),
        "scored": int(prepared.n_candidates.sum()), "rows": len(market.chains.mark),
        "trades": out.trades.height,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """Write the month, run the backtests and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, help="where to write the source (temp dir)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="thetadesk-bench-chains-"))
    t0 = time.perf_counter()
    snaps, rows = write_month(data_dir, args.days)
    print(
        f"wrote {snaps:,} snapshots, {rows:,} rows ({rows / snaps:.0f} instruments per snapshot) "
        f"of synthetic BTC chains in {time.perf_counter() - t0:.1f} s  (data: {data_dir})"
    )
    ds = DeribitDataSource(data_dir, SOURCE)
    _timed(ds, _config(2, "tp_and_roll"))  # compile every kernel outside the timings
    for style in ("hold_to_expiry", "tp_and_roll"):
        r = _timed(ds, _config(args.days, style))
        load_prep = r["load"] + r["prepare"]
        print(
            f"{style:15s} {r['instants']} hourly instants, {r['rows']:,} recorded calls read, "
            f"{r['scored']:,} candidates scored, {r['trades']} trades: load {r['load']:.2f} s + "
            f"prepare {r['prepare']:.2f} s = {load_prep:.2f} s ({load_prep / TARGET_PREPARE_S:.2f}"
            f" of the {TARGET_PREPARE_S:g} s target); replay {r['replay']:.3f} s "
            f"({r['replay'] / TARGET_REPLAY_S:.3f} of the {TARGET_REPLAY_S:g} s target)"
        )
    market = load_run_market(ds, _config(args.days, "tp_and_roll"))
    day = market.t_ns[:24]
    t0 = time.perf_counter()
    for t in day:
        ds.get_chain_at("BTC", datetime.fromtimestamp(t / 1e9, UTC), timedelta(minutes=15))
    one_by_one = (time.perf_counter() - t0) / len(day) * len(market.t_ns)
    t0 = time.perf_counter()
    load_run_market(ds, _config(args.days, "tp_and_roll"))
    batch = time.perf_counter() - t0
    print(
        f"reading the snapshots one instant at a time (get_chain_at): {one_by_one:.1f} s scaled "
        f"from {len(day)} instants to {len(market.t_ns)}; the batch load: {batch:.2f} s, "
        f"{one_by_one / batch:.0f}x faster"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB (whole process, writing the month included)")


if __name__ == "__main__":
    main()

"""The speed table: every speed target of the backtester measured in one run, in one table.

Run with ``make bench`` or ``.venv/bin/python -m bench.speed [--repeat N]``. Everything runs on
the synthetic market in a temp data dir, after a warm-up run that loads (or compiles) every
kernel, and is timed here, in this run, so the ratios compare like with like:

- per decision, in-process (``CoveredCallSimulator.simulate_policy``, nothing cached or written):
  a year (BTC 2023, 1h bars) of daily and of hourly decisions, hold to expiry and take profit and
  roll, median of ``--repeat`` runs; the measure a peer backtester is compared on;
- W1 (``bench.backtest``) end to end per exit style, as the dashboard runs it (``execute_run``:
  load, prepare with an empty prepared cache, replay, write the run), min and median;
- the prepare phase of W1 alone (``score_instants``, candidates scored per second) on one thread
  and on :data:`engine.prepare.driver.PREPARE_THREADS`, min of ``--repeat``, wall and CPU;
- first-run latency: a ``thetadesk serve`` started on the user's kernel cache (``make install``
  fills it), clicked once its engine is ready, first click against the second (the dashboard's
  default backtest, prepared cache cleared before each click).

Wall times count waiting for a core when other processes load the machine; the CPU figures
(``time.process_time``) do not, so compare those when the load average is above 1.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.backtest import W1
from bench.startup import click, wait_for_engine
from cache.datasource import DeribitDataSource
from cache.store import Store
from cache.warm import warm_synthetic
from engine.config import CallSimulationConfig
from engine.market import load_run_market
from engine.prepare import driver, prepared_times, score_instants
from engine.results.runs import execute_run
from engine.simulator import CoveredCallSimulator
from tests.browser.live_server import LiveServer

YEAR = dict(underlying="BTC", start="2023-01-01", end="2024-01-01", timeframe="1h")
STYLES = ("hold_to_expiry", "tp_and_roll")
TARGET_W1_S = 0.5
TARGET_PREPARE_M_PER_S = 10.0
TARGET_TP_OVER_HOLD = 1.5
TARGET_FIRST_OVER_SECOND = 2.0


def timed(fn, repeat: int) -> tuple[list[float], list[float], object]:
    """Wall and CPU seconds of ``repeat`` calls of ``fn``, and its last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, out


def per_decision(ds: DeribitDataSource, hours: int, style: str, repeat: int) -> dict:
    """Median ms per decision of a year in-process (wall and CPU), and the candidates scored."""
    cfg = CallSimulationConfig(**YEAR, decision_interval_hours=hours, exit_style=style)
    walls, cpus, result = timed(lambda: CoveredCallSimulator(ds, cfg).simulate_policy(), repeat)
    decisions = result.timings["decisions"]
    return {
        "ms": statistics.median(walls) / decisions * 1e3,
        "cpu_ms": statistics.median(cpus) / decisions * 1e3,
        "decisions": decisions,
        "candidates": result.timings["candidates_scored"],
        "on_demand": result.timings["instants_scored_on_demand"],
    }


def w1_end_to_end(data_dir: Path, style: str, repeat: int) -> dict:
    """W1 through ``execute_run`` with an empty prepared cache: seconds, min and median."""
    cfg = CallSimulationConfig(**W1, exit_style=style)

    def run() -> None:
        shutil.rmtree(data_dir / "prepared", ignore_errors=True)
        execute_run(data_dir, cfg)

    walls, cpus, _ = timed(run, repeat)
    cached, _, _ = timed(lambda: execute_run(data_dir, cfg), repeat)
    return {"min": min(walls), "median": statistics.median(walls), "cpu": min(cpus),
            "cached": min(cached)}  # fmt: skip


def prepare_rate(ds: DeribitDataSource, repeat: int) -> dict[int, dict]:
    """W1's prepare phase alone on 1 and on PREPARE_THREADS threads: M candidates/s (min)."""
    cfg = CallSimulationConfig(**W1, exit_style="hold_to_expiry")
    market = load_run_market(ds, cfg)
    idx = prepared_times(market, cfg)
    rates, threads = {}, driver.PREPARE_THREADS
    try:
        for n in sorted({1, threads}):
            driver.PREPARE_THREADS = n
            walls, cpus, out = timed(lambda: score_instants(market, cfg, idx), repeat)
            scored = int(np.sum(out[2]))
            rates[n] = {"wall": min(walls), "cpu": min(cpus), "m_per_s": scored / min(walls) / 1e6,
                        "scored": scored}  # fmt: skip
    finally:
        driver.PREPARE_THREADS = threads
    return rates


def first_run(data_dir: Path) -> tuple[float, float]:
    """Seconds of the first and second click on a server whose engine is ready."""
    with LiveServer(data_dir) as server:
        wait_for_engine(server)
        first, _ = click(server, data_dir)
        second, _ = click(server, data_dir)
    return first, second


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def main(argv: list[str] | None = None) -> None:
    """Measure everything and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure")
    parser.add_argument("--no-server", action="store_true", help="skip the first-run latency")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="thetadesk-bench-speed-"))
    try:
        warm_synthetic(Store(data_dir))
        ds = DeribitDataSource(data_dir, "synthetic")
        execute_run(data_dir, CallSimulationConfig(**{**W1, "start": "2023-12-01"},
                                                   exit_style="tp_and_roll"))  # fmt: skip
        rows = {(h, s): per_decision(ds, h, s, args.repeat) for h in (24, 1) for s in STYLES}
        w1 = {s: w1_end_to_end(data_dir, s, args.repeat) for s in STYLES}
        rates = prepare_rate(ds, args.repeat)
        clicks = None if args.no_server else first_run(data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print_table(rows, w1, rates, clicks, args.repeat)


def row(label: str, hold: str, tp: str, note: str = "") -> None:
    print(f"| {label:54s} | {hold:>19s} | {tp:>19s} | {note}")


def print_table(rows: dict, w1: dict, rates: dict, clicks: tuple | None, repeat: int) -> None:
    load = os.getloadavg()[0]
    print(f"speed table (BTC, synthetic market; {repeat} runs per figure; load average {load:.1f})")
    row("measure", "hold_to_expiry", "tp_and_roll", "ratio; target")
    print(f"|{'-' * 56}|{'-' * 21}|{'-' * 21}|{'-' * 32}")
    for hours, name in ((24, "daily"), (1, "hourly")):
        hold, tp = rows[(hours, "hold_to_expiry")], rows[(hours, "tp_and_roll")]
        ratio = tp["ms"] / hold["ms"]
        note = f"tp / hold {ratio:.2f}"
        if hours == 24:
            note += f"; {verdict(ratio <= TARGET_TP_OVER_HOLD)} <= {TARGET_TP_OVER_HOLD}"
        row(
            f"{name} year in-process, ms per decision (CPU)",
            f"{hold['ms']:.3f} ({hold['cpu_ms']:.3f})",
            f"{tp['ms']:.3f} ({tp['cpu_ms']:.3f})",
            note,
        )
        row(
            f"  {name}: decisions / candidates scored",
            f"{hold['decisions']:,} / {hold['candidates']:,}",
            f"{tp['decisions']:,} / {tp['candidates']:,}",
            f"tp scored {tp['on_demand']:,} instants on demand",
        )
    hold, tp = w1["hold_to_expiry"], w1["tp_and_roll"]
    worst = max(hold["min"], tp["min"])
    row(
        "W1 end to end, s: min (median; CPU)",
        f"{hold['min']:.3f} ({hold['median']:.2f}; {hold['cpu']:.2f})",
        f"{tp['min']:.3f} ({tp['median']:.2f}; {tp['cpu']:.2f})",
        f"{verdict(worst <= TARGET_W1_S)} <= {TARGET_W1_S} s",
    )
    row("W1 with the prepared cache, s (min)", f"{hold['cached']:.3f}", f"{tp['cached']:.3f}")
    one, most = rates[1], rates[max(rates)]
    fast = most["m_per_s"] >= TARGET_PREPARE_M_PER_S
    row(
        f"W1 prepare alone, M candidates/s: 1 | {max(rates)} threads",
        f"{one['m_per_s']:.2f}",
        f"{most['m_per_s']:.2f}",
        f"{one['wall'] / most['wall']:.2f}x; {verdict(fast)} >= {TARGET_PREPARE_M_PER_S:.0f} M/s",
    )
    row(
        f"  W1 prepare, s wall (CPU), {one['scored']:,} candidates",
        f"{one['wall']:.3f} ({one['cpu']:.3f})",
        f"{most['wall']:.3f} ({most['cpu']:.3f})",
    )
    if clicks is not None:
        first, second = clicks
        ratio = first / second
        row(
            "click to FINISHED after a server start, s",
            f"first {first:.3f}",
            f"second {second:.3f}",
            f"first / second {ratio:.2f}; {verdict(ratio <= TARGET_FIRST_OVER_SECOND)} <= "
            f"{TARGET_FIRST_OVER_SECOND:.0f}",
        )


if __name__ == "__main__":
    main()

"""Benchmark: importing Tardis ``options_chain`` CSV, rows per second on one core and peak memory.

Run with ``.venv/bin/python -m bench.import_chains [--rows 3000000] [--gzip]``. It writes two
synthetic Tardis-format files, ``--rows`` and three times as many, shaped like a real day of Deribit
options: about 1,600 BTC and ETH options plus 300 of another underlying (filtered out), each
updating about once a second, with Tardis' 24 columns, empty sides and greeks. Each file is
imported (``thetadesk import-chains --format tardis``, default 5-minute sampling) in a fresh
process pinned to one thread (``POLARS_MAX_THREADS=1``), which reports:

- rows/s on one core: rows read / CPU seconds of the import (user + system), and rows/s of wall
  time (on a shared machine the wall figure also counts time waiting for a core);
- peak RSS (``ru_maxrss``) of the whole process, interpreter and libraries included.

Targets: ≥ 1 M rows/s on one core, peak RSS ≤ 500 MB, and the larger file's peak RSS about equal
to the smaller one's (ratio printed): memory is bounded by the 32 MB read block and one day's
samples, not by the file.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

TARGET_ROWS_PER_S = 1_000_000
TARGET_RSS_MB = 500
DAY = datetime(2025, 12, 8, tzinfo=UTC)
UPDATES_PER_S = 1_900  # rows per second of arrival time: every instrument about once a second
SPOTS = {"BTC": 91_000.0, "ETH": 3_100.0, "SOL_USDC": 130.0}
INSTRUMENTS = {"BTC": 820, "ETH": 780, "SOL_USDC": 300}


def _instruments(rng: np.random.Generator) -> pl.DataFrame:
    """Listed options: name, type, strike, expiry (µs), forward and index name."""
    rows = []
    for u, n in INSTRUMENTS.items():
        spot = SPOTS[u]
        for i in range(n):
            expiry = DAY + timedelta(days=int(rng.integers(1, 300)), hours=8)
            strike = round(spot * float(rng.uniform(0.5, 1.8)), -1 if spot < 1e4 else -3)
            kind = "C" if i % 2 else "P"
            code = f"{expiry.day}{expiry.strftime('%b').upper()}{expiry.year % 100:02d}"
            rows.append(
                (f"{u}-{code}-{int(strike)}-{kind}", "call" if kind == "C" else "put", strike,
                 int(expiry.timestamp() * 1e6), spot, f"SYN.{u}-{code}")
            )  # fmt: skip
    names = ["symbol", "type", "strike_price", "expiration", "spot", "underlying_index"]
    return pl.DataFrame(rows, schema=names, orient="row").unique("symbol")


CHUNK_ROWS = 1_000_000  # the file is written a chunk at a time, so making it stays small too


def write_tardis_file(path: Path, rows: int, seed: int = 0) -> None:
    """Write ``rows`` synthetic Tardis ``options_chain`` rows in arrival order."""
    rng = np.random.default_rng(seed)
    listed = _instruments(rng)
    opener = _gzip_open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        for first in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - first)
            start = int(DAY.timestamp() * 1e6) + int(first / UPDATES_PER_S * 1e6)
            frame = _chunk(rng, listed, n, start)
            frame.write_csv(fh, include_header=first == 0)


def _gzip_open(path: Path, mode: str):
    import gzip

    return gzip.open(path, mode, compresslevel=6)


def _chunk(rng: np.random.Generator, listed: pl.DataFrame, rows: int, start: int) -> pl.DataFrame:
    """``rows`` ticker rows arriving from ``start`` (µs) on."""
    pick = rng.integers(0, listed.height, rows)
    arrival = start + np.sort(rng.integers(0, int(rows / UPDATES_PER_S * 1e6), rows))
    mark = np.round(rng.uniform(0.0001, 0.3, rows), 4)
    empty_bid = rng.random(rows) < 0.2
    base = listed[pick]
    frame = base.select(
        exchange=pl.lit("deribit"),
        symbol="symbol",
        timestamp=pl.Series(arrival - 1_500),
        local_timestamp=pl.Series(arrival),
        type="type",
        strike_price="strike_price",
        expiration="expiration",
        open_interest=pl.Series(np.round(rng.uniform(0, 2_000, rows), 1)),
        last_price=pl.Series(np.round(mark * 1.01, 4)),
        bid_price=pl.Series(np.where(empty_bid, np.nan, np.round(mark * 0.97, 4))),
        bid_amount=pl.Series(np.where(empty_bid, np.nan, np.round(rng.uniform(0.1, 50, rows), 1))),
        bid_iv=pl.Series(np.where(empty_bid, np.nan, np.round(rng.uniform(30, 90, rows), 2))),
        ask_price=pl.Series(np.round(mark * 1.03 + 0.0001, 4)),
        ask_amount=pl.Series(np.round(rng.uniform(0.1, 50, rows), 1)),
        ask_iv=pl.Series(np.round(rng.uniform(30, 95, rows), 2)),
        mark_price=pl.Series(mark),
        mark_iv=pl.Series(np.round(rng.uniform(30, 92, rows), 2)),
        underlying_index="underlying_index",
        underlying_price=(pl.col("spot") * pl.Series(1 + rng.normal(0, 0.002, rows))).round(2),
        delta=pl.Series(np.round(rng.uniform(-1, 1, rows), 5)),
        gamma=pl.Series(np.round(rng.uniform(0, 0.001, rows), 5)),
        vega=pl.Series(np.round(rng.uniform(0, 150, rows), 5)),
        theta=pl.Series(np.round(rng.uniform(-400, 0, rows), 5)),
        rho=pl.Series(np.round(rng.uniform(-20, 20, rows), 5)),
    )
    return frame.with_columns(pl.col("bid_price", "bid_amount", "bid_iv").fill_nan(None))


def peak_rss_mb() -> float:
    """Peak resident memory of this process since it started (MB).

    ``VmHWM`` of ``/proc/self/status``: unlike ``ru_maxrss``, which Linux carries over ``exec``
    from the parent's fork, it starts afresh with the new program.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: Path) -> None:
    """Import ``path`` into a fresh data dir; print rows, CPU and wall seconds, peak RSS (JSON)."""
    from cache.importers.chains import import_chains
    from cache.store import Store

    with tempfile.TemporaryDirectory() as data:
        t0, c0 = time.perf_counter(), os.times()
        report = import_chains(Store(data), "bench", "tardis", [path])
        c1, wall = os.times(), time.perf_counter() - t0
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    rss_mb = peak_rss_mb()
    stored = sum(w.rows for w in report.written.values())
    print(json.dumps({"rows": report.rows_read, "cpu": cpu, "wall": wall, "rss_mb": rss_mb,
                      "stored": stored}))  # fmt: skip


def measure(path: Path) -> dict:
    """Run :func:`child` on ``path`` in a fresh one-thread process."""
    env = os.environ | {"POLARS_MAX_THREADS": "1"}
    cmd = [sys.executable, "-m", "bench.import_chains", "--child", str(path)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3_000_000, help="rows of the smaller file")
    parser.add_argument("--gzip", action="store_true", help="write .csv.gz files (as Tardis does)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    suffix = ".csv.gz" if args.gzip else ".csv"
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for rows in (args.rows, 3 * args.rows):
            path = Path(tmp) / f"options_chain_{rows}{suffix}"
            t0 = time.perf_counter()
            write_tardis_file(path, rows)
            made = time.perf_counter() - t0
            result = measure(path) | {"mb": path.stat().st_size / 1e6}
            results.append(result)
            print(
                f"{rows:>11,} rows ({result['mb']:,.0f} MB{', gzip' if args.gzip else ''}, made in "
                f"{made:.0f} s): {result['rows'] / result['cpu'] / 1e6:.2f} M rows/s on one core "
                f"({result['cpu']:.1f} s CPU), {result['rows'] / result['wall'] / 1e6:.2f} M "
                f"rows/s wall, peak RSS {result['rss_mb']:.0f} MB, {result['stored']:,} stored",
                flush=True,
            )
            path.unlink()
    small, large = results
    rate = min(r["rows"] / r["cpu"] for r in results)
    peak = max(r["rss_mb"] for r in results)
    print(
        f"peak RSS, 3x rows / 1x rows: {large['rss_mb'] / small['rss_mb']:.2f} (bounded: about 1)\n"
        f"slowest {rate / 1e6:.2f} M rows/s on one core (target ≥ {TARGET_ROWS_PER_S / 1e6:g} M): "
        f"{'met' if rate >= TARGET_ROWS_PER_S else 'MISSED'}; peak RSS {peak:.0f} MB (target ≤ "
        f"{TARGET_RSS_MB}): {'met' if peak <= TARGET_RSS_MB else 'MISSED'}; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()

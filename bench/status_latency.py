"""Latency of ``GET /api/backtest/status`` while W1 runs on a real server, and with it idle.

Run with ``.venv/bin/python -m bench.status_latency``. Starts ``thetadesk serve`` (a uvicorn
subprocess) on a free loopback port over a temp data dir, runs a short warm-up backtest so numba
compilation is not measured, then polls the status as fast as one client can (keep-alive, one
request at a time): first with the server idle, then while W1 (BTC 2020-01-01..2024-01-01, 1h
bars, a decision every hour) runs with each exit style, ``<data_dir>/prepared`` cleared before
each run so W1 really prepares. W1 is repeated until enough samples were taken during runs.
Prints p50/p95/p99/max in ms and the sample count for both, and their ratio. Target: p99 ≤ 20 ms
during W1.
"""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from tests.browser.live_server import LiveServer

W1 = {"underlying": "BTC", "start": "2020-01-01", "end": "2024-01-01", "timeframe": "1h",
      "decision_interval_hours": 1}  # fmt: skip
WARM_UP = W1 | {"start": "2023-12-01"}
EXIT_STYLES = ("hold_to_expiry", "tp_and_roll")
STATUS = "/api/backtest/status"
TARGET_P99_MS = 20.0
RUN_TIMEOUT_S = 120.0


def wait_until_done(client: httpx.Client) -> dict:
    """Poll (gently) until the current run ends; raise if it ended in error or never ends."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while (status := client.get(STATUS).json())["running"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"backtest still running after {RUN_TIMEOUT_S} s")
        time.sleep(0.05)
    if status["state"] != "finished":
        raise RuntimeError(f"backtest ended {status['state']}: {status['error']}")
    return status


def start(client: httpx.Client, body: dict) -> None:
    res = client.post("/api/backtest/start", json=body)
    if res.status_code != 200:
        raise RuntimeError(f"start refused ({res.status_code}): {res.text}")


class Samples:
    """Latencies (ms) and response sizes (bytes) of status polls."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.sizes: list[int] = []

    def poll(self, client: httpx.Client) -> dict:
        """Poll once, keep the latency and size, and return the status."""
        t0 = time.perf_counter()
        res = client.get(STATUS)
        self.latencies_ms.append((time.perf_counter() - t0) * 1e3)
        self.sizes.append(len(res.content))
        res.raise_for_status()
        return res.json()

    def drop_last(self) -> None:
        self.latencies_ms.pop()
        self.sizes.pop()


def poll_idle(client: httpx.Client, n: int) -> Samples:
    """``n`` back-to-back polls of an idle server."""
    samples = Samples()
    for _ in range(n):
        samples.poll(client)
    return samples


def poll_while_running(client: httpx.Client, samples: Samples) -> dict:
    """Poll back to back until the run ends; keep only the polls that saw it running."""
    while True:
        status = samples.poll(client)
        if not status["running"]:
            samples.drop_last()
            return status


def describe(samples: Samples) -> dict[str, float]:
    p50, p95, p99 = np.percentile(samples.latencies_ms, [50, 95, 99])
    return {"p50": p50, "p95": p95, "p99": p99, "max": max(samples.latencies_ms)}


def row(name: str, samples: Samples) -> str:
    stats = describe(samples)
    cells = "".join(f"{stats[k]:>9.2f}" for k in ("p50", "p95", "p99", "max"))
    return f"{name:<24}{cells}{len(samples.sizes):>9}{np.mean(samples.sizes):>10.0f}"


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min-samples", type=int, default=2000, help="polls during W1 runs")
    parser.add_argument("--max-rounds", type=int, default=5, help="W1 repetitions at most")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="thetadesk-bench-")) / "data"
    try:
        with LiveServer(data_dir) as server, httpx.Client(base_url=server.url) as client:
            agent = client.get("/status").json()["agent"].get("state")
            idle_empty = poll_idle(client, args.min_samples)
            for style in EXIT_STYLES:  # compile every kernel outside the measurements
                start(client, WARM_UP | {"exit_style": style})
                wait_until_done(client)
            idle_full = poll_idle(client, args.min_samples)
            busy = Samples()
            runs: list[str] = []
            for _ in range(args.max_rounds):
                for style in EXIT_STYLES:
                    shutil.rmtree(data_dir / "prepared", ignore_errors=True)
                    t0 = time.perf_counter()
                    before = len(busy.sizes)
                    start(client, W1 | {"exit_style": style})
                    status = poll_while_running(client, busy)
                    wall_s = time.perf_counter() - t0
                    if status["state"] != "finished":
                        raise RuntimeError(f"W1 ended {status['state']}: {status['error']}")
                    summary = json.loads((Path(status["run_dir"]) / "summary.json").read_text())
                    if summary["timings"].get("prepare_cached"):
                        raise RuntimeError("W1 used a prepared cache; it must really prepare")
                    runs.append(f"{style} {wall_s:.2f} s, {len(busy.sizes) - before} polls")
                if len(busy.sizes) >= args.min_samples:
                    break
    finally:
        shutil.rmtree(data_dir.parent, ignore_errors=True)

    print(f"W1: {W1}; live agent in the server: {agent}")
    print("W1 runs (wall time from the start request to the poll that saw the run end):")
    for run in runs:
        print(f"  {run}")
    header = "".join(f"{k:>9}" for k in ("p50", "p95", "p99", "max", "samples"))
    print(f"{'GET ' + STATUS:<24}{header}{'bytes':>10}  (latency in ms)")
    print(row("idle, no run yet", idle_empty))
    print(row("idle, after a run", idle_full))
    print(row("during W1", busy))
    busy_stats, idle_stats = describe(busy), describe(idle_full)
    ratios = "".join(f"{busy_stats[k] / idle_stats[k]:>9.2f}" for k in idle_stats)
    print(f"{'during W1 / idle after':<24}{ratios}")
    verdict = "meets" if busy_stats["p99"] <= TARGET_P99_MS else "MISSES"
    print(f"p99 during W1 {busy_stats['p99']:.2f} ms {verdict} the {TARGET_P99_MS:.0f} ms target")


if __name__ == "__main__":
    main()

"""Benchmark S1: a 480-configuration sweep of BTC 2020-01-01..2024-01-01, synthetic, 1h bars,
daily decisions; target_delta {0.15..0.35} x target_dte {2, 7, 14, 28} x tp_threshold_pct {50, 65,
80, 95} x min_score_to_trade {3, 5, 7} x exit_style {hold_to_expiry, tp_and_roll}.

Run with ``make bench`` or ``.venv/bin/python -m bench.sweep [--data-dir DIR] [--no-ray]``.
Prints, measured in this one run: the sweep's wall time on the thread pool (prepared cache
empty, kernels compiled beforehand), configurations per second, peak RSS of this process; the
speed-up over running the single-run CLI once per configuration (a few ``thetadesk backtest``
processes timed, their median scaled to 480, as the output says); and the same sweep on a local
2-CPU Ray started here: whether every row is identical, and its wall time over the threads'
(the Ray start and its workers' kernel load are timed apart, as the threads' process loads its
kernels before its timing).
Goals: <= 60 s and <= 2 GB with threads on 2 cores; Ray within 1.5x of threads.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cache.store import Store
from cache.warm import warm_synthetic
from engine.config import CallSimulationConfig
from engine.results.runs import execute_run
from engine.sweep.executors import ThreadExecutor
from engine.sweep.runner import SweepRun, run_sweep
from engine.sweep.spec import SweepSpec
from engine.sweep.task import RowResult

S1 = SweepSpec(
    base={"underlying": "BTC", "start": "2020-01-01", "end": "2024-01-01", "timeframe": "1h",
          "decision_interval_hours": 24, "source": "synthetic"},
    axes={"target_delta": [0.15, 0.20, 0.25, 0.30, 0.35], "target_dte": [2, 7, 14, 28],
          "tp_threshold_pct": [50, 65, 80, 95], "min_score_to_trade": [3, 5, 7],
          "exit_style": ["hold_to_expiry", "tp_and_roll"]},
)  # fmt: skip
CLI_SAMPLES = 3
WORKERS = 2


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cli_seconds(data_dir: Path, configs: list[CallSimulationConfig]) -> list[float]:
    """Wall time of one ``thetadesk backtest`` process per config (each a fresh process)."""
    out = []
    for cfg in configs:
        flags = {
            "underlying": cfg.underlying, "start": "2020-01-01", "end": "2024-01-01",
            "timeframe": cfg.timeframe, "decision-interval-hours": cfg.decision_interval_hours,
            "exit-style": cfg.exit_style, "target-delta": cfg.target_delta,
            "target-dte": cfg.target_dte, "tp-threshold-pct": cfg.tp_threshold_pct,
            "min-score-to-trade": cfg.min_score_to_trade,
        }  # fmt: skip
        args = [sys.executable, "-m", "api.cli", "backtest", "--data-dir", str(data_dir), "--json"]
        args += [item for k, v in flags.items() for item in (f"--{k}", str(v))]
        t0 = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def _identical(a: SweepRun, b: SweepRun) -> bool:
    def same(p: RowResult, q: RowResult) -> bool:
        x = np.array(list(p.metrics.values()), dtype=float)
        y = np.array(list(q.metrics.values()), dtype=float)
        return np.array_equal(x, y, equal_nan=True) and np.array_equal(
            p.returns, q.returns, equal_nan=True
        )

    rows = [i for i, (p, q) in enumerate(zip(a.rows, b.rows, strict=True)) if not same(p, q)]
    if rows:
        print(f"  rows that differ: {rows[:10]}{' ...' if len(rows) > 10 else ''}")
    return a.run_ids == b.run_ids and not rows


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="cache to use (default: a temp dir)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray comparison")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="thetadesk-bench-"))
    warm_synthetic(Store(data_dir))
    configs = S1.configurations()
    warm = CallSimulationConfig(**{**configs[-1].model_dump(), "start": "2023-12-01"})
    execute_run(data_dir, warm)  # load every kernel outside the timings
    print(
        f"S1: {len(configs)} configurations, BTC 2020-01-01..2024-01-01 synthetic, 1h bars, daily "
        f"decisions; {os.cpu_count()} CPUs, {WORKERS} workers  (data: {data_dir})"
    )

    shutil.rmtree(data_dir / "prepared", ignore_errors=True)
    t0 = time.perf_counter()
    threads = run_sweep(data_dir, S1, ThreadExecutor(WORKERS))
    wall = time.perf_counter() - t0
    t = threads.timings
    print(
        f"threads: {wall:.1f} s wall (goal <= 60 s), {len(configs) / wall:.1f} configurations/s; "
        f"{t['prepares']} prepares {t['prepare_s']:.1f} s, replay tasks {t['replay_task_s']:.1f} "
        f"s of CPU-side time; peak RSS {_peak_rss_mb():.0f} MB (goal <= 2048 MB)"
    )

    picked = [configs[i] for i in np.linspace(0, len(configs) - 1, CLI_SAMPLES).astype(int)]
    cli = _cli_seconds(data_dir, picked)
    per_cli = statistics.median(cli)
    print(
        f"single-run CLI: {', '.join(f'{s:.2f}' for s in cli)} s for {CLI_SAMPLES} processes "
        f"(prepared cache warm); median x {len(configs)} = {per_cli * len(configs):.0f} s "
        f"estimated (scaled, not run) -> the sweep is {per_cli * len(configs) / wall:.1f}x faster"
    )
    if not args.no_ray:
        _ray(data_dir, threads, wall)


def _ray(data_dir: Path, threads: SweepRun, threads_wall: float) -> None:
    try:
        import ray
    except ImportError:
        print("ray: not installed (pip install 'thetadesk[ray]'): skipped")
        return
    from engine.sweep.executors import RayExecutor

    t0 = time.perf_counter()
    executor = RayExecutor(num_cpus=WORKERS)
    started = time.perf_counter() - t0
    shutil.rmtree(data_dir / "prepared", ignore_errors=True)
    try:
        t0 = time.perf_counter()
        on_ray = run_sweep(data_dir, S1, executor)
        wall = time.perf_counter() - t0
    finally:
        executor.close()
    same = _identical(on_ray, threads)
    print(
        f"ray (local, {WORKERS} CPUs, started and workers warmed in {started:.1f} s, not "
        f"counted): {wall:.1f} s wall, replay tasks {on_ray.timings['replay_task_s']:.1f} s "
        f"(threads {threads.timings['replay_task_s']:.1f} s); "
        f"results {'IDENTICAL' if same else 'DIFFERENT'} to threads; {wall / threads_wall:.2f}x "
        f"the threads' wall (goal <= 1.5x)"
    )
    assert not ray.is_initialized()


if __name__ == "__main__":
    main()

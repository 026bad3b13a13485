"""Benchmark: the first backtest after install against the next, and a CLI backtest as a process.

Run with ``make bench`` or ``.venv/bin/python -m bench.startup``. Everything runs over a temp data
dir holding the synthetic market and a temp numba cache dir (``NUMBA_CACHE_DIR``; the user's own
cache is left alone), with bytecode caching on as in a normal install. The backtest is the
dashboard's default (BTC 2023, 1h bars, daily decisions, hold to expiry); ``<data_dir>/prepared``
is cleared before each click, so every click prepares.

1. *No install step*: empty numba cache, ``thetadesk serve``, Start pressed as soon as the server
   answers. Wall time from the click to FINISHED, and the phases the status showed (the kernels
   compile on the server's warm-up thread meanwhile).
2. *After the install step*: empty numba cache, ``thetadesk warm-engine`` (what ``make run``
   runs; timed), then a new server. Clicked as soon as it answers, the first run still waits for
   the server's own warm-up (loading the kernels from the cache); clicked once ``GET /status``
   says the engine is ready, as a person does after the page loads, first and second click.
   Target: first ≤ 2× second with the warm-up done.
3. *Process*: ``thetadesk backtest`` of the same year, ``--json``, with warm caches (numba, .pyc,
   prepared results), ``--repeat`` times; min and median wall time (and CPU time, which waiting
   for a core on a shared machine does not inflate), with ``--data-dir`` and with the data dir
   from the settings (``THETADESK_DATA_DIR``: the settings module is read). Where the CPU time
   goes: interpreter start, the backtest's imports, and the rest (kernel loading, the run, its
   outputs). Target: ≤ 1.0 s wall.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.status_latency import start
from cache.store import Store
from cache.warm import warm_synthetic
from tests.browser.live_server import LiveServer

CLICK = {"underlying": "BTC", "start": "2023-01-01", "end": "2024-01-01", "timeframe": "1h",
         "decision_interval_hours": 24, "exit_style": "hold_to_expiry"}  # fmt: skip
ARGS = ["backtest", "--underlying", "BTC", "--start", "2023-01-01", "--end", "2024-01-01",
        "--timeframe", "1h", "--decision-interval-hours", "24", "--exit-style", "hold_to_expiry",
        "--json"]  # fmt: skip
# ends with os._exit as the console script ends a backtest: without the interpreter's teardown
BACKTEST_IMPORTS = (
    "import api.cli, cache.store, engine.config, engine.results.runs, os; os._exit(0)"
)
TARGET_FIRST_OVER_SECOND = 2.0
TARGET_PROCESS_S = 1.0
CLICK_TIMEOUT_S = 300.0  # a cold compile on a busy two-core machine
BIN = Path(sys.executable).parent


def _env(numba_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"NUMBA_CACHE_DIR": str(numba_dir)} | extra


def click(server: LiveServer, data_dir: Path) -> tuple[float, list[str]]:
    """Press Start and wait for FINISHED; return the seconds and the phases seen, in order."""
    shutil.rmtree(data_dir / "prepared", ignore_errors=True)
    phases: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        t0 = time.perf_counter()
        start(client, CLICK)
        deadline = t0 + CLICK_TIMEOUT_S
        while (status := client.get("/api/backtest/status").json())["running"]:
            if status["phase"] and status["phase"] not in phases:
                phases.append(status["phase"])
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the backtest still runs after {CLICK_TIMEOUT_S} s")
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
    if status["state"] != "finished":
        raise RuntimeError(f"the backtest ended {status['state']}: {status['error']}")
    return seconds, phases


def wait_for_engine(server: LiveServer) -> float:
    """Wait until ``GET /status`` says the engine is ready; return the seconds waited."""
    t0 = time.perf_counter()
    while httpx.get(f"{server.url}/status", timeout=30).json()["engine"] != "ready":
        if time.perf_counter() - t0 > CLICK_TIMEOUT_S:
            raise TimeoutError(f"the engine is still warming after {CLICK_TIMEOUT_S} s")
        time.sleep(0.05)
    return time.perf_counter() - t0


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_times(
    command: list, env: dict[str, str], repeat: int
) -> list[tuple[float, float, str]]:
    """``(wall, cpu, stdout)`` of ``repeat`` runs of ``command``, after one untimed run.

    CPU is user + system time: on a shared machine the wall time also counts waiting for a core.
    """
    out = []
    for _ in range(repeat + 1):
        cpu0, t0 = _children_cpu_s(), time.perf_counter()
        done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        out.append((time.perf_counter() - t0, _children_cpu_s() - cpu0, done.stdout))
    return out[1:]


def describe(times: list[tuple[float, float, str]]) -> str:
    wall, cpu, _ = zip(*times, strict=True)
    return (
        f"wall min {min(wall):.2f} s, median {statistics.median(wall):.2f} s "
        f"(CPU median {statistics.median(cpu):.2f} s)"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed CLI processes per variant")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="thetadesk-bench-startup-"))
    data_dir = root / "data"
    warm_synthetic(Store(data_dir))
    try:
        cold_cache = root / "numba-cold"
        with LiveServer(data_dir, env={"NUMBA_CACHE_DIR": str(cold_cache)}) as server:
            cold, cold_phases = click(server, data_dir)

        numba_dir = root / "numba"
        t0 = time.perf_counter()
        subprocess.run(
            [BIN / "thetadesk", "warm-engine"], env=_env(numba_dir), check=True, capture_output=True
        )
        install_s = time.perf_counter() - t0
        with LiveServer(data_dir, env={"NUMBA_CACHE_DIR": str(numba_dir)}) as server:
            at_once, at_once_phases = click(server, data_dir)
        with LiveServer(data_dir, env={"NUMBA_CACHE_DIR": str(numba_dir)}) as server:
            warming_s = wait_for_engine(server)
            first, first_phases = click(server, data_dir)
            second, _ = click(server, data_dir)

        env = _env(numba_dir)
        with_dir = process_times(
            [BIN / "thetadesk", *ARGS, "--data-dir", data_dir], env, args.repeat
        )
        settings_env = _env(numba_dir, THETADESK_DATA_DIR=str(data_dir))
        from_settings = process_times([BIN / "thetadesk", *ARGS], settings_env, args.repeat)
        interpreter = process_times([sys.executable, "-c", "pass"], env, args.repeat)
        imports = process_times([sys.executable, "-c", BACKTEST_IMPORTS], env, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"click = POST /api/backtest/start {CLICK}, to FINISHED")
    print(
        f"1. no install step, empty numba cache: first click {cold:.2f} s "
        f"(phases {' > '.join(cold_phases)})"
    )
    print(
        f"2. install step (thetadesk warm-engine into an empty cache) {install_s:.1f} s, then "
        f"a server: clicked as it answers {at_once:.2f} s (phases {' > '.join(at_once_phases)}); "
        f"a new server, ready {warming_s:.1f} s after it answered: first click {first:.2f} s "
        f"(phases {' > '.join(first_phases)}), second {second:.2f} s"
    )
    ratio = first / second
    verdict = "meets" if ratio <= TARGET_FIRST_OVER_SECOND else "MISSES"
    print(
        f"   first / second {ratio:.2f} {verdict} the target <= {TARGET_FIRST_OVER_SECOND:.0f}; "
        f"first click without / with the install step {cold / first:.0f}x"
    )
    print(f"3. thetadesk {' '.join(ARGS)} as a process, warm caches, {args.repeat} runs:")
    print(
        f"   with --data-dir {describe(with_dir)}; data dir from the settings "
        f"{describe(from_settings)} (target <= {TARGET_PROCESS_S:.1f} s)"
    )
    interp_s, imports_s, whole_s = (
        statistics.median(cpu for _, cpu, _ in times) for times in (interpreter, imports, with_dir)
    )
    timings = {
        key: statistics.median(json.loads(out)["timings"][key] for _, _, out in with_dir)
        for key in ("load_s", "prepare_s", "replay_s")
    }
    print(
        f"   where the CPU time goes (medians): interpreter start {interp_s:.2f} s, the "
        f"backtest's imports {imports_s - interp_s:.2f} s, the rest {whole_s - imports_s:.2f} s "
        f"(kernel loading, the run - its own timings: load "
        f"{timings['load_s']:.2f} s, prepare {timings['prepare_s']:.2f} s cached, replay "
        f"{timings['replay_s']:.2f} s with its kernels' loading - and writing the outputs)"
    )
    wall = statistics.median(wall for wall, _, _ in with_dir)
    verdict = "meets" if wall <= TARGET_PROCESS_S else "MISSES"
    print(f"   median process wall time {wall:.2f} s {verdict} the {TARGET_PROCESS_S:.1f} s target")


if __name__ == "__main__":
    main()

"""Warm the engine: compile every numba kernel, or load it from numba's cache, before it is needed.

A kernel compiles on its first call for each type signature (25-40 s for the whole engine on two
cores); once in numba's cache (:mod:`cache.kernel_cache`) a later process loads it in well under
a second. :func:`warm_kernels` makes every kernel ready the way real runs call it:

1. *backtests*: a one-week backtest of each exit style on two weeks of the embedded synthetic
   market, generated into a temporary directory, goes through exactly the code a real run goes
   through, so every signature a backtest uses is compiled (the signature depends on the types
   of the arrays, not on the window, the timeframe or the coin); then a take-profit backtest on a
   few hand-made recorded chains does the same for the real-chain kernels;
2. *the rest*: a day of the live agent's loop and each fill and fee call of its brokers, then
   each kernel no run calls (the pricing API, batch scoring, the spread fit) through its API.

:class:`EngineWarmup` runs that on a daemon thread, once per process (the server starts it with
the app); the backtest manager waits for stage 1 and says so in the run's status."""

import importlib
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

KERNEL_PACKAGES = ("cache", "engine")
WARM_DATA = (datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 1, 15, tzinfo=UTC))
WARM_RUN = {"underlying": "BTC", "start": "2019-01-08", "end": "2019-01-15", "timeframe": "1h",
            "decision_interval_hours": 24}  # fmt: skip
WARM_AGENT = WARM_RUN | {"start": "2019-01-14", "exit_style": "tp_and_roll"}
EXIT_STYLES = ("hold_to_expiry", "tp_and_roll")


def kernels() -> dict[str, object]:
    """Every numba kernel of thetadesk by qualified name: the dispatchers its ``nb.py`` define."""
    from numba.core.registry import CPUDispatcher

    found = {}
    for package in KERNEL_PACKAGES:
        root = Path(importlib.import_module(package).__file__).parent
        for path in sorted(root.rglob("nb.py")):
            name = ".".join((package, *path.relative_to(root).with_suffix("").parts))
            for obj in vars(importlib.import_module(name)).values():
                if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == name:
                    found[f"{name}.{obj.__name__}"] = obj
    return found


def warm_backtests(data_dir: Path) -> None:
    """Run a short backtest of each exit style on the small synthetic market in ``data_dir``."""
    from engine.config import CallSimulationConfig
    from engine.results.runs import execute_run

    for style in EXIT_STYLES:
        execute_run(data_dir, CallSimulationConfig(**WARM_RUN, exit_style=style))


WARM_CHAIN_T0 = datetime(2019, 1, 20, tzinfo=UTC)


def warm_chain_backtest(data_dir: Path) -> None:
    """A take-profit backtest on a small recorded-chain source written into ``data_dir``: the
    kernels that read chains (:mod:`engine.chains`) and score them compile like a real one's."""
    from datetime import timedelta

    import polars as pl

    from cache.chains import ChainStore
    from cache.datasource import DeribitDataSource
    from cache.importers import series
    from cache.store import Store
    from engine.config import CallSimulationConfig
    from engine.simulator import CoveredCallSimulator

    store, t0 = Store(data_dir), WARM_CHAIN_T0
    store.ensure_source("warm-chains", "import", label="engine warm-up chains (not market data)")
    expiry = t0 + timedelta(days=2, hours=8)
    rows = [
        {"time": t0 + timedelta(minutes=30 * i), "instrument_name": f"BTC-22JAN19-{k}-C",
         "expiry": expiry, "strike": float(k), "option_type": "C", "bid_price": 0.004 / (i + 1),
         "ask_price": 0.005 / (i + 1), "mark_price": 0.0045 / (i + 1), "mark_iv": 60.0,
         "underlying_price": 3600.0, "index_price": 3600.0}
        for i in range(8)
        for k in (3700, 3800)
    ]  # fmt: skip
    ChainStore(store).write("warm-chains", "BTC", pl.DataFrame(rows))
    series.derive(store, "warm-chains", "BTC", [t0.date()])
    cfg = CallSimulationConfig(
        underlying="BTC", start=t0, end=t0 + timedelta(hours=3), source="warm-chains",
        decision_interval_hours=2, exit_style="tp_and_roll", target_dte=2.0, min_dte=0.5,
        max_dte=7.0, min_score_to_trade=0.0, tp_threshold_pct=10.0, option_market="chains",
        chain_max_age_minutes=60,
    )  # fmt: skip
    CoveredCallSimulator(DeribitDataSource(data_dir, "warm-chains"), cfg).simulate_policy()


def warm_agent(data_dir: Path) -> None:
    """Replay a day of ``data_dir`` through the live agent's loop, then call each fill and fee
    of its brokers once (a short replay need not take a profit or settle a call)."""
    from engine.agent.headless import run_headless
    from engine.config import CallSimulationConfig, FeeModel
    from engine.instruments.contracts import OPTION_SPECS
    from engine.policy import execution

    cfg = CallSimulationConfig(**WARM_AGENT)
    run_headless(data_dir, cfg)
    fees, spec = FeeModel(), OPTION_SPECS[cfg.underlying]
    execution.trade_fee_coin(fees, 1.0, 0.01)
    execution.settlement_coin(fees, 1.0, 21_000.0, 20_000.0, cfg.end)
    execution.sale_price_coin(0.01, None)
    execution.buyback_price_coin(0.01, 0.011)
    execution.sale_limit_coin(0.01, spec)
    execution.buyback_limit_coin(0.01, spec)


def warm_apis() -> None:
    """Call each kernel no run uses through its Python API, as its callers do."""
    from engine import pricing
    from engine.config import VolSurfaceParams
    from engine.fills import SpreadModel
    from engine.fills.fit import features
    from engine.scoring import score_candidates
    from engine.volsurface import candidate_iv, quote_calls

    f, k, t, s = np.array([100.0, 100.0]), np.array([90.0, 110.0]), np.full(2, 0.1), np.full(2, 0.5)
    price = pricing.option_price(f, k, t, s, True)
    pricing.greeks(f, k, t, s, True)
    pricing.delta_usd(f, k, t, s, True)
    pricing.implied_vol_with_status(price, f, k, t, True)
    delta, days = np.array([0.3, 0.2]), np.array([7.0, 14.0])
    score_candidates(price, np.ones(2), delta, days, np.zeros(2, np.int64), 0.25, 7.0)
    SpreadModel.default().bid_ask("BTC", price, delta, days)
    features("BTC", price, delta, days)
    surface = VolSurfaceParams(atm_over_index=0.9)
    candidate_iv(50.0, 110.0, 100.0, 0.1, surface)
    quote_calls(f, k, t, np.full(2, 50.0), surface)  # the model check's quotes


def warm_backtest_kernels() -> None:
    """Stage 1 alone (the backtests of each exit style on a small synthetic market made in a
    temporary directory): all that a process running only backtest replays needs, e.g. a
    sweep's Ray worker."""
    from cache.store import Store
    from cache.warm import warm_synthetic

    with tempfile.TemporaryDirectory(prefix="thetadesk-warm-") as tmp:
        warm_synthetic(Store(Path(tmp)), (WARM_RUN["underlying"],), *WARM_DATA)
        warm_backtests(Path(tmp))


def warm_kernels(
    progress: Callable[[str], None] | None = None,
    backtests_ready: Callable[[], None] | None = None,
) -> None:
    """Compile (or load) every kernel in this process; call ``backtests_ready`` after stage 1.

    ``progress`` gets a line per step with the seconds it took.
    """
    from cache.store import Store
    from cache.warm import warm_synthetic

    def step(name: str, work: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        work()
        if progress:
            progress(f"{name}: {time.perf_counter() - t0:.1f} s")

    with tempfile.TemporaryDirectory(prefix="thetadesk-warm-") as tmp:
        data_dir = Path(tmp)
        coin = (WARM_RUN["underlying"],)
        step("synthetic market", lambda: warm_synthetic(Store(data_dir), coin, *WARM_DATA))
        step("backtests", lambda: warm_backtests(data_dir))
        step("backtest on recorded chains", lambda: warm_chain_backtest(data_dir))
        if backtests_ready:
            backtests_ready()
        step("live agent", lambda: warm_agent(data_dir))
    step("pricing, scoring and fit APIs", warm_apis)


class EngineWarmup:
    """Warm the engine once, on a daemon thread; tell whether backtests must still wait.

    ``work`` is :func:`warm_kernels` (tests pass a stand-in). A failed warm-up is logged and
    counts as done: kernels then compile on first use, as they would without a warm-up.
    """

    def __init__(self, work: Callable[..., None] = warm_kernels) -> None:
        self._work = work
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._backtests_ready = threading.Event()
        self._done = threading.Event()
        self.error: str | None = None

    def start(self) -> bool:
        """Start warming on a daemon thread; False (and nothing starts) if it was started before."""
        with self._lock:
            if self._thread is not None:
                return False
            self._thread = threading.Thread(target=self._run, name="engine-warmup", daemon=True)
            self._thread.start()
            return True

    @property
    def warming_backtests(self) -> bool:
        """Whether a warm-up was started and a backtest's kernels are not ready yet."""
        return self._thread is not None and not self._backtests_ready.is_set()

    def wait_for_backtests(self, timeout: float | None = None) -> bool:
        """Wait until a backtest needs no more compiling (or no warm-up runs); True when so."""
        return self._thread is None or self._backtests_ready.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the whole warm-up is over (or none runs); True when so."""
        return self._thread is None or self._done.wait(timeout)

    def _run(self) -> None:
        try:
            self._work(progress=log.info, backtests_ready=self._backtests_ready.set)
        except Exception as exc:  # the app must serve regardless; runs then compile on demand
            log.exception("engine warm-up failed")
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._backtests_ready.set()
            self._done.set()


WARMUP = EngineWarmup()  # the process's one warm-up: compiled kernels belong to a process

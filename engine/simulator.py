"""CoveredCallSimulator: the seed's facade over the prepare phase and the replay stepper."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from cache.timeutil import from_ns
from engine import __version__
from engine.chains import data_fingerprint
from engine.config import CallSimulationConfig
from engine.fills import SpreadModel
from engine.market import RunMarket, load_run_market
from engine.metrics import compute_metrics
from engine.prepare import PreparedData, prepare
from engine.replay import Replayer, StepsCallback
from engine.results.data_quality import quality_facts
from engine.scoring import CandidateFeatures, score_candidate
from engine.state import build_historical_state

Progress = Callable[[str, int, int], None]  # (phase, done, total); phase: prepare | replay


@dataclass
class SimulationResult:
    """Everything one backtest produced; :mod:`engine.results.runs` writes it to ``data/runs/``."""

    config: CallSimulationConfig
    run_id: str
    quantity_coin: float
    trades: pl.DataFrame
    equity: pl.DataFrame
    steps: pl.DataFrame
    candidates: pl.DataFrame
    metrics: dict
    timings: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)


class CoveredCallSimulator:
    """Backtest a covered-call policy on one data source.

    ``cache_dir`` (usually ``<data_dir>/prepared``) keeps prepared candidates between runs, so a
    second run with the same inputs skips preparation.
    """

    def __init__(
        self,
        ds,
        cfg: CallSimulationConfig,
        cache_dir: Path | None = None,
        spread: SpreadModel | None = None,
    ) -> None:
        self.ds, self.cfg, self.cache_dir = ds, cfg, cache_dir
        self.spread = spread or SpreadModel.default()
        self._market: RunMarket | None = None

    @property
    def market(self) -> RunMarket:
        """The run's market arrays, loaded on first use."""
        if self._market is None:
            self._market = load_run_market(self.ds, self.cfg)
        return self._market

    @property
    def run_id(self) -> str:
        """Hash of the canonical config, the fingerprint of the data it reads (chains only on
        real chains: :func:`engine.chains.data_fingerprint`) and the calibration id."""
        fingerprint = data_fingerprint(self.ds, self.cfg)
        return run_digest(self.cfg, fingerprint, self.spread.calibration_id)

    def _score_candidate(self, features: CandidateFeatures) -> float:
        """Score one candidate with this run's scoring parameters (the shared scorer)."""
        return score_candidate(features, self.cfg.scoring)

    def build_historical_state(self, t: datetime | str) -> dict:
        """The decision state at ``t`` (see :func:`engine.state.build_historical_state`)."""
        return build_historical_state(self.ds, self.cfg, t)

    def quantity(self) -> float:
        """Coins held and covered: ``position_size``, or capital / first spot when capital set."""
        return self.cfg.quantity_coin(float(self.market.spot[0]))

    def prepare(
        self,
        progress: Progress | None = None,
        cancel: Callable[[], bool] | None = None,
        wait: bool = True,
    ) -> PreparedData:
        """Run (or load) the prepare phase (``wait``: see :func:`engine.prepare.prepare`)."""
        report = (lambda d, n: progress("prepare", d, n)) if progress else None
        return prepare(self.market, self.cfg, self.cache_dir, report, cancel, wait)

    def simulate_policy(
        self,
        progress: Progress | None = None,
        on_steps: StepsCallback | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> SimulationResult:
        """Prepare, replay and measure; raises ``engine.prepare.CancelledError`` when cancelled."""
        t0 = time.perf_counter()
        market = self.market
        t1 = time.perf_counter()
        prepared = self.prepare(progress, cancel, wait=False)
        try:  # the cache entry is written meanwhile
            return self._replay(market, prepared, (t0, t1), progress, on_steps, cancel)
        finally:
            prepared.wait_saved()

    def _replay(
        self,
        market: RunMarket,
        prepared: PreparedData,
        started: tuple[float, float],
        progress: Progress | None,
        on_steps: StepsCallback | None,
        cancel: Callable[[], bool] | None,
    ) -> SimulationResult:
        """Replay and measure a prepared run; ``started``: when loading and preparing began."""
        t0, t1 = started
        t2 = time.perf_counter()
        qty = self.quantity()

        def replayed(done: int, total: int) -> None:
            progress("replay", done, total)

        replayer = Replayer(market, prepared, self.cfg, qty, self.spread)
        out = replayer.run(on_steps, cancel, progress=replayed if progress else None)
        t3 = time.perf_counter()
        capital = qty * float(market.spot[0])
        metrics = compute_metrics(
            out.trades, out.equity, initial_capital_usd=capital, quantity_coin=qty
        )
        meta = self.ds.meta
        return SimulationResult(
            config=self.cfg,
            run_id=self.run_id,
            quantity_coin=qty,
            trades=out.trades,
            equity=out.equity,
            steps=out.steps,
            candidates=prepared.candidates,
            metrics=metrics,
            timings={
                "load_s": t1 - t0,
                "prepare_s": t2 - t1,
                "replay_s": t3 - t2,
                "prepare_cached": prepared.from_cache,
                "prepare_cache_rebuilt": prepared.discarded is not None,
                "candidates_scored": int(prepared.n_candidates.sum()),
                "instants_scored_on_demand": replayer.on_demand,
                "decisions": int(market.is_decision.sum()),
            },
            data={
                **meta.provenance(),
                "fingerprint": market.data_fingerprint,
                "first_instant": from_ns(int(market.t_ns[0])).isoformat(),
                "last_instant": from_ns(int(market.t_ns[-1])).isoformat(),
                "settlement_days_from_delivery": int(market.settle_from_delivery.sum()),
                "engine_version": __version__,
                **quality_facts(
                    market,
                    self.cfg,
                    out.trades,
                    origin=meta.origin,
                    calibration_id=self.spread.calibration_id,
                    chain_counts=replayer.chain_counts(),
                ),
            },
        )


def run_digest(cfg: CallSimulationConfig, data_fingerprint: str, calibration_id: str) -> str:
    """A run's id: the canonical config, the data fingerprint and the fills' calibration id."""
    return cfg.digest(f"{data_fingerprint}|{calibration_id}")


def finite_or_none(value: object) -> object:
    """JSON-safe number: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

"""The unit of sweep work: replay configurations that share one market and one candidate set.

A task runs on a worker thread or a Ray worker; it reads the run's market and prepared candidates
and never writes anything shared, so tasks run side by side. Each configuration is replayed and
measured exactly as a single backtest is (:meth:`engine.simulator.CoveredCallSimulator.
simulate_policy`): the same :class:`~engine.replay.Replayer`, the same quantity and capital, the
same :func:`~engine.metrics.compute_metrics`; the replay's step table, which no metric reads, is
not built. A take-profit that may roll needs its instant's candidates scored on demand; replays of
one candidate set score each such instant once and share it (the scores depend only on the
fields of the prepare key).
"""

import time
from dataclasses import dataclass

import numpy as np

from engine.config import CallSimulationConfig
from engine.fills import SpreadModel
from engine.market import RunMarket
from engine.metrics import compute_metrics, equity_daily_returns
from engine.prepare import PreparedData
from engine.replay import Replayer
from engine.results.data_quality import quality_facts


@dataclass(frozen=True)
class RowResult:
    """What one configuration of a sweep produced."""

    metrics: dict[str, float | int]  # as in a run's summary.json (NaN where undefined)
    return_ns: np.ndarray  # int64 [d]: the 00:00 UTC instant each daily return ends at
    returns: np.ndarray  # float64 [d]: daily simple returns of the USD equity
    facts: dict  # the run's data-quality facts (engine.results.data_quality.quality_facts)
    seconds: float  # replay and metrics, on the worker


Scored = dict[int, tuple[np.ndarray, np.ndarray, int]]  # instants scored on demand (Replayer)


def replay_one(
    market: RunMarket,
    prepared: PreparedData,
    cfg: CallSimulationConfig,
    spread: SpreadModel,
    origin: str,
    scored: Scored | None = None,
) -> RowResult:
    """Replay and measure one configuration (``origin``: the data source's, for the facts;
    ``scored``: instants scored on demand, shared by the replays of one candidate set)."""
    t0 = time.perf_counter()
    qty = cfg.quantity_coin(float(market.spot[0]))
    replayer = Replayer(market, prepared, cfg, qty, spread, scored)
    replayer.replay()
    trades, equity = replayer.trades_frame(), replayer.equity_frame()
    capital = qty * float(market.spot[0])
    metrics = compute_metrics(trades, equity, initial_capital_usd=capital, quantity_coin=qty)
    times, returns = equity_daily_returns(equity, initial_capital_usd=capital)
    facts = quality_facts(
        market,
        cfg,
        trades,
        origin=origin,
        calibration_id=spread.calibration_id,
        chain_counts=replayer.chain_counts(),
    )
    return RowResult(
        metrics=metrics,
        return_ns=times.dt.epoch("ns").to_numpy(),
        returns=returns,
        facts=facts,
        seconds=time.perf_counter() - t0,
    )


def replay_batch(
    market: RunMarket,
    prepared: PreparedData,
    configs: list[CallSimulationConfig],
    spread: SpreadModel,
    origin: str,
    scored: Scored | None = None,
) -> list[RowResult]:
    """:func:`replay_one` for each of ``configs`` (they share ``market`` and ``prepared``, and
    the instants scored on demand: ``scored``, else a table of this batch's own)."""
    scored = {} if scored is None else scored
    return [replay_one(market, prepared, cfg, spread, origin, scored) for cfg in configs]

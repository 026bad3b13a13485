"""Run a sweep on one data source: load each market once, prepare each candidate set once, replay
every configuration on an executor.

Configurations that read the same market (underlying, window, bars, decision interval, option
market; :data:`engine.market.MARKET_FIELDS`) share one :class:`~engine.market.RunMarket`, and
those that also share a prepare key (:func:`engine.prepare.driver.prepare_key`: the fields that
shape the candidates) share one prepare, read from or written to the prepared cache
(``<data_dir>/prepared``) as a single backtest would. The driver prepares group after group while
the executor replays the groups before (:mod:`engine.sweep.executors`); at most
:data:`IN_FLIGHT_PER_WORKER` tasks per worker wait at a time, so the cancel flag, checked between
tasks, stops a sweep quickly. Progress is reported as ``(configurations done, total)``.
"""

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cache.datasource import DeribitDataSource
from cache.timeutil import from_ns
from engine import __version__
from engine.chains import data_fingerprint, resolve_option_market
from engine.config import CallSimulationConfig
from engine.fills import SpreadModel
from engine.market import MARKET_FIELDS, RunMarket, check_covered, load_run_market
from engine.prepare import CancelledError, prepare, prepare_key
from engine.simulator import run_digest
from engine.sweep.executors import SweepExecutor, ThreadExecutor
from engine.sweep.spec import SweepSpec
from engine.sweep.task import RowResult, Scored

Progress = Callable[[int, int], None]  # (configurations done, total)

IN_FLIGHT_PER_WORKER = 2
WAIT_POLL_S = 0.2  # how often a driver waiting for tasks checks the cancel flag


@dataclass
class SweepRun:
    """The rows of a sweep, in configuration order, and how they were computed."""

    configs: list[CallSimulationConfig]
    rows: list[RowResult]
    run_ids: list[str]
    fingerprint: str  # of the data the configurations read (one per option market, joined)
    calibration_id: str
    data: dict  # provenance and trust, as a run's summary.json ``data`` block
    timings: dict = field(default_factory=dict)


def sweep_digest(spec: SweepSpec, fingerprint: str, calibration_id: str) -> str:
    """A sweep's id: the canonical spec, the data fingerprint and the fills' calibration id."""
    text = f"{spec.canonical_json}|{fingerprint}|{calibration_id}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sweep_source(spec: SweepSpec) -> str:
    """The data source every configuration of ``spec`` reads."""
    return spec.configurations()[0].source


def sweep_fingerprint(ds: DeribitDataSource, configs: list[CallSimulationConfig]) -> str:
    """The fingerprint of the data the configurations read (:func:`engine.chains.
    data_fingerprint`; a sweep over ``option_market`` reads two, joined)."""
    return "+".join(sorted({data_fingerprint(ds, cfg) for cfg in configs}))


def market_key(ds: DeribitDataSource, cfg: CallSimulationConfig) -> str:
    """Configurations with equal keys read the same :class:`~engine.market.RunMarket`."""
    fields = MARKET_FIELDS | ({"max_dte"} if resolve_option_market(ds, cfg) == "chains" else set())
    return cfg.canonical_json(fields)


def run_sweep(
    data_dir: Path,
    spec: SweepSpec,
    executor: SweepExecutor | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    spread: SpreadModel | None = None,
) -> SweepRun:
    """Run every configuration of ``spec`` on the cache in ``data_dir``.

    ``executor`` defaults to a :class:`~engine.sweep.executors.ThreadExecutor` with one thread
    per CPU (closed at the end; a given executor is left open). Raises ``engine.prepare.
    CancelledError`` when ``cancel()`` turns true, and the data errors of a single backtest
    (DataNotCoveredError, FieldValueError, SourceNotFoundError) before anything is replayed.
    """
    ds = DeribitDataSource(data_dir, sweep_source(spec))
    own = executor is None
    executor = executor or ThreadExecutor()
    try:
        return run_configurations(
            ds, spec.configurations(), executor, Path(data_dir) / "prepared", progress, cancel,
            spread,
        )  # fmt: skip
    finally:
        if own:
            executor.close()


def run_configurations(
    ds: DeribitDataSource,
    configs: list[CallSimulationConfig],
    executor: SweepExecutor,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    spread: SpreadModel | None = None,
) -> SweepRun:
    """Run ``configs`` (all on source ``ds``) and return their rows in the same order."""
    spread = spread or SpreadModel.default()
    t0 = time.perf_counter()
    keys = [market_key(ds, cfg) for cfg in configs]
    for cfg in {k: c for k, c in zip(keys, configs, strict=True)}.values():
        check_covered(ds, cfg)
    timings = {"load_s": 0.0, "prepare_s": 0.0}
    markets: dict[str, RunMarket] = {}
    for key, cfg in zip(keys, configs, strict=True):
        if key not in markets:
            t = time.perf_counter()
            markets[key] = load_run_market(ds, cfg)
            cfg.quantity_coin(float(markets[key].spot[0]))  # a too small capital: refuse now
            timings["load_s"] += time.perf_counter() - t
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (key, cfg) in enumerate(zip(keys, configs, strict=True)):
        groups.setdefault((key, prepare_key(markets[key], cfg)), []).append(i)

    rows: list[RowResult | None] = [None] * len(configs)
    pending: dict[Future, list[int]] = {}
    limit = IN_FLIGHT_PER_WORKER * executor.workers
    batch = executor.batch_size(len(configs))
    done = 0

    def stop_if_cancelled() -> None:
        if cancel is not None and cancel():
            executor.cancel(list(pending))
            raise CancelledError("stopped by user during the sweep")

    def collect(most: int) -> None:
        """Take finished tasks until at most ``most`` are pending."""
        nonlocal done
        while len(pending) > most:
            stop_if_cancelled()
            finished, _ = wait(pending, timeout=WAIT_POLL_S, return_when=FIRST_COMPLETED)
            for f in finished:
                for i, row in zip(pending.pop(f), f.result(), strict=True):
                    rows[i] = row
                    done += 1
            if finished and progress:
                progress(done, len(configs))

    shared_markets = {key: executor.share(m) for key, m in markets.items()}
    for (key, _), members in groups.items():
        stop_if_cancelled()
        t = time.perf_counter()
        prepared = prepare(markets[key], configs[members[0]], cache_dir, cancel=cancel)
        timings["prepare_s"] += time.perf_counter() - t
        shared = executor.share(prepared)
        scored: Scored = {}  # the group's instants scored on demand
        for a in range(0, len(members), batch):
            collect(limit - 1)
            stop_if_cancelled()
            ids = members[a : a + batch]
            future = executor.submit(
                shared_markets[key], shared, [configs[i] for i in ids], spread, ds.meta.origin,
                scored,
            )  # fmt: skip
            pending[future] = ids
    collect(0)
    wall = time.perf_counter() - t0
    done_rows = [r for r in rows if r is not None]
    if len(done_rows) != len(configs):  # every task was collected above: never a gap
        raise RuntimeError(f"the sweep lost {len(configs) - len(done_rows)} rows")
    fingerprint = sweep_fingerprint(ds, configs)
    return SweepRun(
        configs=configs,
        rows=done_rows,
        run_ids=[
            run_digest(cfg, data_fingerprint(ds, cfg), spread.calibration_id) for cfg in configs
        ],
        fingerprint=fingerprint,
        calibration_id=spread.calibration_id,
        data=sweep_data_block(ds, list(markets.values()), done_rows, fingerprint),
        timings={
            **timings,
            "wall_s": wall,
            "replay_task_s": sum(r.seconds for r in done_rows),
            "configurations": len(configs),
            "configurations_per_s": len(configs) / wall if wall > 0 else None,
            "markets": len(markets),
            "prepares": len(groups),
            "executor": executor.name,
            "workers": executor.workers,
        },
    )


def _union(lists) -> list:
    """The items of ``lists`` in first-seen order, each once."""
    return list(dict.fromkeys(item for items in lists for item in items or ()))


def sweep_data_block(
    ds: DeribitDataSource, markets: list[RunMarket], rows: list[RowResult], fingerprint: str
) -> dict:
    """What the sweep read and modelled, as a run's ``data`` block: the source's provenance
    (with its SYNTHETIC flag), the instants, and the union over the configurations of what was
    recorded, what modelled and the warnings."""
    facts = [r.facts for r in rows]
    shares = [f["iv_real_share"] for f in facts if f["iv_real_share"] is not None]
    return {
        **ds.meta.provenance(),
        "fingerprint": fingerprint,
        "first_instant": from_ns(int(min(m.t_ns[0] for m in markets))).isoformat(),
        "last_instant": from_ns(int(max(m.t_ns[-1] for m in markets))).isoformat(),
        "engine_version": __version__,
        "option_market": "+".join(sorted({f["option_market"] for f in facts})),
        "fill_model": "+".join(sorted({f["fill_model"] for f in facts})),
        "calibration_id": facts[0]["calibration_id"] if facts else None,
        "iv_real_share": float(np.mean(shares)) if shares else None,
        "recorded": _union(f["recorded"] for f in facts),
        "modelled": _union(f["modelled"] for f in facts),
        "warnings": _union(f["warnings"] for f in facts),
    }

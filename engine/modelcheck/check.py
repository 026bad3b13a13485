"""Run a model check: the model against one source's recorded chains, per underlying.

For each underlying with chains, one strategy config over the whole bars the chains cover
(:func:`chain_window`) drives everything: its run on the recorded chains gives the clock and the
snapshot each instant reads (:mod:`engine.modelcheck.compare`), and the same config is
backtested on the chains and on the model chain (:mod:`engine.modelcheck.backtests`). The
model is the calibration's: its surface parameters and IV-index ratio replace the strategy's
``vol_surface``, and its spread model quotes the model chain. The model needs an IV index over
the window; without one the model side is reported as unavailable, saying so.
"""

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from cache.datasource import DeribitDataSource
from cache.files import reading
from cache.timeutil import TIMEFRAME_HOURS
from engine import __version__
from engine.calibration import DEFAULT_CALIBRATION_PATH, Calibration, load_calibration
from engine.config import CallSimulationConfig, StrategyConfig
from engine.fills import SpreadModel
from engine.market import RunMarket, load_run_market
from engine.modelcheck import tables
from engine.modelcheck.backtests import side_by_side
from engine.modelcheck.compare import (
    DELTA_BUCKETS,
    DELTA_EDGES,
    DTE_BUCKETS,
    DTE_EDGES_DAYS,
    compared_calls,
)
from engine.modelcheck.report import ModelCheckReport, UnderlyingCheck

MODEL_CHECK_VERSION = 1  # bump when a report's numbers for the same inputs change
# a short window of chains: decide every hour, sell a call a few days out, take profit and roll
DEFAULT_STRATEGY: dict[str, Any] = {
    "exit_style": "tp_and_roll",
    "decision_interval_hours": 1,
    "target_dte": 2.0,
    "min_dte": 0.3,
    "max_dte": 7.0,
}
# set by the check (per underlying, chains' window and calibration), whatever a strategy says
SET_BY_CHECK = frozenset(
    [
        "underlying",
        "vol_surface",
        "start",
        "end",
        "source",
        "option_market",
        "chain_max_age_minutes",
    ]
)


class ModelCheckInputError(ValueError):
    """A source or underlying the model check cannot run on; ``fields`` names the input."""

    def __init__(self, message: str, fields: tuple[str, ...]) -> None:
        super().__init__(message)
        self.fields = fields


def chain_underlyings(ds: DeribitDataSource, wanted: Sequence[str] | None = None) -> list[str]:
    """The underlyings to check: ``wanted`` (each must have chains), else all with chains."""
    have = sorted(u for u, cov in ds.meta.coverage.items() if cov.chain_snapshots)
    if not have:
        raise ModelCheckInputError(
            f"source {ds.source!r} holds no recorded option chains: the model check compares "
            "the model against recorded chains (import some with `thetadesk import-chains`)",
            ("source",),
        )
    missing = [u for u in wanted or () if u.upper() not in have]
    if missing:
        raise ModelCheckInputError(
            f"source {ds.source!r} holds no recorded {missing[0].upper()} option chains; it has "
            f"chains of {', '.join(have)}",
            ("underlying",),
        )
    return sorted({u.upper() for u in wanted}) if wanted else have


def _floor(t: datetime, hours: int) -> datetime:
    """``t`` floored to a UTC-aligned bar of ``hours``."""
    hour = t.replace(minute=0, second=0, microsecond=0)
    return hour - timedelta(hours=hour.hour % hours)


def chain_window(
    ds: DeribitDataSource, underlying: str, timeframe: str
) -> tuple[datetime, datetime]:
    """The whole ``timeframe`` bars the chains cover: from the bar holding the first snapshot to
    the bar boundary at or before the last, within the candles."""
    cov, hours = ds.coverage(underlying), TIMEFRAME_HOURS.get(timeframe)
    if hours is None:
        raise ModelCheckInputError(
            f"timeframe {timeframe!r} is not one of {', '.join(TIMEFRAME_HOURS)}", ("timeframe",)
        )
    start, end = _floor(cov.chain_start, hours), _floor(cov.chain_end, hours)
    if cov.candles.start is not None:
        start, end = max(start, cov.candles.start), min(end, cov.candles.end)
    if end - start < timedelta(hours=2 * hours):
        span = f"{cov.chain_start:%Y-%m-%d %H:%M} to {cov.chain_end:%Y-%m-%d %H:%M} UTC"
        raise ModelCheckInputError(
            f"the {underlying} chains of source {ds.source!r} cover {span}: fewer than two "
            f"whole {timeframe} bars to compare on",
            ("underlying",),
        )
    return start, end


def check_configs(
    ds: DeribitDataSource,
    calibration: Calibration,
    strategy: Mapping[str, Any] | None = None,
    underlyings: Sequence[str] | None = None,
    chain_max_age_minutes: int = 15,
) -> list[CallSimulationConfig]:
    """One config per underlying: :data:`DEFAULT_STRATEGY` updated by ``strategy`` (fields of a
    :class:`~engine.config.CallSimulationConfig`; those in :data:`SET_BY_CHECK` are not used),
    over the chains' window, on the recorded chains, with the calibration's vol surface."""
    given = {k: v for k, v in (strategy or {}).items() if k not in SET_BY_CHECK}
    fields = DEFAULT_STRATEGY | given
    timeframe = fields.get("timeframe", StrategyConfig.model_fields["timeframe"].default)
    configs = []
    for u in chain_underlyings(ds, underlyings):
        start, end = chain_window(ds, u, timeframe)
        surface = calibration.surface_params().model_copy(
            update={"atm_over_index": calibration.atm_over_index(u)}
        )
        run = {
            "underlying": u,
            "start": start,
            "end": end,
            "source": ds.source,
            "vol_surface": surface,
            "option_market": "chains",
            "chain_max_age_minutes": chain_max_age_minutes,
        }
        configs.append(CallSimulationConfig(**(fields | run)))
    return configs


def report_key(ds: DeribitDataSource, calibration: Calibration, configs) -> str:
    """The report's cache key: data fingerprint, calibration id, configs and check version."""
    text = "|".join(
        [ds.fingerprint, calibration.calibration_id, f"v{MODEL_CHECK_VERSION}"]
        + [cfg.canonical_json() for cfg in configs]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_unavailable(ds: DeribitDataSource, cfg: CallSimulationConfig) -> str | None:
    """Why the model chain cannot run over ``cfg``'s window (it needs an IV index), or None."""
    cov = ds.coverage(cfg.underlying).iv
    if cov.start is None:
        return (
            f"no IV index: the model side cannot run (source {ds.source!r} holds no "
            f"{cfg.underlying} IV index, and the model prices its calls from one)"
        )
    if not cov.start <= cfg.start < cfg.end <= cov.end:
        return (
            f"no IV index: the model side cannot run (the {cfg.underlying} IV index of source "
            f"{ds.source!r} covers {cov.start:%Y-%m-%d %H:%M} to {cov.end:%Y-%m-%d %H:%M} UTC, "
            f"the chains' window is {cfg.start:%Y-%m-%d %H:%M} to {cfg.end:%Y-%m-%d %H:%M} UTC)"
        )
    return None


def comparison(
    ds: DeribitDataSource, cfg: CallSimulationConfig, spread: SpreadModel
) -> tuple[RunMarket, pl.DataFrame]:
    """The market of ``cfg``'s run on the recorded chains, reaching every call the buckets hold
    (whatever the strategy's ``max_dte``), and its :func:`compared_calls`.

    A chain file that cannot be read raises :class:`~cache.files.CorruptFileError` naming the
    underlying's chain folder.
    """
    wide = CallSimulationConfig(
        **cfg.model_dump(exclude={"max_dte"}), max_dte=max(cfg.max_dte, DTE_EDGES_DAYS[-1])
    )
    with reading(ds.store.chain_dir(ds.source, cfg.underlying)):  # a scan names no day file
        market = load_run_market(ds, wide)
    return market, compared_calls(market, cfg.underlying, cfg.vol_surface, spread)


def check_underlying(
    ds: DeribitDataSource, cfg: CallSimulationConfig, calibration: Calibration
) -> UnderlyingCheck:
    """The model against the recorded chains of ``cfg.underlying`` over ``cfg``'s window."""
    spread = calibration.spread_model()
    market, rows = comparison(ds, cfg, spread)
    read = market.chains.instant_snap >= 0
    has_iv = np.isfinite(market.context.get_column("iv_index").to_numpy())
    real = market.iv_is_real[read & has_iv]
    unavailable = model_unavailable(ds, cfg)
    return UnderlyingCheck(
        underlying=cfg.underlying,
        window_start=cfg.start,
        window_end=cfg.end,
        instants=len(market.t_ns),
        instants_with_snapshot=int(read.sum()),
        instants_with_iv_index=int((read & has_iv).sum()),
        snapshots_compared=rows.get_column("snapshot_time").n_unique(),
        calls_compared=rows.height,
        calls_with_model=int(rows.get_column("model_iv_pct").is_not_nan().sum()),
        iv_index_real_share=float(real.mean()) if real.size else None,
        model_unavailable=unavailable,
        iv_error=tables.iv_error(rows),
        premium_error=tables.premium_error(rows),
        fill_error=tables.fill_error(rows),
        forward_error=tables.forward_error(rows, cfg.vol_surface.basis_annual),
        backtest=side_by_side(ds, cfg, spread, unavailable),
    )


def method(cfg: CallSimulationConfig, calibration: Calibration) -> list[str]:
    """What was compared and how, in sentences (the report's and the page's legend)."""
    return [
        "compared: at each instant of the hourly clock of a run on the recorded chains that "
        f"reads a snapshot at most {cfg.chain_max_age_minutes} min old, every call of that "
        f"snapshot with delta in [{DELTA_EDGES[0]:g}, {DELTA_EDGES[-1]:g}) and "
        f"[{DTE_EDGES_DAYS[0]:g}, {DTE_EDGES_DAYS[-1]:g}) days to expiry, in buckets [lo, hi); "
        "delta is Black-76 from the recorded mark IV and forward, time to expiry T runs from "
        "the snapshot's time",
        f"model: calibration {calibration.calibration_id}'s vol surface on the source's IV index "
        "as the run's market context sees it at the instant (the last value closed by then), "
        "at the call's strike and T",
        "model forward: spot x exp(basis_annual x T), spot being the close of the last candle "
        "closed by the instant (for a source whose candles come from its chains, the spot of "
        "the snapshot read); the IV error is the model's on its own forward, the 'at recorded "
        "forward' column prices the same surface on the recorded forward (their difference is "
        "the basis' share), and the forward table compares the forwards themselves",
        "premium: the model mark (Black-76 at the model IV on the model forward, coin) against "
        "the recorded mark, relative errors in % of the recorded mark",
        "fills: the spread model on the recorded mark and delta (the spread model alone), and "
        "the model's own bid/ask (the spread model on the model mark and delta) against the "
        "recorded bid/ask where that side was quoted; % of the recorded mark",
        "side by side: the same strategy backtested with option_market chains (sales at the "
        "recorded bid, buy-backs at the recorded ask, gaps where no snapshot is recent) and "
        "model (calls generated and priced on the surface, bid/ask from the spread model) over "
        "the whole bars the chains cover; PnL is the options' (the trades' summed)",
        "errors are model minus market",
    ]


def model_check(
    ds: DeribitDataSource,
    calibration: Calibration | None = None,
    strategy: Mapping[str, Any] | None = None,
    underlyings: Sequence[str] | None = None,
    chain_max_age_minutes: int = 15,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ModelCheckReport:
    """The model against the recorded chains of source ``ds`` (see the module doc).

    ``calibration`` defaults to the shipped one; ``strategy`` and ``underlyings`` as in
    :func:`check_configs`. Raises :class:`ModelCheckInputError` for a source without chains or
    an underlying it lacks.
    """
    calibration = calibration or load_calibration()
    configs = check_configs(ds, calibration, strategy, underlyings, chain_max_age_minutes)
    return run_check(ds, calibration, configs, clock)


def run_check(
    ds: DeribitDataSource,
    calibration: Calibration,
    configs: Sequence[CallSimulationConfig],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ModelCheckReport:
    """The report of :func:`check_configs`' ``configs`` (one per underlying)."""
    t0 = time.perf_counter()
    checks = [check_underlying(ds, cfg, calibration) for cfg in configs]
    first = configs[0]
    return ModelCheckReport(
        **ds.meta.provenance(),
        calibration_id=calibration.calibration_id,
        calibration_where=(
            "the shipped calibration, engine/calibration/default.json"
            if calibration.where == str(DEFAULT_CALIBRATION_PATH)
            else calibration.where
        ),
        surface=first.vol_surface.model_dump(exclude={"atm_over_index"}),
        atm_over_index={c.underlying: c.vol_surface.atm_over_index for c in configs},
        strategy=first.model_dump(mode="json", exclude=SET_BY_CHECK),
        chain_max_age_minutes=first.chain_max_age_minutes,
        delta_buckets=DELTA_BUCKETS,
        dte_buckets_days=DTE_BUCKETS,
        method=method(first, calibration),
        underlyings=checks,
        key=report_key(ds, calibration, configs),
        engine_version=__version__,
        computed_at=clock(),
        compute_s=time.perf_counter() - t0,
    )

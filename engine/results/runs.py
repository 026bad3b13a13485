"""Run outputs for notebooks and the dashboard: ``<data_dir>/runs/<run_id>/``.

``summary.json`` (config, data source and fingerprint, metrics, timings) and the Parquet tables
``trades``, ``equity``, ``steps``, ``candidates`` (the top-K scored candidates of every prepared
time). Their columns are the contract of :mod:`engine.results.schema` (documented in
``docs/data.md``): a table that breaks it is refused before anything is written. A run directory
appears whole: it is written beside its final place and renamed into it.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cache.datasource import DeribitDataSource
from cache.files import (
    DataDirNotWritableError,
    remove_path,
    replace_dir,
    sibling,
    writable_problem,
)
from cache.store import write_parquet_atomic
from engine.config import CallSimulationConfig
from engine.replay import StepsCallback
from engine.results.data_quality import FILL_MODEL_LABELS
from engine.results.labels import METRIC_LABELS
from engine.results.schema import TABLES, check_table
from engine.results.summary import RunSummary
from engine.simulator import CoveredCallSimulator, Progress, SimulationResult, finite_or_none


def runs_dir(data_dir: Path) -> Path:
    """Where runs live under a data directory."""
    return Path(data_dir) / "runs"


def write_problem(data_dir: Path) -> str | None:
    """Why a run cannot be written (or deleted) under ``data_dir`` now; None when it can."""
    return writable_problem(runs_dir(data_dir))


def check_can_write(data_dir: Path) -> None:
    """Raise DataDirNotWritableError, saying why, when runs cannot be written under ``data_dir``."""
    problem = write_problem(data_dir)
    if problem is not None:
        raise DataDirNotWritableError(f"the data directory is not writable: {problem}")


def summary_of(result: SimulationResult, finished_at: datetime | None = None) -> dict:
    """The JSON summary of a run."""
    return {
        "run_id": result.run_id,
        "finished_at": (finished_at or datetime.now(UTC)).isoformat(),
        "config": result.config.model_dump(mode="json"),
        "quantity_coin": result.quantity_coin,
        "data": result.data,
        "metrics": {k: finite_or_none(v) for k, v in result.metrics.items()},
        "timings": {k: finite_or_none(v) for k, v in result.timings.items()},
        "rows": {name: getattr(result, name).height for name in TABLES},
    }


def write_run(result: SimulationResult, data_dir: Path) -> Path:
    """Write a run's outputs; replaces an earlier run with the same id (same inputs).

    Raises
    ------
    ValueError
        When a table breaks its contract (:func:`engine.results.schema.check_table`) or the
        summary its model (:class:`engine.results.summary.RunSummary`); nothing is written then.
    """
    for name in TABLES:
        check_table(name, getattr(result, name))
    summary = summary_of(result)
    RunSummary.model_validate(summary)
    final = runs_dir(data_dir) / result.run_id
    tmp = sibling(final, "tmp")
    tmp.mkdir(parents=True)
    try:
        for name in TABLES:
            write_parquet_atomic(getattr(result, name), tmp / f"{name}.parquet", compression="lz4")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        replace_dir(tmp, final)
    except BaseException:
        remove_path(tmp)
        raise
    return final


def execute_run(
    data_dir: Path,
    cfg: CallSimulationConfig,
    progress: Progress | None = None,
    on_steps: StepsCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[SimulationResult, Path]:
    """Run a backtest on the cache in ``data_dir`` and write its outputs; return both.

    Refuses (DataDirNotWritableError) before computing anything when the run cannot be written.
    """
    check_can_write(data_dir)
    ds = DeribitDataSource(data_dir, cfg.source)
    sim = CoveredCallSimulator(ds, cfg, cache_dir=Path(data_dir) / "prepared")
    result = sim.simulate_policy(progress=progress, on_steps=on_steps, cancel=cancel)
    return result, write_run(result, data_dir)


def market_line(data: dict) -> str:
    """What a run's options were: the recorded chains with their gaps, or the model chain."""
    chains = data.get("chains")
    if data.get("option_market") == "chains" and chains:
        return (
            f"options: REAL recorded chains of source {chains['source']} "
            f"({chains['snapshots_read']} snapshots read; {chains['gap_decisions']} of "
            f"{chains['decisions']} decision instants were gaps, no snapshot within "
            f"{chains['max_age_minutes']} min)"
        )
    return "options: model chain (calls priced on the vol surface from the IV index)"


def trust_line(data: dict) -> str:
    """Fill model, IV real share and calibration of a run's data block, in one line."""
    fill = data.get("fill_model")
    fill = FILL_MODEL_LABELS.get(fill, fill) if fill else "not recorded"
    share = data.get("iv_real_share")
    iv = "n/a" if share is None else f"{share * 100:.1f} %"
    calibration = data.get("calibration_id") or "none"
    return f"fills {fill}, IV real (DVOL) at {iv} of decisions, calibration {calibration}"


def format_summary(summary: dict) -> str:
    """A readable text summary of ``summary.json``."""
    cfg, data, m = summary["config"], summary["data"], summary["metrics"]
    synthetic = "  ** SYNTHETIC DATA, not real Deribit prices **" if data["synthetic"] else ""
    lines = [
        f"Backtest {summary['run_id']}: {cfg['underlying']} covered calls, {cfg['exit_style']}",
        f"  {cfg['start'][:10]} to {cfg['end'][:10]}, {cfg['timeframe']} bars, decision every "
        f"{cfg['decision_interval_hours']} h, source {data['source']} "
        f"[{data['origin']}]{synthetic}",
        f"  target delta {cfg['target_delta']}, target DTE {cfg['target_dte']} d, "
        f"min score {cfg['min_score_to_trade']}, quantity {summary['quantity_coin']:.6g} coin",
        f"  {market_line(data)}",
        f"  {trust_line(data)}",
        *(f"  ! {warning}" for warning in data.get("warnings") or ()),
        "",
    ]
    for key, (label, fmt) in METRIC_LABELS.items():
        value = m.get(key)
        lines.append(f"  {label:<30} {'n/a' if value is None else fmt.format(value)}")
    t = summary["timings"]
    cached = " (cached)" if t.get("prepare_cached") else ""
    cached += " (a damaged cache entry was rebuilt)" if t.get("prepare_cache_rebuilt") else ""
    lines += [
        "",
        f"  {t['decisions']} decisions, {t['candidates_scored']:,} candidates scored; load "
        f"{t['load_s']:.2f} s, prepare {t['prepare_s']:.2f} s{cached}, "
        f"replay {t['replay_s']:.2f} s",
    ]
    return "\n".join(lines)

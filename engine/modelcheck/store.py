"""Model-check reports kept on disk, so a page asks for one in milliseconds the second time.

A report is ``<data_dir>/model-check/<key>.json``, ``key`` hashing the source's fingerprint,
the calibration id, the configs and :data:`~engine.modelcheck.check.MODEL_CHECK_VERSION`
(:func:`~engine.modelcheck.check.report_key`): new data, another calibration or another
strategy is another file. Files are written whole (temp file, then ``os.replace``); one that
cannot be read back is computed again. Requests for the same key wait for one computation.
"""

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cache.datasource import DeribitDataSource
from cache.store import atomic_write
from engine.calibration import Calibration, load_calibration
from engine.modelcheck.check import check_configs, report_key, run_check
from engine.modelcheck.report import ModelCheckReport

log = logging.getLogger(__name__)
REPORTS_DIR = "model-check"

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def report_path(data_dir: Path, key: str) -> Path:
    """Where the report of ``key`` is kept."""
    return Path(data_dir) / REPORTS_DIR / f"{key}.json"


def read_report(path: Path) -> ModelCheckReport | None:
    """The report in ``path``; None when there is none or it cannot be read (logged)."""
    try:
        return ModelCheckReport.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        log.warning("model-check report %s is unreadable, computing it again: %s", path, exc)
        return None


def write_report(path: Path, report: ModelCheckReport) -> None:
    """Keep ``report`` in ``path`` atomically; a data dir that refuses is logged, not raised."""
    data = report.model_dump_json(indent=1).encode()
    try:
        atomic_write(path, lambda tmp: tmp.write_bytes(data))
    except OSError as exc:
        log.warning("model-check report not kept in %s: %s", path, exc)


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def cached_model_check(
    data_dir: Path,
    source: str,
    calibration: Calibration | None = None,
    strategy: Mapping[str, Any] | None = None,
    underlyings: Sequence[str] | None = None,
    chain_max_age_minutes: int = 15,
) -> tuple[ModelCheckReport, bool]:
    """The model check of ``source`` (see :func:`~engine.modelcheck.check.model_check`), read
    from disk when it was computed before; returns ``(report, from_disk)``."""
    ds = DeribitDataSource(data_dir, source)
    calibration = calibration or load_calibration()
    configs = check_configs(ds, calibration, strategy, underlyings, chain_max_age_minutes)
    key = report_key(ds, calibration, configs)
    path = report_path(data_dir, key)
    with _lock(key):
        report = read_report(path)
        if report is not None:
            return report, True
        report = run_check(ds, calibration, configs)
        write_report(path, report)
        return report, False

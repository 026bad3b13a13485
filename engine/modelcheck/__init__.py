"""Model against market: the model chain next to recorded option chains.

Over a source's recorded chains, :func:`model_check` measures the model the backtester prices
calls with where it has no chains (a calibration's vol surface on the IV index, its spread
model): its IV, premium, fill and forward errors per delta and DTE bucket
(:mod:`engine.modelcheck.compare`, :mod:`engine.modelcheck.tables`), and the same strategy
backtested on the chains and on the model chain side by side
(:mod:`engine.modelcheck.backtests`). The result is a :class:`ModelCheckReport`
(:mod:`engine.modelcheck.report`), which :mod:`engine.modelcheck.store` keeps on disk per
source fingerprint, calibration and config.
"""

from engine.modelcheck.check import (
    DEFAULT_STRATEGY,
    ModelCheckInputError,
    check_configs,
    model_check,
    report_key,
    run_check,
)
from engine.modelcheck.compare import DELTA_EDGES, DTE_EDGES_DAYS, compared_calls
from engine.modelcheck.report import ModelCheckReport
from engine.modelcheck.store import cached_model_check

__all__ = [
    "DEFAULT_STRATEGY",
    "DELTA_EDGES",
    "DTE_EDGES_DAYS",
    "ModelCheckInputError",
    "ModelCheckReport",
    "cached_model_check",
    "check_configs",
    "compared_calls",
    "model_check",
    "report_key",
    "run_check",
]

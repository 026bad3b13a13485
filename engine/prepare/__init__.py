"""Prepare phase: candidates x times, priced and scored in numba batches, cached as Parquet.

The driver (:mod:`engine.prepare.driver`) calls the kernel of :mod:`engine.prepare.nb` chunk by
chunk and keeps the result in ``<data_dir>/prepared/``.
"""

from engine.prepare.driver import (
    PREPARE_FIELDS,
    PREPARE_VERSION,
    CancelledError,
    PreparedData,
    prepare,
    prepare_key,
    prepared_times,
    score_instants,
)

__all__ = [
    "PREPARE_FIELDS",
    "PREPARE_VERSION",
    "CancelledError",
    "PreparedData",
    "prepare",
    "prepare_key",
    "prepared_times",
    "score_instants",
]

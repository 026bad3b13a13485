"""Calibration to real Deribit chains: one versioned JSON document the engine reads its models from.

:func:`calibrate` (:mod:`engine.calibration.document`) fits, on option-chain snapshots
(``../shared`` schema), the spread model of :mod:`engine.fills`, the ratio of the 30-day ATM IV to
a DVOL-style index (:mod:`cache.ivindex`, :mod:`engine.calibration.relation`) and the
vol surface's smile, term structure and basis (:mod:`engine.calibration.surface`), each with its
leave-one-day-out error (:mod:`engine.calibration.oos`). :func:`write_calibration` stores the
document with its id, a hash of its content; :func:`load_calibration` reads and checks one. The
app ships ``default.json``, fitted on the ``../shared`` snapshots; a test re-fits it there and
checks it is current. ``thetadesk calibrate`` is the command line.
"""

from engine.calibration.document import (
    CALIBRATION_FORMAT,
    CALIBRATION_VERSION,
    DEFAULT_CALIBRATION_PATH,
    calibrate,
    calibration_id,
    write_calibration,
)
from engine.calibration.load import Calibration, load_calibration, parse_calibration

__all__ = [
    "CALIBRATION_FORMAT",
    "CALIBRATION_VERSION",
    "DEFAULT_CALIBRATION_PATH",
    "Calibration",
    "calibrate",
    "calibration_id",
    "load_calibration",
    "parse_calibration",
    "write_calibration",
]

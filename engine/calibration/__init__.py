"""Calibration to real Deribit chains: one versioned JSON document the engine reads its models from.

:func:`calibrate` fits, on option-chain snapshots (``../shared`` schema), the spread model of
:mod:`engine.fills`; :func:`write_calibration` stores the document with its id, a hash of its
fitted content. The app ships ``default.json``, fitted on the ``../shared`` snapshots; a test
re-fits it there and checks it is current.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import polars as pl

from engine.fills.fit import DELTA_BAND, DTE_BAND, chain_quotes, fit_spread, in_band
from engine.fills.model import spread_block

CALIBRATION_FORMAT = "thetadesk-calibration"
CALIBRATION_VERSION = 1
DEFAULT_CALIBRATION_PATH = Path(__file__).with_name("default.json")


def calibration_id(doc: dict) -> str:
    """``cal-`` and 12 hex digits of the SHA-256 of the document without its id."""
    body = {k: v for k, v in doc.items() if k != "calibration_id"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "cal-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def calibrate(chains: dict[str, pl.DataFrame]) -> dict:
    """Fit every model on named snapshot frames; return the calibration document (with id).

    ``chains`` maps a name (e.g. a file name) to a frame in the ``../shared`` snapshot schema;
    the underlyings are those the frames hold.
    """
    if not chains:
        raise ValueError("no option-chain snapshots to calibrate on")
    quotes = pl.concat(
        [chain_quotes(f.select(sorted(f.columns))) for f in chains.values()], how="diagonal"
    )
    params, fits = {}, {}
    for underlying in sorted(quotes.get_column("underlying").unique().to_list()):
        q = in_band(quotes.filter(pl.col("underlying") == underlying))
        params[underlying], loo = fit_spread(q, underlying)
        fits[underlying] = {"rows": q.height, "leave_one_day_out": loo}
    times = quotes.get_column("harvest_time")
    doc = {
        "format": CALIBRATION_FORMAT,
        "version": CALIBRATION_VERSION,
        "fitted_on": {
            "chains": sorted(chains),
            "first_snapshot": times.min().isoformat(),
            "last_snapshot": times.max().isoformat(),
        },
        "spread": {
            "band": {"delta": list(DELTA_BAND), "dte_days": list(DTE_BAND)},
            **spread_block(params, fits),
        },
    }
    return {"calibration_id": calibration_id(doc), **doc}


def write_calibration(doc: dict, path: Path) -> Path:
    """Write the document atomically (temp file, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2, sort_keys=False)
        fh.write("\n")
    os.replace(tmp, path)
    return path

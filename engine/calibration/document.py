"""The calibration document: every fit on one set of snapshots, versioned and named by its content.

:func:`calibrate` fits, on option-chain snapshots (``../shared`` schema):

- ``spread``: the bid/ask spread model of :mod:`engine.fills` (format read by
  :meth:`engine.fills.SpreadModel.from_calibration`);
- ``iv_index``: per underlying, the ratio of the 30-day ATM IV to a DVOL-style index computed from
  the same snapshot (:mod:`engine.calibration.relation`);
- ``surface``: smile, term structure and forward basis (:mod:`engine.calibration.surface`);

each with its leave-one-day-out error. Fitted numbers are rounded (six significant digits, the
surface parameters to three decimals), so the same snapshots give the same document and the same
:func:`calibration_id` on any machine.
"""

import hashlib
import json
from pathlib import Path

import polars as pl

from cache.ivindex import iv_index
from cache.store import atomic_write
from engine.calibration.chains import conform_chain
from engine.calibration.relation import relation_block, relation_table
from engine.calibration.surface import surface_block
from engine.fills.fit import DELTA_BAND, DTE_BAND, chain_quotes, fit_spread, in_band
from engine.fills.model import spread_block
from engine.volsurface.fit import SurfaceData

CALIBRATION_FORMAT = "thetadesk-calibration"
CALIBRATION_VERSION = 2
DEFAULT_CALIBRATION_PATH = Path(__file__).with_name("default.json")
IV_INDEX_METHOD = (
    "DVOL-style 30-day variance index (Cboe VIX strip of out-of-the-money Deribit marks in USD on "
    "each expiry's forward, total variance interpolated between the expiries bracketing 30 days)"
)


def calibration_id(doc: dict) -> str:
    """``cal-`` and 12 hex digits of the SHA-256 of the document without its id."""
    body = {k: v for k, v in doc.items() if k != "calibration_id"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "cal-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def merge_chains(chains: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """One frame of all named snapshot frames, conformed; a row recorded twice counts once."""
    if not chains:
        raise ValueError("no option-chain snapshots to calibrate on")
    frames = [conform_chain(frame, name) for name, frame in sorted(chains.items())]
    return (
        pl.concat(frames)
        .unique(["harvest_time", "instrument_name"], keep="first", maintain_order=True)
        .sort("harvest_time", "instrument_name")
    )


def _spread(chain: pl.DataFrame, underlyings: list[str]) -> dict:
    quotes = chain_quotes(chain)
    params, fits = {}, {}
    for underlying in underlyings:
        q = in_band(quotes.filter(pl.col("underlying") == underlying))
        params[underlying], loo = fit_spread(q, underlying)
        fits[underlying] = {"rows": q.height, "leave_one_day_out": loo}
    return {
        "band": {"delta": list(DELTA_BAND), "dte_days": list(DTE_BAND)},
        **spread_block(params, fits),
    }


def _iv_index(chain: pl.DataFrame, surface: SurfaceData, underlyings: list[str]) -> dict:
    table = relation_table(iv_index(chain), surface.atm)
    missing = sorted(set(underlyings) - set(table.get_column("underlying").unique().to_list()))
    if missing:
        raise ValueError(
            f"no {'/'.join(missing)} snapshot with both a DVOL-style index and a 30-day ATM IV "
            "(expiries bracketing 30 days, strikes on both sides of the forward)"
        )
    return {"method": IV_INDEX_METHOD, "target_days": 30, "underlyings": relation_block(table)}


def calibrate(chains: dict[str, pl.DataFrame]) -> dict:
    """Fit every model on named snapshot frames; return the calibration document (with id).

    ``chains`` maps a name (e.g. a file name) to a frame in the ``../shared`` snapshot schema;
    the underlyings are those the frames hold. Raises ``ValueError`` saying which fit lacks data.
    """
    chain = merge_chains(chains)
    times = chain.get_column("harvest_time")
    days = times.dt.date().unique().sort()
    if days.len() < 2:
        raise ValueError(
            "leave-one-day-out needs snapshots on at least two UTC days; the chains hold "
            f"{days.len()} ({', '.join(d.isoformat() for d in days)})"
        )
    underlyings = sorted(chain.get_column("underlying").drop_nulls().unique().to_list())
    surface = SurfaceData.from_frames([chain])
    doc = {
        "format": CALIBRATION_FORMAT,
        "version": CALIBRATION_VERSION,
        "fitted_on": {
            "chains": sorted(chains),
            "underlyings": underlyings,
            "first_snapshot": times.min().isoformat(),
            "last_snapshot": times.max().isoformat(),
            "days": [d.isoformat() for d in days],
        },
        "spread": _spread(chain, underlyings),
        "iv_index": _iv_index(chain, surface, underlyings),
        "surface": surface_block(surface),
    }
    return {"calibration_id": calibration_id(doc), **doc}


def write_calibration(doc: dict, path: Path) -> Path:
    """Write the document atomically (temp file, then ``os.replace``)."""
    path = Path(path)
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))
    return path

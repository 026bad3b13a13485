"""The relation between the IV index and the 30-day ATM IV, per underlying.

The engine's history has an IV index per hour (Deribit's DVOL, or the synthetic market's index)
while its surface starts from the 30-day ATM IV. On each snapshot both are computed from the same
chain: the DVOL-style index by :mod:`cache.ivindex`, the 30-day ATM IV by
:func:`engine.volsurface.fit.atm_table`. The fit is one number per underlying,
``atm30 = atm_over_index × index``, by least squares through the origin; a constant offset
``atm30 = index − offset`` is measured beside it. Both are judged leave one day out, in vol points.
"""

import numpy as np
import polars as pl

from cache.ivindex import SNAPSHOT
from engine.calibration.oos import leave_one_day_out, sig, summary


def relation_table(index: pl.DataFrame, atm: pl.DataFrame) -> pl.DataFrame:
    """Snapshots with both the index and the 30-day ATM IV, in percent."""
    atm30 = atm.group_by(SNAPSHOT).agg(atm30=100 * pl.col("atm30").first())
    return index.select(*SNAPSHOT, "index").join(atm30, on=SNAPSHOT).sort(SNAPSHOT)


def _fit(table: pl.DataFrame) -> tuple[float, float]:
    """``(ratio, offset)``: least-squares ``atm30 / index`` and mean ``index − atm30``."""
    i, a = table.get_column("index").to_numpy(), table.get_column("atm30").to_numpy()
    return float(i @ a / (i @ i)), float(np.mean(i - a))


def _errors(model: tuple[float, float], table: pl.DataFrame) -> dict[str, np.ndarray]:
    ratio, offset = model
    i, a = table.get_column("index").to_numpy(), table.get_column("atm30").to_numpy()
    return {"ratio": ratio * i - a, "offset": i - offset - a}


def relation_block(table: pl.DataFrame) -> dict:
    """The calibration's ``iv_index`` block: per underlying, the ratio and its errors."""
    out = {}
    for underlying in sorted(table.get_column("underlying").unique().to_list()):
        rows = table.filter(pl.col("underlying") == underlying)
        ratio, offset = _fit(rows)
        errs, days = leave_one_day_out([rows], _fit, _errors)
        out[underlying] = {
            "atm_over_index": sig(ratio),
            "mean_offset_vol_pts": sig(offset, 4),
            "snapshots": rows.height,
            "leave_one_day_out": {"days": days} | {k: summary(v) for k, v in errs.items()},
        }
    return out

"""The DVOL-style index: known answers on Black-76 chains, and its level on the real snapshots."""

import numpy as np
import polars as pl
import pytest

from cache.ivindex import MIN_STRIKES_PER_SIDE, expiry_variances, iv_index
from engine.calibration.chains import read_chain_file
from engine.volsurface.fit import SurfaceData
from tests.engine.model_chains import flat, model_chain


def test_flat_vol_gives_that_vol():
    chain = model_chain(flat(0.5))
    out = iv_index(chain)
    assert out.height == 1
    assert out["index"][0] == pytest.approx(50.0, abs=0.02)
    assert out["near_days"][0] == pytest.approx(19.8333, abs=1e-3)  # 20 days to 08:00, from 12:00
    assert out["next_days"][0] == pytest.approx(39.8333, abs=1e-3)
    variances = expiry_variances(chain)
    assert variances["k0"].to_list() == [90_000.0, 90_000.0]  # the strike at or below F = 90,250
    assert variances["var"].to_numpy() == pytest.approx(0.25, abs=2e-4)


def test_forward_between_strikes_is_corrected():
    # coarse strikes: wherever F falls between two of them, the (F/K0 - 1)^2 term keeps the index
    # in place (without it, F = 92,500 would read 1.4 vol points higher than F = 90,000)
    coarse = np.arange(20_000.0, 400_000.0, 5_000.0)
    levels = [
        iv_index(model_chain(flat(0.5), forward=f, strikes=coarse))["index"][0]
        for f in (90_000.0, 92_500.0, 94_999.0)
    ]
    assert max(levels) - min(levels) < 0.1
    assert levels == pytest.approx([50.0] * 3, abs=1.0)


def test_total_variance_is_interpolated_to_30_days():
    # 40 % up to 30 days, 60 % beyond: the index is the variance of the interpolated total
    chain = model_chain(lambda k, t: np.full_like(k, 0.4 if t < 30 / 365 else 0.6))
    t1, t2 = 19.8333, 39.8333
    total = (0.16 * t1 * (t2 - 30) + 0.36 * t2 * (30 - t1)) / (t2 - t1)
    assert iv_index(chain)["index"][0] == pytest.approx(100 * np.sqrt(total / 30), abs=0.05)


def test_a_smile_lifts_the_index_above_the_atm_vol():
    chain = model_chain(lambda k, t: 0.5 + 0.3 * k * k)
    assert iv_index(chain)["index"][0] > 50.5


def test_snapshots_without_30_days_bracketed_or_strikes_on_both_sides_are_left_out():
    assert iv_index(model_chain(flat(0.5), expiry_days=(5, 20))).is_empty()
    assert iv_index(model_chain(flat(0.5), expiry_days=(40, 60))).is_empty()
    few = np.array([80_000.0, 85_000.0, 90_000.0, 95_000.0, 100_000.0, 105_000.0, 110_000.0])
    assert iv_index(model_chain(flat(0.5), strikes=few)).is_empty()  # 2 strikes below K0
    assert MIN_STRIKES_PER_SIDE == 3
    mixed = pl.concat(
        [
            model_chain(flat(0.5), expiry_days=(20,), strikes=few),
            model_chain(flat(0.5), expiry_days=(40,)),
        ]
    )
    assert iv_index(mixed).is_empty()  # the 20-day expiry does not count: nothing below 30 days


def test_real_snapshots_sit_a_few_vol_points_above_the_30_day_atm_iv(snapshots_dir):
    for path, low, high in (("BTC", 3.0, 5.0), ("ETH", 5.0, 7.5)):
        chain = read_chain_file(next(snapshots_dir.glob(f"{path}_*.parquet")))
        index = iv_index(chain)
        assert index.height >= 140  # every complete snapshot (two BTC ones are partial)
        assert index["near_days"].max() <= 30 <= index["next_days"].min()
        atm30 = (
            SurfaceData.from_frames([chain])
            .atm.group_by("harvest_time")
            .agg(atm30=100 * pl.col("atm30").first())
        )
        both = index.join(atm30, on="harvest_time")
        assert both.height == index.height
        offset = (both["index"] - both["atm30"]).to_numpy()
        assert low < offset.mean() < high
        assert (offset > 0).all()

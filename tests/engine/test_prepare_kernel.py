"""Pieces of the model prepare kernel that keep work between times: each must give what the
plain grid rule gives (the kernel's rows as a whole are checked against the state builder in
test_backtest.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cache.datasource import DeribitDataSource
from engine.config import CallSimulationConfig
from engine.instruments import DEFAULT_GRID_RULES
from engine.instruments.nb import grid_bounds_nb, grid_tier_nb, strike_grid_nb
from engine.instruments.strikes import grid_kernel_args
from engine.market import load_run_market
from engine.prepare import driver, prepared_times, score_instants
from engine.prepare.nb import GRID_SLOTS, cached_grid_nb, grid_steps_nb

grid_point = st.tuples(
    st.floats(2_000.0, 150_000.0),  # spot
    st.floats(0.0, 1.2),  # t_years
    st.booleans(),  # monthly
    st.floats(0.1, 2.5),  # sigma
)


@settings(max_examples=40)
@given(
    underlying=st.sampled_from(sorted(DEFAULT_GRID_RULES)),
    points=st.lists(grid_point, min_size=1, max_size=60),
    repeat=st.lists(st.integers(0, 59), max_size=30),
    width=st.sampled_from([4, 256]),
)
def test_kept_grids_and_steps_equal_the_grid_rule(underlying, points, repeat, width):
    """Grids met again come from their slot, new ones are merged (into a wider table when one
    does not fit): every grid equals strike_grid_nb's, to the bit, and so do the band steps the
    kernel keeps per tier between times."""
    args = grid_kernel_args(DEFAULT_GRID_RULES[underlying])
    tier_max, tier_step, monthly_min, band_sd, band_factor, t_floor, mantissas = args
    n_bands = band_sd.size
    work = np.empty(5 * n_bands, np.int64)
    tier_at = np.full(tier_step.size, -1, np.int64)
    tier_inner = np.full((tier_step.size, 2), -1, np.int64)
    tier_steps = np.empty((tier_step.size, n_bands), np.int64)
    keys = np.zeros((GRID_SLOTS, 3 * n_bands + 1), np.int64)
    sizes = np.zeros(GRID_SLOTS, np.int64)
    grids = np.empty((GRID_SLOTS, width))
    sequence = points + [points[i % len(points)] for i in repeat]
    for i, (spot, t, monthly, sigma) in enumerate(sequence):
        tier = grid_tier_nb(t, monthly, tier_max, monthly_min)
        unit_e = grid_steps_nb(work, i, spot, tier, tier_step, band_factor, mantissas, tier_at,
                               tier_inner, tier_steps)  # fmt: skip
        total = grid_bounds_nb(work, spot, t, sigma, unit_e, band_sd, t_floor)
        grids, slot = cached_grid_nb(work, n_bands, unit_e, total, keys, sizes, grids)
        want = strike_grid_nb(spot, t, monthly, sigma, *args)
        assert np.array_equal(grids[slot, : sizes[slot]], want)


@pytest.mark.parametrize(("threads", "chunk"), [(1, 2048), (2, 2048), (2, 97), (3, 500)])
def test_scores_do_not_depend_on_threads_or_chunks(synthetic_data_dir, monkeypatch, threads, chunk):
    """Chunks of any size on any number of threads give the rows of one pass over every time."""
    cfg = CallSimulationConfig(underlying="ETH", start="2021-05-01", end="2021-06-10",
                               decision_interval_hours=4)  # fmt: skip
    market = load_run_market(DeribitDataSource(synthetic_data_dir, "synthetic"), cfg)
    idx = prepared_times(market, cfg)
    monkeypatch.setattr(driver, "PREPARE_THREADS", 1)
    monkeypatch.setattr(driver, "CHUNK", len(idx))
    want = score_instants(market, cfg, idx)
    monkeypatch.setattr(driver, "PREPARE_THREADS", threads)
    monkeypatch.setattr(driver, "CHUNK", chunk)
    done = []
    got = score_instants(market, cfg, idx, progress=lambda d, n: done.append(d))
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(got, want, strict=True))
    assert done == sorted(done) and done[-1] == len(idx) and want[2].sum() > 0

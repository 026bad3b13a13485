import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cache.ivindex import variance_at
from engine.calibration.chains import read_chain_file
from engine.config import VolSurfaceParams
from engine.pricing.black76 import option_price
from engine.volsurface import candidate_iv, forward_price, quote_calls, surface_args
from engine.volsurface.fit import SurfaceData, fit_params, surface_errors
from engine.volsurface.nb import surface_iv_nb
from tests.reference.volsurface import quote_call_ref, surface_iv_ref


def test_defaults_are_the_fit_to_the_real_snapshots(snapshots_dir):
    frames = [read_chain_file(p) for p in sorted(snapshots_dir.glob("*.parquet"))]
    data = SurfaceData.from_frames(frames)
    params = fit_params(data.atm, data.smile)
    assert params == VolSurfaceParams(), "re-fit and update VolSurfaceParams defaults + docs"
    err = surface_errors(params, data.atm, data.smile)
    assert err["surface"].size == data.smile.height > 50_000
    assert np.sqrt(np.mean(err["surface"] ** 2)) < 4.0
    assert np.median(np.abs(err["surface"])) < 2.0
    # the expiry's own ATM IV leaves only the smile's error: smaller than the whole surface's
    assert np.median(np.abs(err["smile"])) < np.median(np.abs(err["surface"]))
    assert np.median(np.abs(err["basis"])) < 0.02  # per year


def _expiries(rows: list[tuple[str, float, float]]) -> pl.DataFrame:
    t0 = datetime(2025, 12, 10, tzinfo=UTC)
    return pl.DataFrame(
        [("BTC", t0 + timedelta(minutes=m), t, v) for m, t, v in rows],
        schema=["underlying", "harvest_time", "t", "var"],
        orient="row",
    )


def test_variance_at_interpolates_total_variance_between_the_bracketing_expiries():
    d = 1 / 365
    table = _expiries(
        [(0, 7 * d, 0.9), (0, 20 * d, 0.25), (0, 40 * d, 0.16), (0, 90 * d, 0.5),  # bracketed
         (5, 30 * d, 0.36), (5, 60 * d, 0.1),  # an expiry at exactly 30 days
         (9, 10 * d, 0.2), (9, 20 * d, 0.2)]  # nothing beyond 30 days: left out
    )  # fmt: skip
    out = variance_at(table, "var").sort("harvest_time")
    assert out.height == 2
    total = (0.25 * 20 * (40 - 30) + 0.16 * 40 * (30 - 20)) / (40 - 20)
    assert out["var_at"][0] == pytest.approx(total / 30)
    assert out["t_near"][0] == pytest.approx(20 * d) and out["t_next"][0] == pytest.approx(40 * d)
    assert out["var_at"][1] == pytest.approx(0.36)


@settings(max_examples=300)
@given(
    iv=st.floats(0.05, 3.0),
    k=st.floats(-2.0, 2.0),
    t=st.floats(1e-4, 2.0),
    beta=st.floats(-0.3, 0.3),
    skew=st.floats(-0.5, 0.5),
    curv=st.floats(0.0, 0.5),
    ratio=st.floats(0.5, 1.5),
)
def test_kernel_equals_reference(iv, k, t, beta, skew, curv, ratio):
    args = (ratio, beta, skew, curv, 0.5, 3.0, 1 / 365)
    assert surface_iv_nb(iv, k, t, *args) == pytest.approx(
        surface_iv_ref(iv, k, t, *args), rel=1e-12
    )


def test_atm_30d_equals_index_and_smile_shape():
    p = VolSurfaceParams(atm_over_index=1.0)
    assert candidate_iv(60.0, 100.0, 100.0, 30 / 365, p) == pytest.approx(60.0)
    # a DVOL-style index sits above the 30-day ATM IV: the calibrated ratio brings it down
    lower = VolSurfaceParams(atm_over_index=0.9)
    assert candidate_iv(60.0, 100.0, 100.0, 30 / 365, lower) == pytest.approx(54.0)
    with pytest.raises(ValueError, match="atm_over_index is unresolved"):
        candidate_iv(60.0, 100.0, 100.0, 30 / 365, VolSurfaceParams())
    # negative skew: OTM calls a little under ATM near the money, wings rise again
    near = candidate_iv(60.0, 105.0, 100.0, 30 / 365, p)
    wing = candidate_iv(60.0, 200.0, 100.0, 30 / 365, p)
    assert near < 60.0 < wing
    ratio = candidate_iv(60.0, 1e6, 100.0, 30 / 365, p) / 60.0
    assert ratio == pytest.approx(p.max_ratio)
    with pytest.raises(ValueError, match="positive"):
        candidate_iv(60.0, -1.0, 100.0, 0.1, p)


def test_forward_carries_basis():
    p = VolSurfaceParams(basis_annual=0.05, atm_over_index=1.0)
    assert forward_price(100.0, 0.5, p) == pytest.approx(100 * math.exp(0.025))
    assert surface_args(p)[-1] == pytest.approx(1 / 365)


@settings(max_examples=200)
@given(
    quotes=st.lists(
        st.tuples(
            st.one_of(st.floats(-10.0, 0.0), st.floats(50.0, 2e5)),  # forward: some not positive
            st.floats(1.0, 4e5),
            st.one_of(st.floats(-0.01, 0.0), st.floats(1e-4, 1.5)),  # years: some expired
            st.one_of(st.just(0.0), st.floats(5.0, 300.0)),  # index in percent: some zero
        ),
        min_size=1,
        max_size=8,
    ),
    skew=st.floats(-0.5, 0.5),
)
def test_quote_calls_equals_the_reference_per_call(quotes, skew):
    p = VolSurfaceParams(atm_over_index=0.9, skew=skew)
    iv, mark, delta = quote_calls(*np.array(quotes).T, p)
    for i, (f, k, t, index) in enumerate(quotes):
        want_iv, want_usd, want_delta = quote_call_ref(f, k, t, index / 100.0, surface_args(p))
        if math.isnan(want_iv):
            assert np.isnan([iv[i], mark[i], delta[i]]).all()
            continue
        assert iv[i] == pytest.approx(100.0 * want_iv, rel=1e-12)
        assert mark[i] * f == pytest.approx(want_usd, rel=1e-9, abs=1e-9 * f)
        assert delta[i] == pytest.approx(want_delta, abs=1e-9)


def test_quote_calls_broadcasts_and_prices_at_the_surface_iv():
    p = VolSurfaceParams(atm_over_index=0.9)
    iv, mark, delta = quote_calls(100.0, [90.0, 100.0, 110.0], 30 / 365, 60.0, p)
    assert iv.shape == mark.shape == delta.shape == (3,)
    assert iv[1] == pytest.approx(candidate_iv(60.0, 100.0, 100.0, 30 / 365, p))
    want = option_price(100.0, [90.0, 100.0, 110.0], 30 / 365, iv / 100.0, True)
    assert mark == pytest.approx(want, rel=1e-12)
    assert list(np.diff(delta) < 0) == [True, True]

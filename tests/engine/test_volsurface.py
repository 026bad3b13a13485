import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import VolSurfaceParams
from engine.volsurface import candidate_iv, forward_price, surface_args
from engine.volsurface.fit import fit_surface
from engine.volsurface.nb import surface_iv_nb
from tests.reference.volsurface import surface_iv_ref


def test_defaults_are_the_fit_to_the_real_snapshots(snapshots_dir):
    frames = [pl.read_parquet(p) for p in sorted(snapshots_dir.glob("*.parquet"))]
    report = fit_surface(frames)
    defaults = VolSurfaceParams()
    assert report.params == defaults, "re-fit and update VolSurfaceParams defaults + docs"
    assert report.rows > 50_000
    assert report.rmse_vol_pts < 4.0
    assert report.median_abs_err_vol_pts < 2.0


@settings(max_examples=300)
@given(
    iv=st.floats(0.05, 3.0),
    k=st.floats(-2.0, 2.0),
    t=st.floats(1e-4, 2.0),
    beta=st.floats(-0.3, 0.3),
    skew=st.floats(-0.5, 0.5),
    curv=st.floats(0.0, 0.5),
)
def test_kernel_equals_reference(iv, k, t, beta, skew, curv):
    args = (beta, skew, curv, 0.5, 3.0, 1 / 365)
    assert surface_iv_nb(iv, k, t, *args) == pytest.approx(
        surface_iv_ref(iv, k, t, *args), rel=1e-12
    )


def test_atm_30d_equals_index_and_smile_shape():
    p = VolSurfaceParams()
    assert candidate_iv(60.0, 100.0, 100.0, 30 / 365, p) == pytest.approx(60.0)
    # negative skew: OTM calls a little under ATM near the money, wings rise again
    near = candidate_iv(60.0, 105.0, 100.0, 30 / 365, p)
    wing = candidate_iv(60.0, 200.0, 100.0, 30 / 365, p)
    assert near < 60.0 < wing
    ratio = candidate_iv(60.0, 1e6, 100.0, 30 / 365, p) / 60.0
    assert ratio == pytest.approx(p.max_ratio)
    with pytest.raises(ValueError, match="positive"):
        candidate_iv(60.0, -1.0, 100.0, 0.1, p)


def test_forward_carries_basis():
    p = VolSurfaceParams(basis_annual=0.05)
    assert forward_price(100.0, 0.5, p) == pytest.approx(100 * math.exp(0.025))
    assert surface_args(p)[-1] == pytest.approx(1 / 365)

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import ScoringParams
from engine.scoring import CandidateFeatures, score_candidate, score_candidates, scoring_args
from engine.scoring.nb import (
    combine_score_nb,
    delta_fit_nb,
    dte_fit_nb,
    richness_fit_nb,
    score_nb,
    yield_fit_nb,
)
from tests.reference.scoring import score_ref

feature = st.fixed_dictionaries(
    {
        "premium_yield_annual": st.floats(0, 5),
        "iv_rv_ratio": st.one_of(st.just(math.nan), st.floats(0, 5)),
        "delta": st.floats(0.01, 0.99),
        "dte": st.floats(0.01, 400),
        "regime": st.sampled_from([-1, 0, 1]),
        "target_delta": st.floats(0.05, 0.6),
        "target_dte": st.floats(1, 60),
    }
)


@settings(max_examples=300)
@given(f=feature)
def test_scalar_equals_reference_and_is_bounded(f):
    p = ScoringParams()
    s = score_candidate(CandidateFeatures(**f), p)
    order = (
        "premium_yield_annual",
        "iv_rv_ratio",
        "delta",
        "dte",
        "regime",
        "target_delta",
        "target_dte",
    )
    ref = score_ref(*(f[k] for k in order), *scoring_args(p))
    assert s == pytest.approx(ref, rel=1e-12, abs=1e-12)
    assert 0.0 <= s <= 10.0


@settings(max_examples=50)
@given(rows=st.lists(feature, min_size=0, max_size=30), target=st.floats(0.1, 0.4))
def test_batch_equals_scalar(rows, target):
    names = ("premium_yield_annual", "iv_rv_ratio", "delta", "dte", "regime")
    cols = {k: np.array([r[k] for r in rows], dtype=float) for k in names}
    batch = score_candidates(
        cols["premium_yield_annual"],
        cols["iv_rv_ratio"],
        cols["delta"],
        cols["dte"],
        cols["regime"].astype(int),
        target,
        7.0,
    )
    one = [
        score_candidate(CandidateFeatures(**{**r, "target_delta": target, "target_dte": 7.0}))
        for r in rows
    ]
    assert batch.tolist() == one  # identical, not approximately


def test_components_behave_as_documented():
    base = dict(
        premium_yield_annual=0.6,
        iv_rv_ratio=1.4,
        delta=0.25,
        dte=7.0,
        regime=0,
        target_delta=0.25,
        target_dte=7.0,
    )
    assert score_candidate(CandidateFeatures(**base)) == pytest.approx(10.0)
    assert score_candidate(CandidateFeatures(**{**base, "regime": 1})) == pytest.approx(8.5)
    assert score_candidate(CandidateFeatures(**{**base, "regime": -1})) == pytest.approx(9.5)
    half_yield = score_candidate(CandidateFeatures(**{**base, "premium_yield_annual": 0.3}))
    assert half_yield == pytest.approx(8.5)
    unknown_rv = score_candidate(CandidateFeatures(**{**base, "iv_rv_ratio": math.nan}))
    assert unknown_rv == pytest.approx(10.0 - 1.25)
    off_delta = score_candidate(CandidateFeatures(**{**base, "delta": 0.35}))
    assert off_delta == pytest.approx(10 - 2.5 * (1 - math.exp(-0.5)))


def test_bad_batch_shapes_are_refused():
    with pytest.raises(ValueError, match="equal length"):
        score_candidates(np.ones(3), np.ones(2), np.ones(3), np.ones(3), np.zeros(3), 0.2, 7)


weights = st.floats(0, 5)


@settings(max_examples=300)
@given(f=feature, w=st.tuples(weights, weights, weights, weights, st.floats(0, 3), st.floats(0, 3)))
def test_parts_make_the_score_and_bound_it_from_above(f, w):
    """The score is its parts combined (bit for bit), and setting the yield part to its maximum
    never lowers it: the prepare phase skips pricing a candidate whose bound cannot rank."""
    p = ScoringParams(w_yield=w[0], w_richness=w[1], w_delta=w[2], w_dte=w[3], bull_penalty=w[4],
                      bear_penalty=w[5])  # fmt: skip
    args = scoring_args(p)
    score = score_nb(f["premium_yield_annual"], f["iv_rv_ratio"], f["delta"], f["dte"],
                     f["regime"], f["target_delta"], f["target_dte"], *args)  # fmt: skip
    parts = (
        richness_fit_nb(f["iv_rv_ratio"]),
        delta_fit_nb(f["delta"], f["target_delta"], p.delta_width),
        dte_fit_nb(f["dte"], f["target_dte"], p.dte_log_width),
    )
    rest = (f["regime"], p.w_yield, p.w_richness, p.w_delta, p.w_dte, p.bull_penalty,
            p.bear_penalty)  # fmt: skip
    s_yield = yield_fit_nb(f["premium_yield_annual"], p.yield_ref_annual)
    assert combine_score_nb(s_yield, *parts, *rest) == score
    assert combine_score_nb(1.0, *parts, *rest) >= score

"""Overfitting statistics of a sweep: PSR, expected max Sharpe, DSR and PBO by CSCV."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.sweep import stats
from engine.sweep.stats import (
    SharpeStats,
    deflated_sharpe_ratio,
    deflated_sharpe_ratio_from_stats,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe_ratio,
    sharpe_ratio_stats,
)
from tests.reference.sweep import pbo_cscv_ref


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# --- Sharpe statistics and PSR -------------------------------------------------------------


def test_sharpe_stats_hand_computed():
    r = [0.02, -0.01, 0.03, 0.0, -0.02, 0.05]
    n = len(r)
    mean = sum(r) / n
    m = [sum((x - mean) ** k for x in r) / n for k in (2, 3, 4)]
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1))
    stats = sharpe_ratio_stats(np.array(r))
    assert n == stats.T
    assert stats.sr == pytest.approx(mean / sd)
    assert stats.skew == pytest.approx(m[1] / m[0] ** 1.5)
    assert stats.kurtosis == pytest.approx(m[2] / m[0] ** 2)


def test_sharpe_stats_normal_sample_has_normal_moments():
    r = np.random.default_rng(3).normal(0.001, 0.02, 200_000)
    stats = sharpe_ratio_stats(r)
    assert stats.skew == pytest.approx(0.0, abs=0.02)
    assert stats.kurtosis == pytest.approx(3.0, abs=0.05)  # non-excess


@pytest.mark.parametrize("r", [[], [0.01], [0.01, 0.01, 0.01]])
def test_sharpe_stats_too_little_data_is_nan(r):
    stats = sharpe_ratio_stats(np.array(r, dtype=float))
    assert math.isnan(stats.sr) and math.isnan(stats.skew) and math.isnan(stats.kurtosis)


@pytest.mark.parametrize(
    ("r", "message"),
    [(np.zeros((3, 2)), "1-D"), (np.array([0.1, math.nan]), r"returns\[1\] is nan")],
)
def test_sharpe_stats_malformed_input_is_named(r, message):
    with pytest.raises(ValueError, match=message):
        sharpe_ratio_stats(r)


def test_psr_under_normal_returns_is_the_classical_z_test():
    """Skew 0, kurtosis 3: PSR = Φ((SR − SR*)·√(T−1)/√(1 + SR²/2)) (Lo 2002's standard error)."""
    sr, bench, T = 0.08, 0.02, 500
    expected = _phi((sr - bench) * math.sqrt(T - 1) / math.sqrt(1 + sr**2 / 2))
    assert probabilistic_sharpe_ratio(sr, bench, T, 0.0, 3.0) == pytest.approx(expected, abs=1e-12)
    assert probabilistic_sharpe_ratio(sr, sr, T, -2.0, 9.0) == pytest.approx(0.5)


def test_psr_penalises_negative_skew_and_fat_tails():
    """A covered call's returns are skewed left: the same Sharpe is less convincing."""
    normal = probabilistic_sharpe_ratio(0.1, 0.0, 250, 0.0, 3.0)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 250, -2.0, 3.0) < normal
    assert probabilistic_sharpe_ratio(0.1, 0.0, 250, 0.0, 12.0) < normal
    assert probabilistic_sharpe_ratio(0.1, 0.0, 1000, 0.0, 3.0) > normal  # longer record


def test_psr_is_calibrated_for_left_skewed_returns():
    """With true Sharpe SR*, PSR(SR*) is about uniform: it passes 0.95 in about 5 % of samples.

    Returns like a covered call's (skew −2, kurtosis 9: a capped upside, a long left tail). The
    skewness and kurtosis terms are what keep it calibrated: under a normal assumption the same
    samples pass 0.95 half again as often."""
    sr_true, T = 0.1, 1000
    rng = np.random.default_rng(7)
    samples = sr_true + 1.0 - rng.exponential(1.0, (4000, T))  # mean SR*, sd 1
    psr, normal_psr = [], []
    for row in samples:
        s = sharpe_ratio_stats(row)
        psr.append(probabilistic_sharpe_ratio(s.sr, sr_true, T, s.skew, s.kurtosis))
        normal_psr.append(probabilistic_sharpe_ratio(s.sr, sr_true, T, 0.0, 3.0))
    psr, normal_psr = np.array(psr), np.array(normal_psr)
    assert 0.04 < np.mean(psr > 0.95) < 0.062
    assert 0.04 < np.mean(psr < 0.05) < 0.062
    assert np.mean(normal_psr > 0.95) > 0.068


@pytest.mark.parametrize("T", [0, 1])
def test_psr_too_short_is_nan(T):
    assert math.isnan(probabilistic_sharpe_ratio(0.1, 0.0, T, 0.0, 3.0))
    assert math.isnan(probabilistic_sharpe_ratio(math.nan, 0.0, 100, 0.0, 3.0))


# --- expected maximum Sharpe and DSR ---------------------------------------------------------


@pytest.mark.parametrize(("n_trials", "rel"), [(10, 0.03), (100, 0.015), (1000, 0.01)])
def test_expected_max_sharpe_matches_simulated_maxima(n_trials, rel):
    """The False Strategy approximation against the simulated mean of the max of N normals.

    The approximation is asymptotic: about 2.5 % high at N = 10, under 1 % from N = 100."""
    variance = 0.04
    draws = np.random.default_rng(11).normal(0.0, math.sqrt(variance), (20_000, n_trials))
    simulated = draws.max(axis=1).mean()
    assert expected_max_sharpe(n_trials, variance) == pytest.approx(simulated, rel=rel)


def test_expected_max_sharpe_edges():
    assert math.isnan(expected_max_sharpe(1, 0.1))
    assert math.isnan(expected_max_sharpe(10, -0.1))
    assert math.isnan(expected_max_sharpe(10, math.nan))
    assert expected_max_sharpe(10, 0.0) == 0.0
    assert expected_max_sharpe(1000, 0.1) > expected_max_sharpe(10, 0.1)


def test_dsr_worked_example_of_the_paper():
    """Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", JPM 40(5), section "A numerical
    example": N = 100 trials, V[SR_n] = 1/2 (annualised), best annualised SR 2.5, T = 1250 daily
    returns, skewness −3, kurtosis 10, 250 trading days a year. They publish SR0 = 0.1132 (per
    day) and DSR = 0.9004."""
    days = 250
    best = SharpeStats(sr=2.5 / math.sqrt(days), skew=-3.0, kurtosis=10.0, T=1250)
    result = deflated_sharpe_ratio_from_stats(best, 100, 0.5 / days, periods_per_year=days)
    assert result.sr0 == pytest.approx(0.1132, abs=5e-5)
    assert result.dsr == pytest.approx(0.9004, abs=5e-5)
    assert result.sr_best_annual == pytest.approx(2.5)
    assert result.sr0_annual == pytest.approx(0.1132 * math.sqrt(days), abs=1e-3)
    assert result.n_trials == 100 and result.T == 1250
    assert result.explanation.startswith("DSR 90%") and "100 configurations" in result.explanation


def test_dsr_from_returns_uses_their_moments_and_the_trials_variance():
    rng = np.random.default_rng(5)
    returns = rng.normal(0.002, 0.02, 730)
    trials = rng.normal(0.0, 0.05, 40)
    result = deflated_sharpe_ratio(returns, trials)
    stats = sharpe_ratio_stats(returns)
    sr0 = expected_max_sharpe(40, float(np.var(trials, ddof=1)))
    assert result.sr0 == pytest.approx(sr0)
    assert result.dsr == pytest.approx(
        probabilistic_sharpe_ratio(stats.sr, sr0, 730, stats.skew, stats.kurtosis)
    )
    assert result.sr_best_annual == pytest.approx(stats.sr * math.sqrt(365))
    annual = deflated_sharpe_ratio(returns, trials * math.sqrt(365), sharpes_annualised=True)
    assert annual.dsr == pytest.approx(result.dsr)
    assert annual.sr0 == pytest.approx(result.sr0)


def test_dsr_falls_as_more_trials_are_run():
    rng = np.random.default_rng(9)
    returns = rng.normal(0.003, 0.02, 730)
    few = deflated_sharpe_ratio(returns, rng.normal(0.0, 0.04, 5))
    many = deflated_sharpe_ratio(returns, rng.normal(0.0, 0.04, 500))
    assert many.sr0 > few.sr0
    assert many.dsr < few.dsr


def test_dsr_leaves_out_trials_without_a_sharpe():
    returns = np.random.default_rng(2).normal(0.001, 0.02, 100)
    trials = np.array([0.01, math.nan, 0.03, math.inf, 0.02])
    result = deflated_sharpe_ratio(returns, trials)
    assert result.n_trials == 3
    assert result.var_trial_sharpes == pytest.approx(np.var([0.01, 0.03, 0.02], ddof=1))


@pytest.mark.parametrize(
    ("returns", "trials", "why"),
    [
        ([0.01], [0.1, 0.2], "1 return"),
        ([0.01, 0.01, 0.01], [0.1, 0.2], "do not vary"),
        ([0.01, -0.02, 0.03], [0.1], "1 trial"),
    ],
)
def test_dsr_too_little_data_is_nan_with_a_reason(returns, trials, why):
    result = deflated_sharpe_ratio(np.array(returns), np.array(trials))
    assert math.isnan(result.dsr)
    assert result.to_json()["dsr"] is None
    assert result.explanation.startswith("Deflated Sharpe ratio not available")
    assert why in result.explanation


def test_dsr_malformed_input_is_named():
    with pytest.raises(ValueError, match="trial_sharpes must be a 1-D"):
        deflated_sharpe_ratio(np.zeros(10), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="best_returns must be a 1-D"):
        deflated_sharpe_ratio(np.zeros((10, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"best_returns\[2\] is inf"):
        deflated_sharpe_ratio(np.array([0.1, 0.2, math.inf]), np.zeros(3))


# --- PBO by CSCV ---------------------------------------------------------------------------------


def _assert_same_as_reference(M: np.ndarray, S: int, metric: str = "sharpe") -> None:
    got = pbo_cscv(M, S, metric=metric)
    ref = pbo_cscv_ref(M, S, metric)
    assert got.pbo == ref["pbo"]
    np.testing.assert_allclose(got.logits, ref["logits"], rtol=1e-12)
    np.testing.assert_allclose(got.is_performance, ref["is_performance"], rtol=1e-9)
    np.testing.assert_allclose(got.oos_performance, ref["oos_performance"], rtol=1e-9)
    assert got.prob_oos_loss == ref["prob_oos_loss"]


@settings(max_examples=60)
@given(
    seed=st.integers(0, 2**32 - 1),
    S=st.sampled_from([2, 4, 6, 8]),
    rows_per_block=st.integers(1, 12),
    extra_rows=st.integers(0, 7),
    N=st.integers(2, 9),
    metric=st.sampled_from(["sharpe", "mean"]),
)
def test_pbo_equals_the_slow_reference(seed, S, rows_per_block, extra_rows, N, metric):
    if rows_per_block * S // 2 < 2:
        rows_per_block = 2
    rng = np.random.default_rng(seed)
    T = rows_per_block * S + extra_rows % S
    M = rng.normal(rng.normal(0, 0.002, N), rng.uniform(0.005, 0.03, N), (T, N))
    _assert_same_as_reference(M, S, metric)


def test_pbo_in_chunks_equals_the_reference(monkeypatch):
    """Large sweeps are cut into chunks of combinations; chunk edges must not change a thing."""
    monkeypatch.setattr(stats, "_CELLS_PER_CHUNK", 23)  # 5 columns: chunks of 4 of 70 combinations
    M = np.random.default_rng(12).normal(0.0, 0.01, (83, 5))
    _assert_same_as_reference(M, 8)


def test_pbo_equals_the_reference_with_flat_and_identical_columns():
    rng = np.random.default_rng(4)
    M = rng.normal(0.0, 0.01, (64, 6))
    M[:, 1] = 0.0  # a configuration that never trades
    M[:, 2] = 0.001  # constant positive return: Sharpe +inf everywhere
    M[:, 4] = M[:, 3]  # two configurations with the same returns
    _assert_same_as_reference(M, 8)


def test_pbo_of_pure_noise_is_near_one_half():
    """Columns without skill: the in-sample winner's out-of-sample rank is uniform."""
    pbos = [pbo_cscv(np.random.default_rng(s).normal(0, 0.01, (480, 40)), 8).pbo for s in range(8)]
    assert 0.35 < np.mean(pbos) < 0.65
    noise = pbo_cscv(np.random.default_rng(0).normal(0, 0.01, (480, 40)), 8)
    assert noise.degradation_slope < 0  # complementary halves: lucky in sample, unlucky out


def test_pbo_of_a_truly_dominant_column_is_near_zero():
    rng = np.random.default_rng(1)
    M = rng.normal(0.0, 0.01, (960, 50))
    M[:, 17] += 0.004  # a real edge of 0.4 standard deviations a day
    result = pbo_cscv(M)
    assert result.n_combinations == 12870  # C(16, 8)
    assert result.pbo < 0.01
    assert result.prob_oos_loss < 0.01
    assert result.explanation.startswith("PBO 0%")


def test_pbo_does_not_depend_on_column_order():
    rng = np.random.default_rng(8)
    M = rng.normal(0.0005, 0.01, (400, 30))
    perm = rng.permutation(30)
    a, b = pbo_cscv(M, 10), pbo_cscv(M[:, perm], 10)
    assert a.pbo == b.pbo
    np.testing.assert_array_equal(a.logits, b.logits)


def test_pbo_drops_the_earliest_rows_when_blocks_do_not_divide():
    rng = np.random.default_rng(6)
    M = rng.normal(0.0, 0.01, (103, 5))
    result = pbo_cscv(M, 8)
    assert (result.rows_used, result.rows_dropped) == (96, 7)
    trimmed = pbo_cscv(M[7:], 8)
    np.testing.assert_array_equal(result.logits, trimmed.logits)
    assert "earliest 7 periods were dropped" in result.explanation


@pytest.mark.parametrize(
    ("shape", "S", "why"),
    [((100, 1), 16, "1 configuration"), ((3, 5), 4, "at least 2 are needed")],
)
def test_pbo_too_little_data_is_nan(shape, S, why):
    result = pbo_cscv(np.random.default_rng(0).normal(size=shape), S)
    assert math.isnan(result.pbo) and result.n_combinations == 0
    assert result.to_json()["pbo"] is None
    assert why in result.explanation


@pytest.mark.parametrize(
    ("M", "S", "message"),
    [
        (np.zeros(10), 2, "2-D array"),
        (np.zeros((10, 3, 2)), 2, "2-D array"),
        (np.zeros((16, 3)), 5, "even integer"),
        (np.zeros((16, 3)), 0, "even integer"),
        (np.array([[0.1, 0.2], [math.nan, 0.1]] * 4), 2, r"returns\[1, 0\] is nan"),
    ],
)
def test_pbo_malformed_input_is_named(M, S, message):
    with pytest.raises(ValueError, match=message):
        pbo_cscv(M, S)


def test_pbo_unknown_metric_is_named():
    with pytest.raises(ValueError, match="metric must be"):
        pbo_cscv(np.zeros((16, 3)), 4, metric="sortino")  # type: ignore[arg-type]


def test_results_serialise_to_strict_json():
    rng = np.random.default_rng(3)
    M = rng.normal(0.0, 0.01, (200, 6))
    dsr = deflated_sharpe_ratio(M[:, 0], M.mean(axis=0) / M.std(axis=0, ddof=1))
    pbo = pbo_cscv(M, 8)
    for result in (dsr, pbo):
        text = json.dumps(result.to_json(), allow_nan=False)
        assert json.loads(text)["explanation"] == result.explanation
    assert json.loads(json.dumps(pbo.to_json()))["pbo"] == pbo.pbo
    assert "logits" not in pbo.to_json()

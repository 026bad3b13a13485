"""Overfitting statistics for a sweep: how likely is it that the winning configuration is a fluke?

Two complementary answers, both from the sweep's own numbers:

- the **deflated Sharpe ratio** (Bailey & López de Prado 2014): the probabilistic Sharpe ratio
  (Bailey & López de Prado 2012) of the best configuration, measured against the Sharpe ratio the
  best of ``N`` skill-less trials would show by luck alone (the False Strategy theorem);
- the **probability of backtest overfitting** (Bailey, Borwein, López de Prado & Zhu 2015), by
  combinatorially symmetric cross-validation (CSCV): how often the configuration that is best on
  one half of the history ranks at or below the median on the other half.

Sharpe ratios here are *per period* (not annualised) unless a name ends in ``_annual``; the
annualised figures use ``periods_per_year`` (365 for daily crypto returns). Skewness and kurtosis
are the population (biased) moments, kurtosis non-excess (3 for a normal distribution), as in the
papers; the Sharpe ratio uses the sample standard deviation (``ddof=1``), like
:func:`engine.metrics.sharpe_ratio`. Too little data gives NaN, never an exception; malformed
input (wrong shape, non-finite returns) is a ``ValueError`` that names what is wrong.
"""

import dataclasses
import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from engine.metrics import PERIODS_PER_YEAR

EULER_GAMMA = 0.5772156649015329
_STD_NORMAL = NormalDist()
# Combinations per vectorised chunk of the CSCV: bounds the C x N work arrays (~8 MB each).
_CELLS_PER_CHUNK = 1_000_000

PboMetric = Literal["sharpe", "mean"]


@dataclass(frozen=True)
class SharpeStats:
    """Per-period Sharpe ratio of a return series and the moments its standard error needs."""

    sr: float
    skew: float
    kurtosis: float
    T: int


@dataclass(frozen=True)
class DeflatedSharpe:
    """Deflated Sharpe ratio of a sweep's best configuration (see :func:`deflated_sharpe_ratio`).

    ``dsr`` is a probability in [0, 1]; ``sr0`` is the deflated benchmark, the Sharpe ratio the
    best of ``n_trials`` skill-less configurations would reach by luck. Per-period and annualised
    (``periods_per_year``) Sharpe ratios are both given.
    """

    dsr: float
    sr_best: float
    sr_best_annual: float
    sr0: float
    sr0_annual: float
    n_trials: int
    var_trial_sharpes: float
    T: int
    skew: float
    kurtosis: float
    periods_per_year: int
    explanation: str

    def to_json(self) -> dict[str, float | int | str | None]:
        """Every field, NaN as ``None`` (JSON has no NaN): what a sweep's summary stores."""
        return {k: _json_number(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True, eq=False)
class PboResult:
    """Probability of backtest overfitting by CSCV (see :func:`pbo_cscv`).

    Per combination ``c`` of in-sample blocks (arrays of length ``n_combinations``): ``logits``
    is λ_c, the logit of the out-of-sample relative rank of the in-sample best configuration;
    ``is_performance`` and ``oos_performance`` are that configuration's metric in and out of
    sample (the performance-degradation pairs). ``degradation_slope`` is the least-squares slope
    of out-of-sample on in-sample performance (negative: what looks best in sample tends to do
    worse out of sample). ``rows_dropped`` earliest rows were left out so the blocks are equal.
    """

    pbo: float
    logits: np.ndarray
    n_combinations: int
    n_partitions: int
    n_configs: int
    is_performance: np.ndarray
    oos_performance: np.ndarray
    prob_oos_loss: float
    degradation_slope: float
    metric: str
    rows_used: int
    rows_dropped: int
    explanation: str

    def to_json(self) -> dict[str, float | int | str | None]:
        """The scalar fields, NaN as ``None``; the per-combination arrays are left out."""
        return {
            f.name: _json_number(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if not isinstance(getattr(self, f.name), np.ndarray)
        }


def _json_number(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else value


def _returns_1d(returns: np.ndarray, name: str) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of per-period returns; got shape {r.shape}")
    bad = np.flatnonzero(~np.isfinite(r))
    if len(bad):
        raise ValueError(f"{name}[{bad[0]}] is {r[bad[0]]}: returns must be finite numbers")
    return r


def sharpe_ratio_stats(returns: np.ndarray) -> SharpeStats:
    """Return the per-period Sharpe ratio (risk-free 0), skewness, kurtosis and length ``T``.

    NaN statistics when there are fewer than 2 returns or they do not vary.
    """
    r = _returns_1d(returns, "returns")
    T = len(r)
    if T < 2 or r.min() == r.max():
        return SharpeStats(math.nan, math.nan, math.nan, T)
    mean = float(r.mean())
    dev = r - mean
    m2 = float(np.mean(dev**2))
    sd = math.sqrt(m2 * T / (T - 1))
    skew = float(np.mean(dev**3)) / m2**1.5
    kurtosis = float(np.mean(dev**4)) / m2**2
    return SharpeStats(mean / sd, skew, kurtosis, T)


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, T: int, skew: float, kurt: float
) -> float:
    """Probability that the true Sharpe ratio exceeds ``sr_benchmark`` (Bailey & López de Prado).

    ``PSR = Φ((SR − SR*)·√(T−1) / √(1 − γ3·SR + (γ4−1)/4·SR²))`` with per-period ``sr`` and
    ``sr_benchmark``, ``T`` returns, skewness γ3 and non-excess kurtosis γ4. NaN when ``T < 2`` or
    an input is not finite.
    """
    if T < 2 or not all(math.isfinite(x) for x in (sr, sr_benchmark, skew, kurt)):
        return math.nan
    variance_term = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    if variance_term <= 0:  # only a two-point distribution reaches 0 (γ4 ≥ γ3² + 1)
        return math.nan
    z = (sr - sr_benchmark) * math.sqrt(T - 1) / math.sqrt(variance_term)
    return _STD_NORMAL.cdf(z)


def expected_max_sharpe(n_trials: int, var_of_trial_sharpes: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` skill-less trials (the False Strategy theorem).

    ``E[max] ≈ √V·((1−γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))`` with γ the Euler–Mascheroni constant
    and ``V`` the variance of the trials' Sharpe ratios (same periodicity as the result). NaN when
    ``n_trials < 2`` or ``V`` is negative or not finite; 0 when ``V`` is 0.
    """
    if n_trials < 2 or not math.isfinite(var_of_trial_sharpes) or var_of_trial_sharpes < 0:
        return math.nan
    quantiles = (1.0 - EULER_GAMMA) * _STD_NORMAL.inv_cdf(
        1.0 - 1.0 / n_trials
    ) + EULER_GAMMA * _STD_NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(var_of_trial_sharpes) * quantiles


def deflated_sharpe_ratio_from_stats(
    best: SharpeStats,
    n_trials: int,
    var_trial_sharpes: float,
    *,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> DeflatedSharpe:
    """Deflated Sharpe ratio from the best configuration's statistics and the trials' dispersion.

    ``DSR = PSR(SR0)`` with ``SR0 = expected_max_sharpe(n_trials, var_trial_sharpes)``; all Sharpe
    ratios per period. NaN (with an explanation saying why) when ``T < 2``, the returns do not vary
    or there are fewer than 2 trials.
    """
    root = math.sqrt(periods_per_year)
    sr0 = expected_max_sharpe(n_trials, var_trial_sharpes)
    dsr = probabilistic_sharpe_ratio(best.sr, sr0, best.T, best.skew, best.kurtosis)
    if best.T < 2:
        why = f"the best configuration has {best.T} return(s); at least 2 are needed"
    elif not math.isfinite(best.sr):
        why = "the best configuration's returns do not vary, so it has no Sharpe ratio"
    elif not math.isfinite(sr0):
        why = f"{n_trials} trial(s) with a Sharpe ratio; at least 2 are needed"
    elif not math.isfinite(dsr):
        why = "the best configuration's skewness and kurtosis leave no Sharpe ratio error"
    else:
        why = ""
    if why:
        explanation = f"Deflated Sharpe ratio not available: {why}."
    else:
        explanation = (
            f"DSR {dsr:.0%}: the chance that the best of {n_trials} configurations has real "
            f"skill; its annualised Sharpe {best.sr * root:.2f} is tested against "
            f"{sr0 * root:.2f}, what the best of {n_trials} skill-less tries would show by luck "
            f"({best.T} returns, skew {best.skew:.2f}, kurtosis {best.kurtosis:.2f})."
        )
    return DeflatedSharpe(
        dsr=dsr,
        sr_best=best.sr,
        sr_best_annual=best.sr * root,
        sr0=sr0,
        sr0_annual=sr0 * root,
        n_trials=n_trials,
        var_trial_sharpes=var_trial_sharpes,
        T=best.T,
        skew=best.skew,
        kurtosis=best.kurtosis,
        periods_per_year=periods_per_year,
        explanation=explanation,
    )


def deflated_sharpe_ratio(
    best_returns: np.ndarray,
    trial_sharpes: np.ndarray,
    *,
    sharpes_annualised: bool = False,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> DeflatedSharpe:
    """Deflated Sharpe ratio of the best configuration of a sweep (Bailey & López de Prado 2014).

    Parameters
    ----------
    best_returns
        Per-period returns (e.g. daily) of the configuration the sweep picked.
    trial_sharpes
        Sharpe ratio of every configuration tried, the best one included, per period of the same
        length as ``best_returns`` — or annualised with ``periods_per_year`` when
        ``sharpes_annualised`` (as in a run's ``summary.json``). Non-finite values (a
        configuration whose returns did not vary) are left out of the count and the variance.
    periods_per_year
        Periods in a year of ``best_returns``: 365 for daily crypto returns.

    Returns
    -------
    DeflatedSharpe
        ``dsr`` is the probability that the best configuration's true Sharpe ratio is above
        ``sr0``, the expected best Sharpe ratio of ``n_trials`` trials without skill, given the
        returns' length, skewness and kurtosis; NaN when the data are too thin.
    """
    trials = np.asarray(trial_sharpes, dtype=np.float64)
    if trials.ndim != 1:
        raise ValueError(f"trial_sharpes must be a 1-D array; got shape {trials.shape}")
    if periods_per_year < 1:
        raise ValueError(f"periods_per_year must be at least 1; got {periods_per_year}")
    best = sharpe_ratio_stats(_returns_1d(best_returns, "best_returns"))
    trials = trials[np.isfinite(trials)]
    if sharpes_annualised:
        trials = trials / math.sqrt(periods_per_year)
    variance = float(np.var(trials, ddof=1)) if len(trials) >= 2 else math.nan
    return deflated_sharpe_ratio_from_stats(
        best, len(trials), variance, periods_per_year=periods_per_year
    )


def _block_metric(
    sum_x: np.ndarray, sum_x2: np.ndarray, n: int, shift: np.ndarray, metric: PboMetric
) -> np.ndarray:
    """Metric of each configuration over ``n`` rows from sums of shifted returns ``x = r − shift``.

    The shift (each column's first return) keeps the variance free of cancellation and makes a
    constant column exactly constant (all ``x`` are 0). A Sharpe ratio without dispersion is
    ±inf by the sign of the mean (0 for a zero mean), so such a column still ranks by its return.
    """
    mean_x = sum_x / n
    mean = mean_x + shift
    if metric == "mean":
        return mean
    var = np.maximum(sum_x2 - sum_x * mean_x, 0.0) / (n - 1)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = mean / sd
    flat = sd == 0
    if not flat.any():
        return sharpe
    signed_inf = np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
    return np.where(flat, signed_inf, sharpe)


def _pbo_unavailable(
    why: str, S: int, N: int, metric: str, rows_used: int, rows_dropped: int
) -> PboResult:
    empty = np.empty(0)
    return PboResult(
        pbo=math.nan,
        logits=empty,
        n_combinations=0,
        n_partitions=S,
        n_configs=N,
        is_performance=empty,
        oos_performance=empty,
        prob_oos_loss=math.nan,
        degradation_slope=math.nan,
        metric=metric,
        rows_used=rows_used,
        rows_dropped=rows_dropped,
        explanation=f"Probability of backtest overfitting not available: {why}.",
    )


def _pbo_explanation(pbo: float, n_low: int, C: int, S: int, rows: int, loss: float, dropped: int):
    verdict = (
        "the winner looks no better than a random pick"
        if pbo >= 0.5
        else "the winner's edge mostly holds out of sample"
        if pbo < 0.2
        else "treat the winner with caution"
    )
    note = f" (the earliest {dropped} periods were dropped to make equal blocks)" if dropped else ""
    return (
        f"PBO {pbo:.0%}: in {n_low} of {C} splits of {rows} periods into {S} blocks{note}, the "
        f"configuration best on one half ranked at or below the median on the other half, and "
        f"lost money there {loss:.0%} of the time; {verdict}."
    )


def pbo_cscv(
    returns: np.ndarray, n_partitions: int = 16, *, metric: PboMetric = "sharpe"
) -> PboResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    Bailey, Borwein, López de Prado & Zhu (2015): split the ``T`` rows of ``returns`` (``T``
    periods × ``N`` configurations) into ``S = n_partitions`` equal blocks in time order; for each
    of the ``C(S, S/2)`` ways to pick half the blocks as in-sample (the rest out-of-sample), take
    the configuration with the best in-sample ``metric``, find its relative rank ``ω`` among all
    configurations out-of-sample (rank/(N+1), ties at their average rank) and its logit
    ``λ = ln(ω/(1−ω))``. PBO is the share of combinations with ``λ ≤ 0``: the in-sample winner did
    no better than the median out of sample.

    ``T`` not divisible by ``S``: the earliest ``T mod S`` rows are dropped (``rows_dropped``).
    In-sample ties go to the lowest column, so the result does not depend on column order unless
    two different columns tie exactly in sample. NaN result when ``N < 2`` or a half holds fewer
    than 2 rows; ``ValueError`` on a matrix that is not 2-D, has non-finite values, or an odd or
    too small ``n_partitions``.
    """
    M = np.asarray(returns, dtype=np.float64)
    if M.ndim != 2:
        raise ValueError(
            f"returns must be a 2-D array (T periods x N configurations); got shape {M.shape}"
        )
    if metric not in ("sharpe", "mean"):
        raise ValueError(f"metric must be 'sharpe' or 'mean'; got {metric!r}")
    if not isinstance(n_partitions, int | np.integer) or n_partitions < 2 or n_partitions % 2:
        raise ValueError(f"n_partitions must be an even integer of at least 2; got {n_partitions}")
    S = int(n_partitions)
    bad = np.argwhere(~np.isfinite(M))
    if len(bad):
        row, col = bad[0]
        raise ValueError(f"returns[{row}, {col}] is {M[row, col]}: returns must be finite numbers")
    T, N = M.shape
    block = T // S
    dropped = T - block * S
    if N < 2:
        return _pbo_unavailable(
            f"{N} configuration(s); at least 2 are needed", S, N, metric, T - dropped, dropped
        )
    n_half = block * S // 2
    if n_half < 2:
        why = f"{T} periods give halves of {n_half} row(s) with {S} blocks; at least 2 are needed"
        return _pbo_unavailable(why, S, N, metric, T - dropped, dropped)

    M = M[dropped:]
    shift = M[0]
    X = (M - shift).reshape(S, block, N)
    sums = X.sum(axis=1)
    sums_sq = (X * X).sum(axis=1)
    in_sample = np.zeros((math.comb(S, S // 2), S))
    for c, blocks in enumerate(itertools.combinations(range(S), S // 2)):
        in_sample[c, list(blocks)] = 1.0
    C = len(in_sample)

    logits = np.empty(C)
    is_perf = np.empty(C)
    oos_perf = np.empty(C)
    chunk = max(1, _CELLS_PER_CHUNK // N)
    for lo in range(0, C, chunk):
        ind = in_sample[lo : lo + chunk]
        out = 1.0 - ind
        perf_is = _block_metric(ind @ sums, ind @ sums_sq, n_half, shift, metric)
        perf_oos = _block_metric(out @ sums, out @ sums_sq, n_half, shift, metric)
        rows = np.arange(len(ind))
        best = np.argmax(perf_is, axis=1)
        chosen = perf_oos[rows, best][:, None]
        rank = (perf_oos < chosen).sum(axis=1) + ((perf_oos == chosen).sum(axis=1) + 1) / 2.0
        omega = rank / (N + 1)
        logits[lo : lo + len(ind)] = np.log(omega / (1.0 - omega))
        is_perf[lo : lo + len(ind)] = perf_is[rows, best]
        oos_perf[lo : lo + len(ind)] = chosen[:, 0]

    n_low = int(np.count_nonzero(logits <= 0))
    pbo = n_low / C
    prob_loss = float(np.mean(oos_perf < 0))
    slope = math.nan
    if np.all(np.isfinite(is_perf)) and np.all(np.isfinite(oos_perf)) and np.ptp(is_perf) > 0:
        slope = float(np.polyfit(is_perf, oos_perf, 1)[0])
    return PboResult(
        pbo=pbo,
        logits=logits,
        n_combinations=C,
        n_partitions=S,
        n_configs=N,
        is_performance=is_perf,
        oos_performance=oos_perf,
        prob_oos_loss=prob_loss,
        degradation_slope=slope,
        metric=metric,
        rows_used=T - dropped,
        rows_dropped=dropped,
        explanation=_pbo_explanation(pbo, n_low, C, S, T - dropped, prob_loss, dropped),
    )

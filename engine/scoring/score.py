"""The candidate score: one scorer for the live agent and the backtester.

A covered-call candidate scores in [0, 10], the weighted sum of four components in [0, 1] minus a
regime penalty (weights and scales in :class:`engine.config.ScoringParams`; defaults in brackets):

- **premium yield** [3.0]: the premium as a share of the coin covered, annualised
  (``premium_coin / T``), over ``yield_ref_annual`` [60 %], capped at 1;
- **richness** [2.5]: candidate IV over 30-day realized vol, 0 at 0.8 and below, 1 at 1.4 and above,
  linear between: selling is better when options are dear; 0.5 while realized vol is unknown;
- **delta fit** [2.5]: ``exp(-½ ((delta − target_delta) / delta_width)²)`` with the Black-76
  (USD, forward) call delta, ``delta_width`` [0.10];
- **DTE fit** [2.0]: ``exp(-½ (ln(dte / target_dte) / dte_log_width)²)``, ``dte_log_width`` [0.7];
- **regime penalty**: minus ``bull_penalty`` [1.5] in a bull regime (a call caps the upside a trend
  would pay), minus ``bear_penalty`` [0.5] in a bear regime, none sideways.
"""

from dataclasses import dataclass

import numpy as np

from engine.config import ScoringParams
from engine.scoring.nb import score_batch_nb, score_nb


@dataclass(frozen=True)
class CandidateFeatures:
    """What the score reads of a candidate and its market."""

    premium_yield_annual: float  # premium_coin / T (fraction per year)
    iv_rv_ratio: float  # candidate IV / 30-day realized vol; NaN if unknown
    delta: float  # Black-76 call delta (USD, forward)
    dte: float  # days to expiry
    regime: int  # +1 bull, 0 sideways, -1 bear
    target_delta: float
    target_dte: float


def scoring_args(p: ScoringParams) -> tuple[float, ...]:
    """The weight/scale tuple the kernels take after the features."""
    return (
        p.w_yield,
        p.w_richness,
        p.w_delta,
        p.w_dte,
        p.yield_ref_annual,
        p.delta_width,
        p.dte_log_width,
        p.bull_penalty,
        p.bear_penalty,
    )


def score_candidate(features: CandidateFeatures, params: ScoringParams | None = None) -> float:
    """Score one candidate in [0, 10] (the seed's ``score_candidate``)."""
    f = features
    return float(
        score_nb(
            f.premium_yield_annual,
            f.iv_rv_ratio,
            f.delta,
            f.dte,
            f.regime,
            f.target_delta,
            f.target_dte,
            *scoring_args(params or ScoringParams()),
        )
    )


def score_candidates(
    premium_yield_annual: np.ndarray,
    iv_rv_ratio: np.ndarray,
    delta: np.ndarray,
    dte: np.ndarray,
    regime: np.ndarray,
    target_delta: float,
    target_dte: float,
    params: ScoringParams | None = None,
) -> np.ndarray:
    """Score arrays of candidates at once; equals :func:`score_candidate` element by element."""
    arrays = [
        np.ascontiguousarray(a, dtype=np.float64)
        for a in (premium_yield_annual, iv_rv_ratio, delta, dte)
    ]
    n = arrays[0].shape[0]
    if any(a.shape != (n,) for a in arrays) or np.shape(regime) != (n,):
        raise ValueError("score_candidates needs 1-D feature arrays of equal length")
    return score_batch_nb(
        *arrays,
        np.ascontiguousarray(regime, dtype=np.int64),
        float(target_delta),
        float(target_dte),
        *scoring_args(params or ScoringParams()),
    )

"""The candidate score: one scorer for the live agent and the backtester.

:mod:`engine.scoring.score` documents the components and scores candidates one at a time or in
arrays; :mod:`engine.scoring.nb` holds the kernels.
"""

from engine.scoring.score import CandidateFeatures, score_candidate, score_candidates, scoring_args

__all__ = ["CandidateFeatures", "score_candidate", "score_candidates", "scoring_args"]

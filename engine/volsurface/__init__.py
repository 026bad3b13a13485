"""Candidate implied vol: the 30-day IV index shaped by a term structure and a smile.

:mod:`engine.volsurface.surface` states the model; :mod:`engine.volsurface.nb` holds the kernels
(a strike's IV, a call quoted on the surface, the delta window, the model mark);
:mod:`engine.volsurface.fit` fits the default parameters to real snapshots (via the calibration,
:mod:`engine.calibration`).
"""

from engine.volsurface.surface import candidate_iv, forward_price, quote_calls, surface_args

__all__ = ["candidate_iv", "forward_price", "quote_calls", "surface_args"]

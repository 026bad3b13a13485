"""Slow, obvious twins of the numba kernels and vectorized helpers, one module per package twinned.

Each kernel's docstring names its twin here, and tests (hypothesis, mostly) check that they agree.
The twins are plain Python on purpose: they favour plainness over speed or numerical finesse, so an
agreement is evidence that the kernels are right, not that both share a bug.
"""

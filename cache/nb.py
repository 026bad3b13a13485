"""Numba kernels of the cache package: the recursions of the synthetic market.

Every kernel takes arrays and scalars only, draws no random numbers (callers pass the draws in) and
has a slow, obvious twin in ``tests/reference/synthetic.py`` that a hypothesis test compares it to.
"""

import numpy as np

from cache.kernel_cache import njit


@njit(cache=True, nogil=True)
def ar1_filter_nb(innovations: np.ndarray, phi: float, x0: float) -> np.ndarray:
    """Run the linear recursion ``x[t] = phi * x[t-1] + innovations[t]`` with ``x[-1] = x0``.

    Reference twin: ``tests.reference.synthetic.ar1_filter_ref``.

    Parameters
    ----------
    innovations : np.ndarray
        1-D float64 array, the input added at each step.
    phi : float
        Persistence per step (``exp(-kappa * dt)`` for an Ornstein–Uhlenbeck process).
    x0 : float
        The state before the first step.

    Returns
    -------
    np.ndarray
        1-D float64 array of the states after each step, same length as ``innovations``.
    """
    out = np.empty(innovations.shape[0], dtype=np.float64)
    x = x0
    for t in range(innovations.shape[0]):
        x = phi * x + innovations[t]
        out[t] = x
    return out


@njit(cache=True, nogil=True)
def markov_chain_nb(uniforms: np.ndarray, cum_transition: np.ndarray, state0: int) -> np.ndarray:
    """Walk a finite Markov chain driven by the given uniform draws.

    Step ``t`` leaves state ``s`` for the first state ``j`` with
    ``uniforms[t] < cum_transition[s, j]`` (the last state when rounding leaves none).

    Reference twin: ``tests.reference.synthetic.markov_chain_ref``.

    Parameters
    ----------
    uniforms : np.ndarray
        1-D float64 array of draws in [0, 1), one per step.
    cum_transition : np.ndarray
        2-D float64 array, row-wise cumulative sums of the transition matrix.
    state0 : int
        The state before the first step.

    Returns
    -------
    np.ndarray
        1-D int64 array of the state after each step.
    """
    n_states = cum_transition.shape[1]
    out = np.empty(uniforms.shape[0], dtype=np.int64)
    s = state0
    for t in range(uniforms.shape[0]):
        u = uniforms[t]
        nxt = n_states - 1
        for j in range(n_states):
            if u < cum_transition[s, j]:
                nxt = j
                break
        s = nxt
        out[t] = s
    return out

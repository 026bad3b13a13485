"""Slow, obvious twins of the synthetic market's numba kernels (``cache/nb.py``).

Plain Python on purpose: lists and one loop step per draw.
"""


def ar1_filter_ref(innovations: list[float], phi: float, x0: float) -> list[float]:
    """Return the states of ``x[t] = phi * x[t-1] + innovations[t]`` from ``x[-1] = x0``."""
    states = []
    x = x0
    for e in innovations:
        x = phi * x + e
        states.append(x)
    return states


def markov_chain_ref(
    uniforms: list[float], transition: list[list[float]], state0: int
) -> list[int]:
    """Walk a Markov chain: leave ``s`` for the first ``j`` whose cumulative probability exceeds u.

    Takes the plain transition matrix (not its cumulative sums) and falls back to the last state
    when rounding leaves the row's total at or below ``u``.
    """
    states = []
    s = state0
    for u in uniforms:
        total = 0.0
        nxt = len(transition[s]) - 1
        for j, prob in enumerate(transition[s]):
            total += prob
            if u < total:
                nxt = j
                break
        s = nxt
        states.append(s)
    return states

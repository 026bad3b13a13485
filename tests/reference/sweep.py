"""Slow, obvious twin of the sweep's PBO (engine.sweep.stats.pbo_cscv) (the tests compare them).

Plain Python on purpose: one loop over the combinations, the in-sample and out-of-sample rows cut
out and each column's metric computed from them directly, where the engine works from block sums
with matrix products.
"""

import itertools
import math

import numpy as np


def _metric_ref(rows: np.ndarray, metric: str) -> list[float]:
    values = []
    for col in rows.T:
        mean = float(np.mean(col))
        if metric == "mean":
            values.append(mean)
            continue
        if col.min() == col.max():  # no dispersion: rank by the sign of the mean
            values.append(math.copysign(math.inf, mean) if mean != 0 else 0.0)
        else:
            values.append(mean / float(np.std(col, ddof=1)))
    return values


def pbo_cscv_ref(returns: np.ndarray, n_partitions: int, metric: str = "sharpe") -> dict:
    """Twin of ``engine.sweep.stats.pbo_cscv``: PBO, logits, IS and OOS performance."""
    T, N = returns.shape
    S = n_partitions
    block = T // S
    rows = returns[T - block * S :]
    blocks = [rows[i * block : (i + 1) * block] for i in range(S)]
    logits, is_perf, oos_perf = [], [], []
    for chosen in itertools.combinations(range(S), S // 2):
        train = np.concatenate([blocks[i] for i in range(S) if i in chosen])
        test = np.concatenate([blocks[i] for i in range(S) if i not in chosen])
        perf_train = _metric_ref(train, metric)
        perf_test = _metric_ref(test, metric)
        best = perf_train.index(max(perf_train))  # first of equals
        below = sum(1 for v in perf_test if v < perf_test[best])
        equal = sum(1 for v in perf_test if v == perf_test[best])
        omega = (below + (equal + 1) / 2) / (N + 1)
        logits.append(math.log(omega / (1 - omega)))
        is_perf.append(perf_train[best])
        oos_perf.append(perf_test[best])
    return {
        "pbo": sum(1 for lam in logits if lam <= 0) / len(logits),
        "logits": np.array(logits),
        "is_performance": np.array(is_perf),
        "oos_performance": np.array(oos_perf),
        "prob_oos_loss": sum(1 for v in oos_perf if v < 0) / len(oos_perf),
    }

"""Benchmark: the sweep's overfitting statistics (PBO by CSCV, DSR) at the size of a real sweep.

Run with ``.venv/bin/python -m bench.sweep_stats [--configs 480] [--days 1461]``. The matrix is
SYNTHETIC: ``--days`` daily returns (1461 = 2020-01-01..2024-01-01) of ``--configs``
configurations, drawn from a seeded normal distribution. Timings are CPU time of this process
(``time.process_time``), the minimum of ``--repeat`` runs, so other work on the machine does not
inflate them. Printed:

- ``pbo_cscv`` with 16 partitions (12 870 combinations): seconds and peak memory of NumPy's
  allocations (tracemalloc); the target is well under a few seconds.
- the speed-up of ``pbo_cscv`` over its slow twin ``tests.reference.sweep.pbo_cscv_ref``, both
  with 8 partitions (70 combinations, so the twin finishes), measured in the same run.
- ``deflated_sharpe_ratio`` of the best configuration given all of them.
"""

import argparse
import time
import tracemalloc

import numpy as np

from engine.sweep.stats import deflated_sharpe_ratio, pbo_cscv
from tests.reference.sweep import pbo_cscv_ref


def _cpu_seconds(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=480)
    parser.add_argument("--days", type=int, default=1461)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(2020)
    returns = rng.normal(rng.normal(0.0, 0.0005, args.configs), 0.03, (args.days, args.configs))
    print(f"SYNTHETIC returns: {args.days} days x {args.configs} configurations (seeded normal)")

    full = _cpu_seconds(lambda: pbo_cscv(returns, 16), args.repeat)
    tracemalloc.start()
    result = pbo_cscv(returns, 16)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(
        f"pbo_cscv, 16 partitions ({result.n_combinations} combinations): {full:.3f} s CPU, "
        f"peak {peak_mb:.0f} MB; PBO {result.pbo:.3f}"
    )

    small = _cpu_seconds(lambda: pbo_cscv(returns, 8), args.repeat)
    slow = _cpu_seconds(lambda: pbo_cscv_ref(returns, 8), 1)
    print(
        f"pbo_cscv, 8 partitions (70 combinations): {small:.4f} s CPU; slow twin {slow:.2f} s; "
        f"speed-up {slow / small:.0f}x"
    )

    sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
    best = int(np.argmax(sharpes))
    dsr_s = _cpu_seconds(lambda: deflated_sharpe_ratio(returns[:, best], sharpes), args.repeat)
    dsr = deflated_sharpe_ratio(returns[:, best], sharpes)
    print(f"deflated_sharpe_ratio: {dsr_s * 1e3:.2f} ms CPU; {dsr.explanation}")


if __name__ == "__main__":
    main()

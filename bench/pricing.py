"""Benchmark: Black-76 price + delta per second, numba kernel vs plain NumPy, in one run.

Run ``.venv/bin/python -m bench.pricing`` (or ``make bench``); ``--n`` sets the number of options.

Baselines, both single-threaded like the kernel (NumPy ufuncs run on one core):

- ``numpy (A&S erfc)``: the same one-pass formula fully vectorised in NumPy. NumPy has no erfc, so
  it uses Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): cheaper than a full-precision erfc, so
  this baseline is, if anything, flattered.
- ``numpy (math.erfc)``: the same formula with the exact ``math.erfc`` applied per element through
  ``np.frompyfunc``, i.e. what full precision costs without a compiled kernel.
"""

import argparse
import math
import time
from collections.abc import Callable

import numpy as np

from engine.pricing import IVStatus
from engine.pricing.nb import (
    IV_OK,
    greeks_array_nb,
    implied_vol_array_nb,
    price_delta_array_nb,
)

# Abramowitz & Stegun 7.1.26 coefficients for erfc(x), x >= 0.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erfc_as(x: np.ndarray) -> np.ndarray:
    """Return erfc(x) by A&S 7.1.26, vectorised (absolute error below 1.5e-7)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + _AS_P * z)
    a1, a2, a3, a4, a5 = _AS_A
    tail = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5)))) * np.exp(-z * z)
    return np.where(x >= 0.0, tail, 2.0 - tail)


_erfc_exact = np.frompyfunc(math.erfc, 1, 1)


def erfc_math(x: np.ndarray) -> np.ndarray:
    """Return erfc(x) with ``math.erfc`` per element (exact, but a Python call per element)."""
    return _erfc_exact(x).astype(np.float64)


def numpy_price_delta(
    F: np.ndarray,
    K: np.ndarray,
    T: np.ndarray,
    sigma: np.ndarray,
    is_call: np.ndarray,
    erfc: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Return (price_usd, delta_usd) with the kernel's formula in plain NumPy (T, sigma > 0)."""
    w = np.where(is_call, 1.0, -1.0)
    sd = sigma * np.sqrt(T)
    d1 = np.log(F / K) / sd + 0.5 * sd
    n1 = 0.5 * erfc(-w * d1 / math.sqrt(2.0))
    n2 = 0.5 * erfc(-w * (d1 - sd) / math.sqrt(2.0))
    return w * (F * n1 - K * n2), w * n1


def random_options(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Return n random BTC-like options: forward, strike, years, sigma, is_call."""
    rng = np.random.default_rng(seed)
    F = rng.uniform(20_000.0, 120_000.0, n)
    K = F * np.exp(rng.normal(0.0, 0.3, n))
    T = rng.uniform(1.0 / (365 * 24), 1.5, n)
    sigma = rng.uniform(0.2, 1.5, n)
    return F, K, T, sigma, rng.random(n) < 0.5


def best_seconds(run: Callable[[], object], repeat: int) -> float:
    """Return the fastest wall time of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    """Time price + delta for ``--n`` random options and print options/s and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="options per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per fast path (best counts)")
    parser.add_argument("--iv-n", type=int, default=1_000_000, help="prices to invert to vols")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    options = random_options(args.n, args.seed)
    price_delta_array_nb(*(a[:10] for a in options))  # compile, or load the numba cache

    numba_s = best_seconds(lambda: price_delta_array_nb(*options), args.repeat)
    as_s = best_seconds(lambda: numpy_price_delta(*options, erfc_as), args.repeat)
    exact_s = best_seconds(lambda: numpy_price_delta(*options, erfc_math), 1)

    price_nb, delta_nb = price_delta_array_nb(*options)
    price_as, delta_as = numpy_price_delta(*options, erfc_as)
    price_exact, delta_exact = numpy_price_delta(*options, erfc_math)

    rate = args.n / numba_s
    print(f"Black-76 price + delta, {args.n:,} random options, single thread")
    print(
        f"{'path':<22}{'seconds':>9}{'options/s':>14}{'numba speed-up':>16}{'max |Δprice| USD':>19}"
    )
    rows = [
        ("numba kernel", numba_s, 0.0),
        ("numpy (A&S erfc)", as_s, np.max(np.abs(price_as - price_nb))),
        ("numpy (math.erfc)", exact_s, np.max(np.abs(price_exact - price_nb))),
    ]
    for name, seconds, diff in rows:
        print(
            f"{name:<22}{seconds:>9.3f}{args.n / seconds:>14,.0f}"
            f"{seconds / numba_s:>15.1f}x{diff:>19.3g}"
        )
    print(
        f"max |Δdelta| vs numba: A&S {np.max(np.abs(delta_as - delta_nb)):.3g}, "
        f"math.erfc {np.max(np.abs(delta_exact - delta_nb)):.3g}"
    )
    print(f"numba: {rate / 1e6:.1f} M options/s (target >= 15 M/s)")

    F, K, T, sigma, is_call = (a[: args.iv_n] for a in options)
    iv_args = (price_nb[: args.iv_n], F, K, T, is_call, False)
    implied_vol_array_nb(*(a[:10] for a in iv_args[:-1]), False)
    iv_s = best_seconds(lambda: implied_vol_array_nb(*iv_args), args.repeat)
    solved, status = implied_vol_array_nb(*iv_args)
    ok = status == IV_OK
    # Where vega (per unit sigma) is below 1e-6 F, double precision cannot pin sigma down.
    well_posed = ok & (greeks_array_nb(F, K, T, sigma, is_call)[3] * 100 > 1e-6 * F)
    codes, counts = np.unique(status, return_counts=True)
    tally = ", ".join(f"{IVStatus(c).name} {n:,}" for c, n in zip(codes, counts, strict=True))
    max_err = np.max(np.abs(solved - sigma)[well_posed])
    print(f"implied vol (numba), {args.iv_n:,} prices: {args.iv_n / iv_s / 1e6:.2f} M prices/s")
    print(f"  statuses: {tally}; max |sigma - true| where vega > 1e-6 F: {max_err:.2g}")


if __name__ == "__main__":
    main()

"""Warm the cache: fill a source for some underlyings and a time range, then report coverage."""

from collections.abc import Callable, Iterable
from datetime import datetime

from cache.store import SourceMeta, Store, UnderlyingCoverage, check_underlying
from cache.synthetic import DEFAULT_END, DEFAULT_SEED, ORIGIN, SOURCE, generate_synthetic_market

SYNTHETIC_LABEL = "SYNTHETIC market (generated, seed {seed}) - not real Deribit data"

Progress = Callable[[str], None]


def covers(cov: UnderlyingCoverage | None, start: datetime, end: datetime) -> bool:
    """Whether candles and IV both cover ``[start, end)``."""
    if cov is None:
        return False
    series = (cov.candles, cov.iv)
    return all(s.start is not None and s.start <= start and s.end >= end for s in series)


def warm_synthetic(
    store: Store,
    underlyings: Iterable[str] = ("BTC", "ETH"),
    start: datetime = ORIGIN,
    end: datetime = DEFAULT_END,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> SourceMeta:
    """Generate the synthetic market into source ``synthetic``; covered ranges are skipped."""
    coins = tuple(dict.fromkeys(check_underlying(u) for u in underlyings))
    meta = store.ensure_source(
        SOURCE, "synthetic", label=SYNTHETIC_LABEL.format(seed=seed), details={"seed": seed}
    )
    if meta.details.get("seed") != seed:
        raise ValueError(
            f"the synthetic source holds seed {meta.details.get('seed')}, not {seed}; "
            "use another --data-dir to keep both"
        )
    todo = tuple(c for c in coins if not covers(meta.coverage.get(c), start, end))
    if not todo:
        return meta
    if progress:
        progress(f"generating synthetic {', '.join(todo)} {start:%Y-%m-%d}..{end:%Y-%m-%d}")
    market = generate_synthetic_market(seed=seed, start=start, end=end, underlyings=todo)
    for coin, series in market.items():
        store.write_candles(SOURCE, coin, series.candles, timeframe="1h")
        store.write_iv(SOURCE, coin, series.iv)
        if progress:
            progress(f"wrote synthetic {coin}: {series.candles.height} hourly bars")
    return store.read_meta(SOURCE)

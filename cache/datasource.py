"""The data-source object the engine and the live agent read history through."""

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from cache.chain_snapshots import snapshots_from_chains
from cache.chains import ChainStore
from cache.files import reading
from cache.store import SeriesCoverage, SourceMeta, Store, UnderlyingCoverage, check_underlying
from cache.timeutil import TIMEFRAMES, as_utc

TimeLike = datetime | date | str


class DataNotCoveredError(ValueError):
    """The requested range is not in the cache; the message says what is there.

    ``fields`` names the request fields to change: ``source`` when the source holds nothing of
    the kind, else the side of the range that lies outside the data.
    """

    def __init__(self, message: str, fields: tuple[str, ...] = ("start", "end")) -> None:
        super().__init__(message)
        self.fields = fields


class DeribitDataSource:
    """Read one cached source: candles, IV index, settlement prices, chain snapshots.

    Ranges are half-open, ``[start, end)``, on bar open times. Reads use ``pl.scan_parquet`` with
    filters, so only the requested rows are loaded.
    """

    def __init__(self, data_dir: Path | str, source: str = "synthetic") -> None:
        self.store = Store(data_dir)
        self.source = source
        self.meta: SourceMeta = self.store.read_meta(source)

    @property
    def fingerprint(self) -> str:
        """Content fingerprint of the source: the cache key for everything derived from it."""
        return self.meta.fingerprint

    @property
    def is_synthetic(self) -> bool:
        """Whether the source is the generated market rather than recorded data."""
        return self.meta.is_synthetic

    def coverage(self, underlying: str) -> UnderlyingCoverage:
        """What the source holds for ``underlying``."""
        u = check_underlying(underlying)
        if u not in self.meta.coverage:
            raise DataNotCoveredError(f"source {self.source!r} holds no {u} data", ("source",))
        return self.meta.coverage[u]

    def base_timeframe(self, underlying: str) -> str:
        """The finest candle timeframe the source holds for ``underlying``."""
        tf = self.coverage(underlying).candles.timeframe
        if tf is None:
            raise DataNotCoveredError(
                f"source {self.source!r} holds no {underlying} candles", ("source",)
            )
        return tf

    def get_candles(
        self, underlying: str, start: TimeLike, end: TimeLike, timeframe: str = "1h"
    ) -> pl.DataFrame:
        """Candles with open time in ``[start, end)``; the whole range must be covered."""
        u = check_underlying(underlying)
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"timeframe {timeframe!r} is not one of {list(TIMEFRAMES)}")
        base = self.base_timeframe(u)
        if TIMEFRAMES[timeframe] < TIMEFRAMES[base]:
            raise ValueError(
                f"timeframe {timeframe} is finer than the {base} data of source {self.source!r}"
            )
        lo, hi = self._check_range(self.coverage(u).candles, start, end, f"{u} candles")
        return self._scan(self.store.candles_path(self.source, u, timeframe), "time", lo, hi)

    def get_iv_index(self, underlying: str, start: TimeLike, end: TimeLike) -> pl.DataFrame:
        """The implied-vol index (percent) with ``iv_is_real`` marking real DVOL prints."""
        u = check_underlying(underlying)
        lo, hi = self._check_range(self.coverage(u).iv, start, end, f"{u} IV index")
        return self._scan(self.store.iv_path(self.source, u), "time", lo, hi)

    def get_delivery_prices(self, underlying: str, start: TimeLike, end: TimeLike) -> pl.DataFrame:
        """Daily 08:00 UTC settlement prices in the range; may be empty."""
        u = check_underlying(underlying)
        lo, hi = as_utc(start, "start"), as_utc(end, "end")
        path = self.store.delivery_path(self.source, u)
        if not path.is_file():
            return pl.DataFrame(schema={"time": pl.Datetime("us", "UTC"), "delivery_price": float})
        return self._scan(path, "time", lo, hi)

    def get_chains(self, underlying: str, start: TimeLike, end: TimeLike) -> pl.DataFrame:
        """Chain-store rows (:data:`~cache.schema.CHAIN_STORE_SCHEMA`) in the range, maybe none."""
        return ChainStore(self.store).read(self.source, underlying, start, end)

    def get_chain_at(
        self, underlying: str, at: TimeLike, max_age: timedelta | None = None
    ) -> pl.DataFrame:
        """The latest snapshot at or before ``at`` (empty if none or older than ``max_age``)."""
        return ChainStore(self.store).latest(self.source, underlying, at, max_age)

    def get_chain_snapshots(self, underlying: str, start: TimeLike, end: TimeLike) -> pl.DataFrame:
        """The chains in the range as recorder snapshot rows (what the calibration reads)."""
        u = check_underlying(underlying)
        return snapshots_from_chains(self.get_chains(u, start, end), u)

    def _check_range(
        self, cov: SeriesCoverage, start: TimeLike, end: TimeLike, what: str
    ) -> tuple[datetime, datetime]:
        lo, hi = as_utc(start, "start"), as_utc(end, "end")
        if hi <= lo:
            raise ValueError(f"end ({hi.isoformat()}) must be after start ({lo.isoformat()})")
        if cov.start is None or cov.end is None:
            raise DataNotCoveredError(f"source {self.source!r} holds no {what}", ("source",))
        if lo < cov.start or hi > cov.end:
            raise DataNotCoveredError(
                f"{what} of source {self.source!r} cover {cov.start.isoformat()} to "
                f"{cov.end.isoformat()}; requested {lo.isoformat()} to {hi.isoformat()}"
            )
        return lo, hi

    @staticmethod
    def _scan(path: Path, column: str, lo: datetime, hi: datetime) -> pl.DataFrame:
        """The rows of ``path`` in ``[lo, hi)``; CorruptFileError naming it if it is unreadable."""
        with reading(path):
            return (
                pl.scan_parquet(path)
                .filter((pl.col(column) >= lo) & (pl.col(column) < hi))
                .sort(column)
                .collect()
            )

"""The Parquet store: one directory per source, atomic idempotent writes, metadata with coverage.

Layout under the data directory (documented in ``docs/data.md``)::

    sources/<source>/meta.json
    sources/<source>/candles/<UNDERLYING>_<timeframe>.parquet   1h base; 4h and 1d derived from it
    sources/<source>/iv/<UNDERLYING>.parquet
    sources/<source>/delivery/<UNDERLYING>.parquet
    sources/<source>/chains/<UNDERLYING>/<YYYY-MM-DD>.parquet   one per UTC day (cache.chains)
"""

import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, Field

from cache.files import reading
from cache.schema import (
    SCHEMA_VERSION,
    TIMEFRAMES,
    UNDERLYINGS,
    Gap,
    find_gaps,
    validate_candles,
    validate_delivery,
    validate_iv,
)

Origin = Literal["synthetic", "deribit-mainnet", "deribit-testnet", "import"]
SOURCE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class SeriesCoverage(BaseModel):
    """What one series of a source holds; ``end`` is exclusive (last bar open + its length)."""

    start: datetime | None = None
    end: datetime | None = None
    rows: int = 0
    timeframe: str | None = None
    gaps: list[Gap] = Field(default_factory=list)
    real_rows: int | None = None  # IV only: rows that are real Deribit DVOL prints


class UnderlyingCoverage(BaseModel):
    """Coverage of every kind of data for one underlying."""

    candles: SeriesCoverage = Field(default_factory=SeriesCoverage)
    iv: SeriesCoverage = Field(default_factory=SeriesCoverage)
    delivery: SeriesCoverage = Field(default_factory=SeriesCoverage)
    chain_snapshots: int = 0
    chain_rows: int = 0
    chain_start: datetime | None = None
    chain_end: datetime | None = None


CHAINS = "chains/"  # the folder of a source's option chains (cache.chains)


def files_fingerprint(files: dict[str, str]) -> str:
    """16 hex digits of the SHA-256 of the files' hashes (relative path -> SHA-256)."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


class SourceMeta(BaseModel):
    """The metadata file of a source; ``fingerprint`` is the downstream cache key."""

    name: str
    origin: Origin
    label: str
    schema_version: int = SCHEMA_VERSION
    created_at: datetime
    updated_at: datetime
    fingerprint: str = ""
    files: dict[str, str] = Field(default_factory=dict)  # relative path -> sha256 of its bytes
    coverage: dict[str, UnderlyingCoverage] = Field(default_factory=dict)
    details: dict[str, object] = Field(default_factory=dict)

    @property
    def is_synthetic(self) -> bool:
        """Whether the data is generated rather than recorded from a market."""
        return self.origin == "synthetic"

    @property
    def series_fingerprint(self) -> str:
        """The fingerprint of the source without its option chains: the cache key of results
        that do not read them (a model-chain backtest), so chains the live agent records every
        cycle do not change it. Equal to :attr:`fingerprint` for a source without chains."""
        return files_fingerprint({p: h for p, h in self.files.items() if not p.startswith(CHAINS)})

    def provenance(self) -> dict:
        """What a result read: the source's name, origin, label, synthetic flag, fingerprint."""
        return {
            "source": self.name,
            "origin": self.origin,
            "label": self.label,
            "synthetic": self.is_synthetic,
            "fingerprint": self.fingerprint,
        }


class SourceNotFoundError(LookupError):
    """The named source is not in the cache."""


def check_source_name(name: str) -> str:
    """Return ``name`` if it is a valid source name, else raise ValueError saying why."""
    if not SOURCE_NAME_RE.match(name):
        raise ValueError(
            f"source name {name!r} is invalid: use 1-40 lower-case letters, digits, '_' or '-'"
        )
    return name


def check_underlying(underlying: str) -> str:
    """Return the upper-cased underlying if supported, else raise ValueError."""
    u = underlying.upper()
    if u not in UNDERLYINGS:
        raise ValueError(f"underlying {underlying!r} is not supported; choose one of {UNDERLYINGS}")
    return u


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write via ``write(tmp)`` to a temp file beside ``path``, then ``os.replace`` it there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet_atomic(
    df: pl.DataFrame,
    path: Path,
    row_group_size: int | None = None,
    compression: str = "zstd",
) -> None:
    """Write ``df`` to ``path`` atomically (never a half-written file).

    ``zstd`` for the cache's market data (kept long, read often); results written on every run
    use ``lz4``, about 3x faster to write for a few percent more bytes.
    """
    atomic_write(
        path,
        lambda tmp: df.write_parquet(
            tmp, compression=compression, statistics=True, row_group_size=row_group_size
        ),
    )


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex (what ``meta.json`` ``files`` records)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def derive_timeframe(base: pl.DataFrame, timeframe: str) -> pl.DataFrame:
    """Aggregate candles to a coarser UTC-aligned ``timeframe``.

    Buckets are labelled by their open time. An incomplete first or last bucket is dropped, since
    a bar that is still forming (or started before the data) would misstate its open or close.
    """
    if base.height < 2:  # one bar cannot fill a coarser bucket (nor tell the base step)
        return base.clear()
    every = TIMEFRAMES[timeframe]
    agg = (
        base.sort("time")
        .group_by_dynamic("time", every=f"{int(every.total_seconds())}s", closed="left")
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            pl.col("time").max().alias("_last"),
            pl.col("time").min().alias("_first"),
        )
    )
    base_step = base.get_column("time").diff().slice(1).min()
    complete_first = pl.col("_first") == pl.col("time")
    complete_last = pl.col("_last") == pl.col("time") + every - base_step
    first_ok = agg.select(complete_first.first()).item()
    last_ok = agg.select(complete_last.last()).item()
    lo = 0 if first_ok else 1
    hi = agg.height if last_ok else agg.height - 1
    return agg.slice(lo, max(hi - lo, 0)).drop("_first", "_last")


def _series_coverage(df: pl.DataFrame, step: timedelta | None) -> SeriesCoverage:
    if df.is_empty():
        return SeriesCoverage()
    times = df.get_column("time")
    if step is None:
        step = times.diff().slice(1).mode().sort()[0] if len(times) > 1 else timedelta(hours=1)
    return SeriesCoverage(
        start=times[0],
        end=times[-1] + step,
        rows=df.height,
        gaps=find_gaps(times, step),
    )


class Store:
    """The data directory: read and write each kind of data of each source.

    Every write validates, merges with what is there (rows already stored win, so re-running a
    download only fills missing ranges), writes atomically and refreshes the source's metadata.
    """

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self._lock = threading.RLock()

    # -- paths ---------------------------------------------------------------------------------
    def source_dir(self, name: str) -> Path:
        """Directory of one source."""
        return self.data_dir / "sources" / check_source_name(name)

    def candles_path(self, name: str, underlying: str, timeframe: str) -> Path:
        """Parquet file of one candle series."""
        return self.source_dir(name) / "candles" / f"{underlying}_{timeframe}.parquet"

    def iv_path(self, name: str, underlying: str) -> Path:
        """Parquet file of one IV-index series."""
        return self.source_dir(name) / "iv" / f"{underlying}.parquet"

    def delivery_path(self, name: str, underlying: str) -> Path:
        """Parquet file of daily settlement prices."""
        return self.source_dir(name) / "delivery" / f"{underlying}.parquet"

    def chain_dir(self, name: str, underlying: str) -> Path:
        """Directory of the chains of one underlying (a file per UTC day, :mod:`cache.chains`)."""
        return self.source_dir(name) / CHAINS / underlying

    # -- metadata ------------------------------------------------------------------------------
    def has_source(self, name: str) -> bool:
        """Whether a source with this name exists."""
        return (self.source_dir(name) / "meta.json").is_file()

    def list_sources(self) -> list[SourceMeta]:
        """Every source in the data directory, by name."""
        root = self.data_dir / "sources"
        if not root.is_dir():
            return []
        return [self.read_meta(p.name) for p in sorted(root.iterdir()) if self.has_source(p.name)]

    def read_meta(self, name: str) -> SourceMeta:
        """Read the metadata of a source."""
        path = self.source_dir(name) / "meta.json"
        if not path.is_file():
            known = [p.name for p in (self.data_dir / "sources").glob("*") if p.is_dir()]
            raise SourceNotFoundError(f"data source {name!r} not found; known sources: {known}")
        return SourceMeta.model_validate_json(path.read_text())

    def ensure_source(
        self, name: str, origin: Origin, label: str, details: dict | None = None
    ) -> SourceMeta:
        """Create a source's metadata if absent; refuse to mix origins under one name."""
        with self._lock:
            if self.has_source(name):
                meta = self.read_meta(name)
                if meta.origin != origin:
                    raise ValueError(
                        f"source {name!r} already holds {meta.origin} data, not {origin}"
                    )
                return meta
            now = datetime.now(UTC)
            meta = SourceMeta(
                name=name,
                origin=origin,
                label=label,
                created_at=now,
                updated_at=now,
                details=details or {},
            )
            self._write_meta(meta)
            return meta

    def set_details(self, name: str, **details: object) -> SourceMeta:
        """Merge ``details`` (provenance such as seed or imported files) into the metadata."""
        with self._lock:
            meta = self.read_meta(name)
            meta.details.update(details)
            meta.updated_at = datetime.now(UTC)
            self._write_meta(meta)
            return meta

    def _write_meta(self, meta: SourceMeta) -> None:
        meta.fingerprint = files_fingerprint(meta.files)
        path = self.source_dir(meta.name) / "meta.json"
        text = meta.model_dump_json(indent=2)
        atomic_write(path, lambda tmp: tmp.write_text(text))

    def _record_file(self, meta: SourceMeta, path: Path) -> None:
        rel = path.relative_to(self.source_dir(meta.name)).as_posix()
        meta.files[rel] = file_sha256(path)

    def record_files(
        self,
        name: str,
        underlying: str,
        paths: list[Path],
        edit: Callable[[UnderlyingCoverage], None],
    ) -> SourceMeta:
        """Record files a writer outside this class put in place and ``edit`` their coverage.

        The files' hashes enter ``files`` (and so the fingerprint); call under :attr:`lock`.
        """
        underlying = check_underlying(underlying)

        def apply(meta: SourceMeta) -> None:
            for path in paths:
                self._record_file(meta, path)
            edit(meta.coverage[underlying])

        self._update(name, underlying, apply)
        return self.read_meta(name)

    @property
    def lock(self) -> threading.RLock:
        """The lock every write of this store holds (one process; imports also lock the source)."""
        return self._lock

    def _update(self, name: str, underlying: str, edit: Callable[[SourceMeta], None]) -> None:
        meta = self.read_meta(name)
        meta.coverage.setdefault(underlying, UnderlyingCoverage())
        edit(meta)
        meta.updated_at = datetime.now(UTC)
        self._write_meta(meta)

    # -- writes --------------------------------------------------------------------------------
    def write_candles(
        self,
        name: str,
        underlying: str,
        df: pl.DataFrame,
        timeframe: str = "1h",
        replace: bool = False,
    ) -> SeriesCoverage:
        """Merge candles of the source's base ``timeframe`` and re-derive the coarser ones.

        Rows already stored win, unless ``replace``: then the rows of ``df`` replace stored rows
        at the same times (for series recomputed from data that grew, e.g. candles derived from
        option chains).
        """
        underlying = check_underlying(underlying)
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"timeframe {timeframe!r} is not one of {list(TIMEFRAMES)}")
        with self._lock:
            meta = self.read_meta(name)
            cov = meta.coverage.get(underlying)
            base_tf = cov.candles.timeframe if cov and cov.candles.timeframe else timeframe
            if base_tf != timeframe:
                raise ValueError(
                    f"source {name!r} stores {underlying} candles at {base_tf}, not {timeframe}"
                )
            path = self.candles_path(name, underlying, timeframe)
            new = validate_candles(df, f"candles for {name}/{underlying}")
            merged = self._merge(path, new, replace)
            merged = validate_candles(merged, str(path))

            def edit(meta: SourceMeta) -> None:
                self._write_candle_files(meta, underlying, timeframe, merged, with_base=True)
                cov = _series_coverage(merged, TIMEFRAMES[timeframe])
                cov.timeframe = timeframe
                meta.coverage[underlying].candles = cov

            self._update(name, underlying, edit)
            return self.read_meta(name).coverage[underlying].candles

    def rederive_candles(self, name: str, underlying: str) -> None:
        """Write the coarser candle files of ``underlying`` again from the base file."""
        underlying = check_underlying(underlying)
        with self._lock:
            base_tf = self.read_meta(name).coverage[underlying].candles.timeframe
            path = self.candles_path(name, underlying, base_tf)
            with reading(path):
                base = pl.read_parquet(path)
            self._update(
                name,
                underlying,
                lambda meta: self._write_candle_files(meta, underlying, base_tf, base),
            )

    def _write_candle_files(
        self,
        meta: SourceMeta,
        underlying: str,
        base_tf: str,
        base: pl.DataFrame,
        with_base: bool = False,
    ) -> None:
        """Write the candles derived from ``base`` (and ``base`` itself if asked); record them."""
        frames = {base_tf: base} if with_base else {}
        for tf, step in TIMEFRAMES.items():
            if step > TIMEFRAMES[base_tf]:
                frames[tf] = derive_timeframe(base, tf)
        for tf, frame in frames.items():
            path = self.candles_path(meta.name, underlying, tf)
            write_parquet_atomic(frame, path)
            self._record_file(meta, path)

    def write_iv(
        self, name: str, underlying: str, df: pl.DataFrame, replace: bool = False
    ) -> SeriesCoverage:
        """Merge an implied-vol index series (percent); ``replace`` as for candles."""
        underlying = check_underlying(underlying)
        with self._lock:
            path = self.iv_path(name, underlying)
            merged = self._merge(path, validate_iv(df, f"iv for {name}/{underlying}"), replace)

            def edit(meta: SourceMeta) -> None:
                write_parquet_atomic(merged, path)
                self._record_file(meta, path)
                cov = _series_coverage(merged, None)
                cov.real_rows = int(merged.get_column("iv_is_real").sum())
                meta.coverage[underlying].iv = cov

            self._update(name, underlying, edit)
            return self.read_meta(name).coverage[underlying].iv

    def write_delivery(self, name: str, underlying: str, df: pl.DataFrame) -> SeriesCoverage:
        """Merge daily 08:00 UTC settlement prices."""
        underlying = check_underlying(underlying)
        with self._lock:
            path = self.delivery_path(name, underlying)
            merged = self._merge(path, validate_delivery(df, f"delivery for {name}/{underlying}"))

            def edit(meta: SourceMeta) -> None:
                write_parquet_atomic(merged, path)
                self._record_file(meta, path)
                meta.coverage[underlying].delivery = _series_coverage(merged, timedelta(days=1))

            self._update(name, underlying, edit)
            return self.read_meta(name).coverage[underlying].delivery

    @staticmethod
    def _merge(path: Path, new: pl.DataFrame, replace: bool = False) -> pl.DataFrame:
        if not path.is_file():
            return new
        with reading(path):
            old = pl.read_parquet(path)
        keep = "last" if replace else "first"
        return pl.concat([old, new]).unique("time", keep=keep).sort("time")

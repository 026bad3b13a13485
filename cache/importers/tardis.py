"""Tardis ``options_chain`` CSV files (plain or ``.gz``), streamed in bounded memory and sampled.

Each row of a Tardis ``options_chain`` file is one Deribit option ticker as Tardis received it
(``docs/data.md`` cites the column definitions). A file of one day holds millions of rows, so it
is read in blocks of :data:`BLOCK_BYTES` and never whole:

1. every row's ``symbol`` and ``local_timestamp`` (arrival time, µs) are parsed; rows of other
   underlyings are dropped; each remaining row falls in the sampling interval ``(b − every, b]``
   of the boundary ``b`` at or after its arrival;
2. per instrument and interval only the last row to arrive survives, and only those rows (about
   one in a hundred in real files) are parsed whole, checked and spilled to scratch Parquet files
   per underlying and UTC day;
3. :func:`sampled_days` then yields each day's snapshots: at every boundary ``b``, each
   instrument's last quote received in ``(b − every, b]``, stamped ``time = b``.

A boundary is kept only where the files cover its whole interval (within :data:`EDGE_SLACK_US`),
so a file cut mid-interval does not pass for a full snapshot. Peak memory is set by the block size
and one day's samples, not by the file size.
"""

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from isal import igzip
from isal.igzip_lib import IsalError

from cache.chain_snapshots import index_from_forwards
from cache.schema import (
    CHAIN_KEY,
    CHAIN_STORE_SCHEMA,
    UTC_US,
    DataValidationError,
    chain_row_rules,
    check_rules,
)

BLOCK_BYTES = 32 << 20
EDGE_SLACK_US = 1_000_000  # a file whose data starts or ends within 1 s of a boundary covers it
TYPES: dict[str, pl.DataType] = {  # the columns read, with their types; the others are skipped
    "symbol": pl.String(),
    "local_timestamp": pl.Int64(),  # µs since the epoch, UTC: when Tardis received the ticker
    "type": pl.String(),  # call / put
    "strike_price": pl.Float64(),  # USD
    "expiration": pl.Int64(),  # µs since the epoch, UTC
    "open_interest": pl.Float64(),
    "bid_price": pl.Float64(),  # coin; empty: no bid
    "bid_amount": pl.Float64(),
    "bid_iv": pl.Float64(),  # percent
    "ask_price": pl.Float64(),
    "ask_amount": pl.Float64(),
    "ask_iv": pl.Float64(),
    "mark_price": pl.Float64(),  # coin
    "mark_iv": pl.Float64(),  # percent
    "underlying_index": pl.String(),
    "underlying_price": pl.Float64(),  # USD
}
KEY_COLUMNS = ("symbol", "local_timestamp")
MISSING = ("mark_price", "mark_iv", "underlying_price")  # a row without them is skipped, counted


@dataclass
class TardisScan:
    """What streaming the files found: counts, the spans they cover, where the samples went."""

    every_us: int
    spill_dir: Path
    rows: int = 0  # data rows read
    rows_wanted: int = 0  # rows of the requested underlyings
    rows_missing: int = 0  # sampled rows without mark, mark IV or forward (skipped)
    spans: list[tuple[int, int]] = field(default_factory=list)  # (first, last) arrival, µs
    spills: int = 0


# what reading a damaged file raises: I/O errors, a truncated gzip stream, corrupt deflate data
READ_ERRORS = (OSError, EOFError, IsalError)


def open_text(path: Path) -> io.BufferedIOBase:
    """Open a CSV file for binary reading, decompressing ``.gz``.

    ``.gz`` goes through ISA-L's ``igzip`` (the same file object as the standard ``gzip``, multi-
    member files included): decompression was most of the CPU time of a gzip import.
    """
    if path.suffix == ".gz":
        return igzip.open(path, "rb")
    return path.open("rb", buffering=0)


def scan_files(
    files: list[Path], underlyings: list[str], every_us: int, spill_dir: Path
) -> TardisScan:
    """Stream ``files`` and spill each instrument's last quote per interval; return the scan."""
    scan = TardisScan(every_us, spill_dir)
    prefixes = [f"{u}-" for u in underlyings]
    for path in files:
        _scan_file(Path(path), prefixes, scan)
    return scan


def _scan_file(path: Path, prefixes: list[str], scan: TardisScan) -> None:
    where = str(path)
    if not path.is_file():
        raise DataValidationError(where, "file not found")
    with open_text(path) as fh:
        try:
            header = fh.readline().decode().strip().split(",")
        except (*READ_ERRORS, UnicodeDecodeError) as exc:
            raise DataValidationError(where, f"cannot be read as CSV text ({exc})") from exc
        missing = [c for c in TYPES if c not in header]
        if missing:
            raise DataValidationError(
                where, f"missing column(s) {missing}: not a Tardis options_chain file"
            )
        schema = {name: TYPES.get(name, pl.String()) for name in header}
        first = last = None
        for lines, row0 in _blocks(fh, where):
            keys = _parse(lines, schema, header, KEY_COLUMNS, where, row0)
            scan.rows += keys.height
            if keys.height == 0:
                continue
            t = keys.get_column("local_timestamp")
            bad = t.is_null().arg_true()
            if len(bad):
                raise DataValidationError(where, "local_timestamp is empty", row0 + int(bad[0]))
            lo, hi = t.min(), t.max()
            first = lo if first is None else min(first, lo)
            last = hi if last is None else max(last, hi)
            rows, wanted = _last_per_interval(keys, prefixes, scan.every_us)
            scan.rows_wanted += wanted
            if len(rows) == 0:
                continue
            full = _parse(lines.subset(rows), schema, header, tuple(TYPES), where, row0, rows)
            _spill(_to_store_rows(full, rows + row0, scan, where), scan)
        if first is not None:
            scan.spans.append((first, last))


@dataclass
class _Lines:
    """Complete CSV lines of one block: ``head`` (a line begun in the block before, or empty),
    then the lines of ``data`` from byte ``skip`` on, ending at the offsets ``ends``."""

    head: bytes
    data: bytes
    skip: int
    ends: np.ndarray

    @property
    def count(self) -> int:
        return (1 if self.head else 0) + len(self.ends)

    def sources(self) -> list[tuple[io.BytesIO, int, int]]:
        """``(buffer, lines to skip, lines to read)`` pieces to parse, in order."""
        pieces = [(io.BytesIO(self.head), 0, 1)] if self.head else []
        if len(self.ends):
            pieces.append((io.BytesIO(self.data), 1 if self.skip else 0, len(self.ends)))
        return pieces

    def subset(self, rows: np.ndarray) -> "_Lines":
        """The lines ``rows`` (0-based, in order) as a block of their own."""
        first = 1 if self.head else 0
        ends = self.ends
        starts = np.concatenate(([self.skip], ends[:-1]))
        view = memoryview(self.data)
        picked = [self.head] if first and len(rows) and rows[0] == 0 else []
        picked += [view[starts[i - first] : ends[i - first]] for i in rows if i >= first]
        data = b"".join(picked)
        return _Lines(b"", data, 0, np.flatnonzero(np.frombuffer(data, np.uint8) == NEWLINE) + 1)


NEWLINE = 10
SCAN_STEP = 1 << 20  # newlines are found a megabyte at a time, which stays in the CPU cache


def _newlines(data: bytes, start: int) -> np.ndarray:
    """Offsets just past each newline of ``data`` from byte ``start`` on."""
    buf = np.frombuffer(data, np.uint8)
    parts = [
        np.flatnonzero(buf[i : i + SCAN_STEP] == NEWLINE) + (i + 1)
        for i in range(start, len(buf), SCAN_STEP)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _blocks(fh, where: str) -> Iterator[tuple[_Lines, int]]:
    """Yield the complete lines of each block read and the 0-based data row of its first line.

    A block is used as read (no copy): a line cut by the block's end is carried over and parsed
    as the next block's ``head``.
    """
    carry, row0 = b"", 0
    while True:
        try:
            block = fh.read(BLOCK_BYTES)
        except READ_ERRORS as exc:
            raise DataValidationError(
                where, f"cannot be read after this row: a damaged or truncated file ({exc})", row0
            ) from exc
        if not block:
            break
        skip = 0
        if carry:
            cut = block.find(b"\n")
            if cut < 0:
                carry += block
                continue
            skip, carry = cut + 1, carry + block[: cut + 1]
        ends = _newlines(block, skip)
        lines = _Lines(carry, block, skip, ends)
        carry = block[ends[-1] if len(ends) else skip :]
        if lines.count:
            yield lines, row0
            row0 += lines.count
    if carry.strip():
        yield _Lines(carry.rstrip(b"\n") + b"\n", b"", 0, np.zeros(0, np.int64)), row0


def _parse(
    lines: _Lines,
    schema: dict[str, pl.DataType],
    header: list[str],
    columns: tuple[str, ...],
    where: str,
    row0: int,
    rows: np.ndarray | None = None,
) -> pl.DataFrame:
    """Parse ``columns`` of ``lines``; an unparsable cell is an error naming its row."""
    index = [header.index(c) for c in columns]
    try:
        return _read(lines, schema, index)
    except pl.exceptions.PolarsError:
        pass
    text = _read(lines, dict.fromkeys(header, pl.String()), index)
    for name in columns:
        col = text.get_column(name)
        bad = (col.cast(schema[name], strict=False).is_null() & col.is_not_null()).arg_true()
        if len(bad):
            i = int(bad[0])
            at = row0 + (i if rows is None else int(rows[i]))
            raise DataValidationError(where, f"{name} {col[i]!r} is not {schema[name]}", at)
    raise DataValidationError(where, f"rows {row0 + 1}..{row0 + lines.count} cannot be parsed")


def _read(lines: _Lines, schema: dict[str, pl.DataType], index: list[int]) -> pl.DataFrame:
    frames = [
        pl.read_csv(
            buffer, has_header=False, schema=schema, columns=index, skip_rows=skip, n_rows=n
        )
        for buffer, skip, n in lines.sources()
    ]
    return pl.concat(frames) if len(frames) > 1 else frames[0]


def _last_per_interval(
    keys: pl.DataFrame, prefixes: list[str], every_us: int
) -> tuple[np.ndarray, int]:
    """Row numbers (in the block) of each wanted instrument's last quote per interval, in order,
    and how many rows of the block are wanted."""
    wanted = pl.any_horizontal(pl.col("symbol").str.starts_with(p) for p in prefixes)
    rows = keys.with_row_index("row").filter(wanted)
    if not rows.get_column("local_timestamp").is_sorted():
        rows = rows.sort("local_timestamp", maintain_order=True)
    kept = rows.with_columns(k=_interval(every_us)).unique(["symbol", "k"], keep="last")
    return kept.get_column("row").sort().to_numpy(), rows.height


def _interval(every_us: int) -> pl.Expr:
    """The number ``k`` of the interval ``(b − every, b]``, ``b = k · every``, a row arrived in."""
    return (pl.col("local_timestamp") + (every_us - 1)) // every_us


def _to_store_rows(
    full: pl.DataFrame, rows: np.ndarray, scan: TardisScan, where: str
) -> pl.DataFrame:
    """Check sampled Tardis rows and map them to the store's columns (plus ``_t``, ``_row``)."""
    every = scan.every_us
    frame = full.with_columns(_row=pl.Series(rows), _t=pl.col("local_timestamp"))
    complete = pl.all_horizontal(pl.col(c).is_not_null() for c in MISSING)
    scan.rows_missing += frame.height - frame.filter(complete).height
    frame = frame.filter(complete)
    boundary = (_interval(every) * every).cast(UTC_US)
    kind = pl.col("type")
    out = frame.select(
        boundary.alias("time"),
        pl.col("symbol").alias("instrument_name"),
        pl.col("expiration").cast(UTC_US).alias("expiry"),
        pl.col("strike_price").alias("strike"),
        pl.when(kind == "call")
        .then(pl.lit("C"))
        .when(kind == "put")
        .then(pl.lit("P"))
        .alias("option_type"),
        *(_empty_if_zero(c) for c in ("bid_price", "bid_amount", "ask_price", "ask_amount")),
        "mark_price",
        "mark_iv",
        *(_empty_if_zero(c) for c in ("bid_iv", "ask_iv")),
        "underlying_price",
        "underlying_index",
        pl.lit(None, dtype=pl.Float64).alias("index_price"),
        "open_interest",
        "_t",
        "_row",
    ).filter(pl.col("expiry").is_null() | (pl.col("expiry") > pl.col("time")))
    bad_type = out.filter(pl.col("option_type").is_null())
    if bad_type.height:
        raise DataValidationError(where, "type is not call or put", int(bad_type.item(0, "_row")))
    underlying = out.get_column("instrument_name").str.split("-").list.first()
    for u in underlying.unique().to_list():
        part = out.filter(underlying == u)
        check_rules(part, chain_row_rules(u), where, part.get_column("_row"))
    return out.with_columns(_underlying=underlying)


def _empty_if_zero(column: str) -> pl.Expr:
    """Tardis writes an empty side as an empty field; a 0 means the same (Deribit's empty side)."""
    return pl.when(pl.col(column) != 0).then(pl.col(column)).alias(column)


def _spill(frame: pl.DataFrame, scan: TardisScan) -> None:
    """Append sampled rows to the scratch files of their underlying and UTC day."""
    if frame.is_empty():
        return
    keyed = frame.with_columns(_day=pl.col("time").dt.date())
    for (u, day), part in keyed.partition_by("_underlying", "_day", as_dict=True).items():
        folder = scan.spill_dir / u / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        part.drop("_underlying", "_day").write_parquet(folder / f"{scan.spills:08d}.parquet")
        scan.spills += 1


def sampled_days(scan: TardisScan, underlying: str) -> Iterator[pl.DataFrame]:
    """Yield each UTC day's sampled snapshots of ``underlying`` in the store's schema.

    Per instrument and boundary the quote that arrived last wins (later files win ties); a
    boundary whose interval the files do not cover is dropped. ``index_price`` is the forward of
    the expiries that price on the index (``underlying_index`` = ``index_price``), if any.
    """
    root = scan.spill_dir / underlying
    if not root.is_dir():
        return
    covered = _covered_boundaries(scan)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        rows = pl.concat([pl.read_parquet(f) for f in sorted(folder.glob("*.parquet"))])
        rows = rows.sort("_t", maintain_order=True).unique(CHAIN_KEY, keep="last")
        rows = rows.filter(covered(pl.col("time").dt.epoch("us")))
        yield (
            rows.with_columns(index_price=index_from_forwards("time"))
            .select(list(CHAIN_STORE_SCHEMA))
            .sort(CHAIN_KEY)
        )


def _covered_boundaries(scan: TardisScan):
    """A function of a boundary column (µs): whether the files cover its whole interval."""
    merged: list[list[int]] = []
    for lo, hi in sorted(scan.spans):
        if merged and lo <= merged[-1][1] + EDGE_SLACK_US:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])

    def covered(b: pl.Expr) -> pl.Expr:
        start = b - scan.every_us + EDGE_SLACK_US
        return pl.any_horizontal(
            [(start >= lo) & (b <= hi + EDGE_SLACK_US) for lo, hi in merged] or [pl.lit(False)]
        )

    return covered

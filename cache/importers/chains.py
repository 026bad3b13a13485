"""``thetadesk import-chains``: option-chain files into a source's chain store, all or nothing.

The import runs on a staged copy of the source (:mod:`cache.staging`): files are read, checked and
sampled, the chains merged into the staged day files, the spot candles, IV index and settlement
prices attached (:mod:`cache.importers.series`) and the metadata updated; only then does the
staged source replace the live one. A bad file or an interruption leaves the source as it was; an
import that adds nothing (the same files again) changes no file.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cache.chains import ChainStore, ChainWrite
from cache.importers import series
from cache.importers.snapshots import read_snapshot_file
from cache.importers.tardis import sampled_days, scan_files
from cache.schema import UNDERLYINGS, DataValidationError
from cache.staging import SourceStage
from cache.store import Store, check_source_name, check_underlying

FORMATS = ("tardis", "snapshots")
DEFAULT_EVERY = "5m"
_EVERY_RE = re.compile(r"^([1-9][0-9]*)(s|m|h)$")
_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
DAY_US = 86_400_000_000


def parse_every(text: str) -> int:
    """Microseconds of a sampling interval such as ``5m``, ``30s`` or ``1h`` (it divides a day)."""
    match = _EVERY_RE.match(text.strip())
    if match is None:
        raise ValueError(f"--every {text!r}: expected a number and s, m or h, e.g. 5m")
    us = int(match.group(1)) * _UNIT_US[match.group(2)]
    if us > DAY_US or DAY_US % us:
        raise ValueError(f"--every {text}: must divide a day evenly (e.g. 1m, 5m, 15m, 1h)")
    return us


@dataclass
class ChainImport:
    """What an import did, per underlying, and what it skipped."""

    source: str
    format: str
    written: dict[str, ChainWrite] = field(default_factory=dict)
    rows_read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    changed: bool = False

    def lines(self) -> list[str]:
        """The import in a few plain lines."""
        out = [f"read {self.rows_read:,} rows from {self.format} files into source {self.source!r}"]
        for u, w in sorted(self.written.items()):
            days = f", {w.days[0]} to {w.days[-1]}" if w.days else ""
            out.append(f"  {u}: {w.rows:,} new rows in {w.snapshots:,} new snapshots{days}")
        skipped = ", ".join(f"{n:,} {what}" for what, n in self.skipped.items() if n)
        if skipped:
            out.append(f"  skipped: {skipped}")
        if not self.changed:
            out.append("  nothing new: the store is unchanged")
        return out


def import_chains(
    store: Store,
    name: str,
    fmt: str,
    files: list[Path],
    underlyings: list[str] | None = None,
    every: str | None = None,
    candles_from: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ChainImport:
    """Import option-chain ``files`` of format ``fmt`` into source ``name`` (see module doc)."""
    say = progress or (lambda _: None)
    check_source_name(name)
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: expected one of {FORMATS}")
    if fmt == "snapshots" and every is not None:
        raise ValueError("--every applies to tardis files; snapshots are stored as recorded")
    every_us = parse_every(every or DEFAULT_EVERY)
    wanted = [check_underlying(u) for u in (underlyings or UNDERLYINGS)]
    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise DataValidationError(str(path), "file not found")
    if candles_from is not None:
        _check_candle_source(store, name, candles_from)
    report = ChainImport(name, fmt)
    with SourceStage(store.data_dir, name) as stage:
        staged = stage.store
        own = _ensure(staged, name, fmt, every, candles_from)
        chains = ChainStore(staged)
        writes = {u: ChainWrite() for u in wanted}
        for u, frame in _frames(fmt, paths, wanted, every_us, stage.workdir, report, say):
            _add(writes[u], chains.write(name, u, frame))
        report.written = {u: w for u, w in writes.items() if w.rows}
        report.changed = bool(report.written)
        if not report.changed:
            return report
        for u, w in report.written.items():
            if own:
                continue
            say(f"{u}: attaching spot candles, IV index and settlement prices")
            if candles_from is None:
                series.derive(staged, name, u, w.days)
            else:
                series.join(staged, name, u, store, candles_from)
        _record(staged, name, fmt, every, paths, series.OWN if own else candles_from)
        stage.swap()
    return report


def _frames(fmt, paths, wanted, every_us, workdir, report, say):
    """Yield ``(underlying, rows)`` to write, in the store's schema, sorted by key."""
    if fmt == "tardis":
        say(f"streaming {len(paths)} Tardis file(s)")
        scan = scan_files(paths, wanted, every_us, workdir / "spill")
        report.rows_read = scan.rows
        report.skipped = {
            "rows of other underlyings": scan.rows - scan.rows_wanted,
            "sampled quotes without mark, mark IV or forward": scan.rows_missing,
        }
        for u in wanted:
            for day in sampled_days(scan, u):
                yield u, day
        return
    skipped = dict.fromkeys(
        ("rows not named as a BTC/ETH option", "rows without mark, mark IV or forward",
         "partial snapshots"), 0
    )  # fmt: skip
    for path in paths:
        say(f"reading {path}")
        read = read_snapshot_file(path, wanted)
        report.rows_read += read.rows
        counts = (read.skipped_names, read.skipped_missing, read.partial_snapshots)
        for key, n in zip(skipped, counts, strict=True):
            skipped[key] += n
        yield from read.frames.items()
    report.skipped = skipped


def _add(total: ChainWrite, one: ChainWrite) -> None:
    total.rows += one.rows
    total.snapshots += one.snapshots
    total.days = sorted(set(total.days) | set(one.days))


def _check_candle_source(store: Store, name: str, candles_from: str) -> None:
    if candles_from == name:
        raise ValueError("--candles-from must name another source")
    meta = store.read_meta(candles_from)
    if meta.is_synthetic:
        raise ValueError(
            f"--candles-from {candles_from}: a synthetic market cannot price real chains"
        )


def _ensure(
    staged: Store, name: str, fmt: str, every: str | None, candles_from: str | None
) -> bool:
    """Create the source, or check that an existing one can take these chains.

    Return whether the source keeps candles of its own (e.g. downloaded from Deribit): then the
    import adds chains only.
    """
    if not staged.has_source(name):
        staged.ensure_source(name, "import", label=f"imported option chains ({fmt})")
        return False
    meta = staged.read_meta(name)
    if meta.is_synthetic:
        raise ValueError(
            f"source {name!r} is the synthetic market; import chains under another name"
        )
    before = meta.details.get("chains", {})
    own = before.get("candles_from") == series.OWN or (
        not before and any(c.candles.rows for c in meta.coverage.values())
    )
    if own and candles_from is not None:
        raise ValueError(
            f"source {name!r} has candles of its own; --candles-from is for chain-only sources"
        )
    if not own and before and before.get("candles_from") != candles_from:
        was = before.get("candles_from") or "derived from its chains"
        raise ValueError(
            f"source {name!r} takes its candles {was!r}; import with the same --candles-from "
            "(or into another source)"
        )
    if not own and before and candles_from is None and before.get("iv") != series.IV_DERIVED:
        # the days not imported again would keep the other rule's IV rows (or none): never mix
        raise ValueError(
            f"source {name!r} has its IV index by another rule ({before.get('iv')}); import its "
            "files into a new source, which derives the index from the chains"
        )
    sampled = before.get("every")
    if fmt == "tardis" and sampled and sampled != (every or DEFAULT_EVERY):
        raise ValueError(
            f"source {name!r} holds Tardis chains sampled every {sampled}; import with "
            f"--every {sampled} (or into another source)"
        )
    return own


def _record(staged, name, fmt, every, paths, candles_from) -> None:
    """Write what the source's chains and series come from into its metadata."""
    meta = staged.read_meta(name)
    block = dict(meta.details.get("chains", {}))
    files = list(block.get("files", []))
    files += [p for p in (str(path.resolve()) for path in paths) if p not in files]
    formats = sorted(set(block.get("formats", [])) | {fmt})
    block |= series.describe(candles_from) | {"formats": formats, "files": files}
    if fmt == "tardis":
        block["every"] = every or DEFAULT_EVERY
    staged.set_details(name, chains=block)

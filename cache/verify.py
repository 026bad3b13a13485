"""Check every cached file (``thetadesk cache --verify``) and rebuild what can be (``--repair``).

A source is sound when its ``meta.json`` reads, and every data file it lists (and every chain
snapshot, which it does not list) is there, reads as Parquet, has its kind's columns and types
(``docs/data.md``), strictly increasing (sorted, unique) times and the values the writers accept,
and still has the SHA-256 the metadata recorded (else the source's fingerprint no longer says
what the file holds).

What a repair can rebuild, file by file:

- a derived candle file (4h, 1d) whose base file is sound: derived again, whatever the origin;
- the synthetic source: candles and IV generated again from the source's seed over the range it
  covers (the generator is deterministic, so the rebuilt files equal the lost ones);
- a Deribit source: candles and IV, or settlement prices, downloaded again over the spans that
  were fetched (this needs Deribit to be reachable);
- never imported files (their originals are elsewhere), recorded chain snapshots (a moment
  cannot be fetched again) or an unreadable ``meta.json``: the report says what to do instead.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import polars as pl

from cache.files import first_line
from cache.schema import (
    CANDLES_SCHEMA,
    CHAIN_STORE_SCHEMA,
    DELIVERY_SCHEMA,
    IV_SCHEMA,
    validate_candles,
    validate_chain_store,
    validate_delivery,
    validate_iv,
)
from cache.store import SourceMeta, Store, file_sha256

KINDS: dict[str, tuple[dict, Callable[[pl.DataFrame, str], pl.DataFrame]]] = {
    "candles": (CANDLES_SCHEMA, validate_candles),
    "iv": (IV_SCHEMA, validate_iv),
    "delivery": (DELIVERY_SCHEMA, validate_delivery),
    # a chain-store day file, chains/<COIN>/<YYYY-MM-DD>.parquet: its coin is its folder's name
    "chains": (
        CHAIN_STORE_SCHEMA,
        lambda frame, where: validate_chain_store(frame, where, PurePosixPath(where).parts[-2]),
    ),
}


@dataclass(frozen=True)
class Problem:
    """One damaged file of a source: its path in the source folder and what is wrong."""

    source: str
    path: str  # relative to sources/<source>/, e.g. candles/BTC_1h.parquet or meta.json
    reason: str

    @property
    def kind(self) -> str:
        """The folder of the file: candles, iv, delivery, chains; meta for meta.json."""
        parts = PurePosixPath(self.path).parts
        return parts[0] if len(parts) > 1 else "meta"

    @property
    def underlying(self) -> str | None:
        """The coin of a candles, IV or settlement file (None for chains and meta.json)."""
        if self.kind in ("candles", "iv", "delivery"):
            return PurePosixPath(self.path).stem.split("_")[0]
        return None


@dataclass(frozen=True)
class Repair:
    """What a repair did about one problem: ``repaired`` and how, or why it could not."""

    problem: Problem
    repaired: bool
    how: str


def verify_store(store: Store) -> dict[str, list[Problem]]:
    """Every source folder of the data directory (by name) and its damaged files."""
    root = store.data_dir / "sources"
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return {name: verify_source(store, name) for name in names}


def verify_source(store: Store, name: str) -> list[Problem]:
    """The damaged files of source ``name`` (empty when it is sound)."""
    try:
        meta = store.read_meta(name)
    except (OSError, ValueError, LookupError) as exc:
        return [Problem(name, "meta.json", f"unreadable ({first_line(exc)})")]
    folder = store.source_dir(name)
    on_disk = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*.parquet")
        if not p.name.startswith(".")  # a write in progress
    }
    problems = []
    for rel in sorted(on_disk | set(meta.files)):
        reason = check_file(folder / rel, rel, meta.files.get(rel))
        if reason is not None:
            problems.append(Problem(name, rel, reason))
    return problems


def check_file(path: Path, rel: str, recorded_sha: str | None) -> str | None:
    """What is wrong with one data file, or None when it is sound."""
    kind = PurePosixPath(rel).parts[0]
    if kind not in KINDS:
        return None  # not a file of the cache's layout
    if not path.is_file():
        return "missing (meta.json lists it)"
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        return f"not readable Parquet ({first_line(exc)})"
    schema, validate = KINDS[kind]
    for column, dtype in schema.items():
        if column not in frame.columns:
            return f"column {column!r} is missing"
        if frame.schema[column] != dtype:
            return f"column {column!r} is {frame.schema[column]}, the schema says {dtype}"
    try:
        validate(frame, rel)
    except ValueError as exc:
        return first_line(exc)
    if kind == "chains":
        return None  # snapshots are not part of the fingerprint
    if recorded_sha is None:
        return "not recorded in meta.json (the source's fingerprint does not cover it)"
    if file_sha256(path) != recorded_sha:
        return "changed since it was written (its SHA-256 is not the one meta.json records)"
    return None


def repair_source(store: Store, problems: list[Problem], **download: object) -> list[Repair]:
    """Rebuild what can be of one source's damaged files; return what happened to each.

    ``download`` goes to :func:`cache.download.warm_deribit` (e.g. ``client=``) for Deribit
    sources. Each problem is checked again afterwards: ``repaired`` means the file is sound now.
    """
    if not problems:
        return []
    name = problems[0].source
    if any(p.kind == "meta" for p in problems):
        hint = f"move {store.source_dir(name)} away and warm or import the source again"
        return [Repair(p, False, f"cannot: meta.json is unreadable; {hint}") for p in problems]
    meta = store.read_meta(name)
    notes = _rederive(store, meta, problems)
    todo = [p for p in problems if p.path not in notes]
    if meta.origin == "synthetic":
        notes |= _regenerate(store, meta, todo)
    elif meta.origin in ("deribit-mainnet", "deribit-testnet"):
        notes |= _download_again(store, meta, todo, download)
    left = {p.path: p.reason for p in verify_source(store, name)}
    out = []
    for p in problems:
        if p.path in left:
            why = notes.get(p.path) or _cannot(p, meta)
            out.append(Repair(p, False, f"{why}; still: {left[p.path]}"))
        else:
            out.append(Repair(p, True, notes.get(p.path, "sound again")))
    return out


def _cannot(problem: Problem, meta: SourceMeta) -> str:
    if problem.kind == "chains":
        return (
            "cannot: a recorded chain snapshot cannot be fetched again; delete the file to drop it"
        )
    if meta.origin == "import":
        files = ", ".join(meta.details.get("imported_files", [])) or "the original files"
        return f"cannot: imported data; import it again (thetadesk import) from {files}"
    return "cannot: no way to rebuild this file"


def _base_timeframe(meta: SourceMeta, underlying: str | None) -> str | None:
    cov = meta.coverage.get(underlying or "")
    return cov.candles.timeframe if cov else None


def _is_derived(problem: Problem, meta: SourceMeta) -> bool:
    base = _base_timeframe(meta, problem.underlying)
    return (
        problem.kind == "candles"
        and base is not None
        and not problem.path.endswith(base + ".parquet")
    )


def _rederive(store: Store, meta: SourceMeta, problems: list[Problem]) -> dict[str, str]:
    """Derive again the coarser candles whose base file is sound."""
    bad = {p.path for p in problems}
    notes = {}
    for p in problems:
        if not _is_derived(p, meta):
            continue
        base = f"candles/{p.underlying}_{_base_timeframe(meta, p.underlying)}.parquet"
        if base not in bad:
            store.rederive_candles(meta.name, p.underlying)
            notes[p.path] = f"derived again from {base}"
    return notes


def _regenerate(store: Store, meta: SourceMeta, problems: list[Problem]) -> dict[str, str]:
    """Generate the synthetic candles and IV of each coin with a damaged file again."""
    from cache.synthetic import generate_synthetic_market

    seed = meta.details.get("seed")
    notes = {}
    for coin in sorted({p.underlying for p in problems if p.kind in ("candles", "iv")}):
        if seed is None or coin not in meta.coverage:
            continue  # not what warm_synthetic writes: nothing to generate it from
        cov = meta.coverage[coin].candles
        mine = [p for p in problems if p.underlying == coin]
        for p in mine:
            (store.source_dir(meta.name) / p.path).unlink(missing_ok=True)
        series = generate_synthetic_market(seed, cov.start, cov.end, (coin,))[coin]
        store.write_candles(meta.name, coin, series.candles, timeframe="1h")
        store.write_iv(meta.name, coin, series.iv)
        span = f"{cov.start:%Y-%m-%d} to {cov.end:%Y-%m-%d}"
        notes |= {p.path: f"generated again from seed {seed} over {span}" for p in mine}
    return notes


def _download_again(
    store: Store, meta: SourceMeta, problems: list[Problem], options: dict
) -> dict[str, str]:
    """Download the damaged candles/IV or settlements of each coin again from Deribit."""
    from cache.deribit import DeribitError
    from cache.download import warm_deribit
    from cache.iv_fallback import IvFallback

    fetched = meta.details.get("fetched", {})
    notes = {}
    for coin in sorted({p.underlying for p in problems if p.underlying}):
        mine = [p for p in problems if p.underlying == coin]
        tf = _base_timeframe(meta, coin) or "1h"
        keys = {f"history_{tf}" if p.kind in ("candles", "iv") else "delivery" for p in mine}
        spans = [s for key in keys for s in fetched.get(coin, {}).get(key, [])]
        if not spans:
            notes |= {p.path: "cannot: no record of what was downloaded" for p in mine}
            continue
        start, end = min(a for a, _ in spans), max(b for _, b in spans)
        for p in mine:
            (store.source_dir(meta.name) / p.path).unlink(missing_ok=True)
        kept = {k: v for k, v in fetched.get(coin, {}).items() if k not in keys}
        store.set_details(meta.name, fetched={**fetched, coin: kept})
        fetched = store.read_meta(meta.name).details["fetched"]
        rule = IvFallback(**meta.details.get("iv_fallback", {}))
        testnet = meta.origin == "deribit-testnet"
        try:
            warm_deribit(store, [coin], start, end, tf, testnet, fallback=rule, **options)
        except DeribitError as exc:
            warm = "thetadesk warm --source deribit" + (" --testnet" if testnet else "")
            why = f"cannot download it again now ({first_line(exc)}); run {warm} when online"
            notes |= {p.path: why for p in mine}
            continue
        notes |= {p.path: f"downloaded again ({start[:10]} to {end[:10]})" for p in mine}
    return notes

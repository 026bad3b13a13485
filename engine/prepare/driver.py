"""Prepare phase: candidates x times, priced and scored in numba batches, cached as Parquet.

For every *prepared* time (the decision instants; a take-profit between them that may roll has
its instant scored on demand by the replay, :func:`score_instants`) the kernel generates the
calls Deribit would list (``listed_expiries`` within the DTE band, a strike grid around spot),
prices them on the fitted vol surface and keeps the ``top_k`` best by score. On real chains
(``market.chains``) the candidates are instead the calls quoted with a bid in the snapshot the
time reads (:mod:`engine.chains`), scored on their recorded mark and IV, each row keeping the
recorded bid. Work runs in chunks so the driver can report progress
and honour a cancel flag between them. The result is cached under ``<data_dir>/prepared/<key>/``
where ``key`` hashes the config fields that affect it, the data fingerprint and
:data:`PREPARE_VERSION`; an entry is checked before use (:mod:`engine.prepare.cache`) and a
damaged one is computed again.
"""

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import polars as pl

from engine.config import CallSimulationConfig
from engine.enums import N_CAND_FIELDS, Cand
from engine.instruments import (
    DEFAULT_GRID_RULES,
    listed_expiries_batch,
    listing_table,
    monthly_expiries_ns,
)
from engine.instruments.strikes import grid_kernel_args
from engine.market import MARKET_FIELDS, RunMarket
from engine.prepare.cache import DamagedEntryError, discard_entry, load_entry, save_entry
from engine.prepare.nb import prepare_chains_chunk_nb, prepare_chunk_nb
from engine.scoring import scoring_args
from engine.volsurface import surface_args

PREPARE_VERSION = 3  # bump when the kernel's output for the same inputs changes
CHUNK = 2048
# threads that score chunks side by side (the machines this runs on have 2 cores; make bench)
PREPARE_THREADS = max(1, min(2, os.cpu_count() or 1))
# what the market reads, and the fields that shape the candidates
PREPARE_FIELDS = MARKET_FIELDS | {
    "target_dte",
    "min_dte",
    "max_dte",
    "target_delta",
    "delta_min",
    "delta_max",
    "vol_surface",
    "scoring",
    "top_k",
}
CANDIDATE_COLUMNS = Cand._asdict()  # candidates.parquet column -> top_f column

Progress = Callable[[int, int], None]


class CancelledError(Exception):
    """The run was stopped between two chunks."""


@dataclass
class PreparedData:
    """Scored candidates of every prepared time; row ``i`` is instant ``instant_index[i]``."""

    instant_index: np.ndarray  # int64 [n] index into RunMarket.t_ns
    time_ns: np.ndarray  # int64 [n] the prepared instants' times
    n_candidates: np.ndarray  # int32 [n] candidates in the band (before keeping top-K)
    top_f: np.ndarray  # float64 [n, K, N_CAND_FIELDS], best first, NaN-padded
    top_exp_ns: np.ndarray  # int64 [n, K], 0 where empty
    key: str
    from_cache: bool
    discarded: str | None = None  # why a damaged cache entry was discarded before computing
    saving: Future[None] | None = None  # the cache entry being written (prepare(wait=False))

    def __getstate__(self) -> dict:
        """Pickled (a sweep puts it into Ray's object store) without the cache writer's
        future, which belongs to this process."""
        return {**self.__dict__, "saving": None}

    def wait_saved(self) -> None:
        """Return once the cache entry of :func:`prepare` with ``wait=False`` is written."""
        if self.saving is not None:
            self.saving.result()

    @cached_property
    def candidates(self) -> pl.DataFrame:
        """Long table: one row per kept candidate (time, rank, expiry, strike, …, score)."""
        n, k = self.top_exp_ns.shape
        filled = self.top_exp_ns.reshape(-1) != 0
        rows = np.repeat(np.arange(n), k)[filled]
        cols = {
            "time_ns": self.time_ns[rows],
            "rank": np.tile(np.arange(1, k + 1), n)[filled].astype(np.int16),
            "expiry_ns": self.top_exp_ns.reshape(-1)[filled],
        }
        flat = self.top_f.reshape(-1, N_CAND_FIELDS)[filled]
        cols |= {name: flat[:, j] for name, j in CANDIDATE_COLUMNS.items()}
        return (
            pl.DataFrame(cols)
            .with_columns(
                pl.col("time_ns").cast(pl.Datetime("ns", "UTC")).cast(pl.Datetime("us", "UTC")),
                pl.col("expiry_ns").cast(pl.Datetime("ns", "UTC")).cast(pl.Datetime("us", "UTC")),
            )
            .rename({"time_ns": "time", "expiry_ns": "expiry"})
            .with_columns(pl.col("bid_price_coin").fill_nan(None))
        )


def prepared_times(market: RunMarket, cfg: CallSimulationConfig) -> np.ndarray:
    """Indices of the instants to prepare: the decisions (for either exit style)."""
    return np.flatnonzero(market.is_decision)


def prepare_key(market: RunMarket, cfg: CallSimulationConfig) -> str:
    """Cache key of the prepared result (both exit styles prepare the same instants)."""
    return cfg.digest(f"{market.data_fingerprint}|decisions|v{PREPARE_VERSION}", PREPARE_FIELDS)


def _monthly_lookup(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every expiry listable over ``times`` (the listing table's: a superset of those listed,
    far smaller than the listed expiries of every time) and whether each is a monthly."""
    if times.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.bool_)
    uniq = np.unique(listing_table(int(times.min()), int(times.max()))[0])
    return uniq, monthly_expiries_ns(uniq)


def prepare(
    market: RunMarket,
    cfg: CallSimulationConfig,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    wait: bool = True,
) -> PreparedData:
    """Score the candidates of every prepared time, reading/writing the cache when given.

    With ``wait=False`` a new cache entry is written on a background thread while the caller
    goes on (the replay); :meth:`PreparedData.wait_saved` joins it.
    """
    key = prepare_key(market, cfg)
    idx = prepared_times(market, cfg)
    times = np.ascontiguousarray(market.t_ns[idx])  # what a cached entry must hold
    discarded = None
    if cache_dir is not None:
        try:
            cached = _load(cache_dir / key, times, idx, cfg.top_k, key)
        except DamagedEntryError as exc:
            discarded, cached = str(exc), None
            discard_entry(cache_dir / key, discarded)
        if cached is not None:
            if progress:
                progress(len(idx), len(idx))
            return cached
    top_f, top_exp, n_cand = score_instants(market, cfg, idx, progress, cancel)
    data = PreparedData(idx, times, n_cand, top_f, top_exp, key, False, discarded)
    if cache_dir is not None:
        data.saving = _writer().submit(_save, cache_dir / key, data)
        if wait:
            data.wait_saved()
    return data


@cache
def _writer() -> ThreadPoolExecutor:
    """The thread that writes cache entries (the replay runs meanwhile on the other core)."""
    return ThreadPoolExecutor(1, thread_name_prefix="prepared-cache")


def score_instants(
    market: RunMarket,
    cfg: CallSimulationConfig,
    idx: np.ndarray,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score the candidates of instants ``idx``: ``(top_f, top_exp_ns, n_candidates)`` as in
    :class:`PreparedData`, in chunks on :data:`PREPARE_THREADS` threads. The replay calls it for
    the one instant a take-profit may roll at between decisions."""
    times = np.ascontiguousarray(market.t_ns[idx])
    ctx = market.context
    rv = np.ascontiguousarray(ctx.get_column("rv_30d").to_numpy()[idx])
    regime = np.ascontiguousarray(ctx.get_column("regime").to_numpy()[idx].astype(np.int64))
    n, k = len(idx), cfg.top_k
    top_f = np.empty((n, k, N_CAND_FIELDS))
    top_exp = np.empty((n, k), np.int64)
    n_cand = np.empty(n, np.int32)
    band = np.array([cfg.min_dte, cfg.max_dte, cfg.delta_min, cfg.delta_max])
    targets = np.array([cfg.target_delta, cfg.target_dte])
    if market.chains is None:
        score = _model_scorer(market, cfg, idx, times, rv, regime, band, targets)
    else:
        score = _chain_scorer(market, cfg, idx, times, rv, regime, band, targets)

    def run(a: int, b: int) -> int:
        score(a, b, top_f[a:b], top_exp[a:b], n_cand[a:b])
        return b

    if n == 1:  # on demand, from the replay: no thread pool for one instant
        run(0, 1)
    else:
        _run_chunks(n, run, progress, cancel)
    return top_f, top_exp, n_cand


Scorer = Callable[[int, int, np.ndarray, np.ndarray, np.ndarray], None]


def _model_scorer(market, cfg, idx, times, rv, regime, band, targets) -> Scorer:
    """Score prepared times ``[a, b)`` on the model chain (calls generated and priced)."""
    ctx = market.context
    spot = np.ascontiguousarray(ctx.get_column("spot").to_numpy()[idx])
    iv_index = np.ascontiguousarray(ctx.get_column("iv_index").to_numpy()[idx] / 100.0)
    offsets, exp_ns = listed_expiries_batch(cfg.underlying, times)
    uniq, monthly = _monthly_lookup(times)
    args = (
        uniq,
        monthly,
        grid_kernel_args(DEFAULT_GRID_RULES[cfg.underlying]),
        surface_args(cfg.vol_surface),
        cfg.vol_surface.basis_annual,
        band,
        targets,
        scoring_args(cfg.scoring),
    )

    def score(a: int, b: int, top_f, top_exp, n_cand) -> None:
        prepare_chunk_nb(
            times[a:b], spot[a:b], iv_index[a:b], rv[a:b], regime[a:b],
            offsets[a : b + 1] - offsets[a], exp_ns[offsets[a] : offsets[b]],
            *args, top_f, top_exp, n_cand,
        )  # fmt: skip

    return score


def _chain_scorer(market, cfg, idx, times, rv, regime, band, targets) -> Scorer:
    """Score prepared times ``[a, b)`` on the recorded chains (the calls quoted with a bid)."""
    chains = market.chains
    instant_snap = np.ascontiguousarray(chains.instant_snap[idx])
    quotes = (chains.snap_ns, chains.offsets, chains.exp_ns, chains.strike, chains.mark,
              chains.bid, chains.iv, chains.fwd)  # fmt: skip
    rules = (band, targets, scoring_args(cfg.scoring))

    def score(a: int, b: int, top_f, top_exp, n_cand) -> None:
        prepare_chains_chunk_nb(times[a:b], instant_snap[a:b], *quotes, rv[a:b], regime[a:b],
                                *rules, top_f, top_exp, n_cand)  # fmt: skip

    return score


def _run_chunks(
    n: int,
    score: Callable[[int, int], int],
    progress: Progress | None,
    cancel: Callable[[], bool] | None,
) -> None:
    """Score chunks of ``n`` times (at most ``CHUNK`` each) on ``PREPARE_THREADS`` threads.

    The kernel releases the GIL and each chunk writes its own rows, so chunks run side by side and
    the result does not depend on the thread count. The chunks are of equal size and as many as a
    multiple of the threads, so each thread gets an equal share. Progress is reported in order
    and the cancel flag checked before each chunk is queued; at most one chunk waits.
    """
    n_chunks = max(1, -(-n // CHUNK))
    n_chunks += -n_chunks % PREPARE_THREADS
    size = -(-n // n_chunks)
    with ThreadPoolExecutor(PREPARE_THREADS) as pool:
        pending: deque[Future[int]] = deque()

        def finish_one() -> None:
            b = pending.popleft().result()
            if progress:
                progress(b, n)

        for a in range(0, n, size):
            if cancel is not None and cancel():
                for f in pending:
                    f.cancel()
                raise CancelledError("stopped by user during preparation")
            pending.append(pool.submit(score, a, min(a + size, n)))
            if len(pending) > PREPARE_THREADS:
                finish_one()
        while pending:
            finish_one()


def _save(folder: Path, data: PreparedData) -> None:
    counts = pl.DataFrame({"instant_index": data.instant_index, "n_candidates": data.n_candidates})
    tables = {"candidates": data.candidates, "counts": counts}
    save_entry(folder, data.key, PREPARE_VERSION, tables)


def _load(
    folder: Path, times: np.ndarray, idx: np.ndarray, top_k: int, key: str
) -> PreparedData | None:
    """The cached entry as PreparedData; None without one, DamagedEntryError for a bad one."""
    tables = load_entry(folder, key, PREPARE_VERSION, ("counts", "candidates"))
    if tables is None:
        return None
    counts, cands = tables["counts"], tables["candidates"]
    try:
        if not np.array_equal(counts.get_column("instant_index").to_numpy(), idx):
            raise DamagedEntryError("its prepared instants are not the run's")
        row = np.searchsorted(times, cands.get_column("time").dt.epoch("ns").to_numpy())
        rank = cands.get_column("rank").to_numpy().astype(np.int64) - 1
        top_f = np.full((len(idx), top_k, N_CAND_FIELDS), np.nan)
        top_exp = np.zeros((len(idx), top_k), np.int64)
        for name, j in CANDIDATE_COLUMNS.items():
            top_f[row, rank, j] = cands.get_column(name).to_numpy()
        top_exp[row, rank] = cands.get_column("expiry").dt.epoch("ns").to_numpy()
        n_cand = counts.get_column("n_candidates").to_numpy().astype(np.int32)
    except (pl.exceptions.PolarsError, IndexError, ValueError) as exc:
        raise DamagedEntryError(f"its tables do not fit the run ({exc})") from exc
    return PreparedData(idx, times, n_cand, top_f, top_exp, key, from_cache=True)

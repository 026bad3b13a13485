"""Download real Deribit history into the Parquet store: candles, the DVOL IV index, settlements.

One source per network: ``deribit`` (mainnet) or ``deribit-testnet``. Per underlying:

- candles of ``<COIN>-PERPETUAL`` from ``public/get_tradingview_chart_data`` (``volume`` stored as
  Deribit's ``cost``, the USD notional); only complete bars;
- the IV index: DVOL closes from ``public/get_volatility_index_data`` (``iv_is_real=True``); bars
  without a DVOL print (before DVOL existed, or hours it skipped) get the documented realized-vol
  fallback (:func:`fallback_iv`, ``iv_is_real=False``);
- daily 08:00 UTC settlement prices from ``public/get_delivery_prices``.

Replies become frames in :mod:`cache.deribit.frames`, which the live agent's feed shares.

The work is cut into windows of ``window_bars`` bars; each window is written to the store as soon
as it is fetched (the store replaces whole files atomically), and the time spans already asked for
are recorded in the source's ``details["fetched"]``. A re-run therefore asks only for what is
missing, resumes where an interrupted run stopped, and never asks twice for a real gap in the data.
Retries and backoff are the client's job; a failure that survives them is raised as
:class:`DownloadError` naming the request and the window. The rules are in ``docs/data.md``.
"""

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
from tqdm import tqdm

from cache.deribit import (
    DeribitClient,
    DeribitError,
    candles_from_chart,
    iv_from_dvol,
    settlements_from_delivery_prices,
)
from cache.files import reading
from cache.iv_fallback import DEFAULT_FALLBACK, IvFallback, fallback_iv
from cache.schema import IV_SCHEMA, UNDERLYINGS
from cache.store import SourceMeta, Store, check_underlying
from cache.timeutil import EPOCH, SECONDS_PER_DAY, TIMEFRAMES, as_utc

SOURCE_MAINNET = "deribit"
SOURCE_TESTNET = "deribit-testnet"
LABELS = {
    SOURCE_MAINNET: "Deribit mainnet - REAL market data (perpetual candles, DVOL, 08:00 UTC "
    "settlements); IV without a DVOL print is an RV-based fallback (iv_is_real=False)",
    SOURCE_TESTNET: "Deribit TESTNET - real data of Deribit's test market (thin, not mainnet "
    "prices); IV without a DVOL print is an RV-based fallback (iv_is_real=False)",
}
URL_ENV = "THETADESK_DERIBIT_URL"  # API root override, e.g. a proxy or a local fake server
DEFAULT_START = datetime(2019, 1, 1, tzinfo=UTC)
PERPETUAL_SINCE = datetime(2018, 8, 13, tzinfo=UTC)  # BTC-PERPETUAL launch; nothing earlier exists
DVOL_SINCE = datetime(2021, 1, 1, tzinfo=UTC)  # DVOL's first prints are in late March 2021
WINDOW_BARS = 720  # bars per request and per commit: 30 days of hourly data
DELIVERY_PAGE = 1000  # settlement records per request (Deribit's maximum)
CHART_RESOLUTION = {"1h": 60, "1d": "1D"}  # minutes
DVOL_RESOLUTION = {"1h": 3600, "1d": "1D"}  # seconds
_MS = timedelta(milliseconds=1)
_DAY_MS = SECONDS_PER_DAY * 1000

Span = tuple[int, int]  # [start_ms, end_ms)


@dataclass(frozen=True)
class DownloadStep:
    """Progress of one underlying and kind: ``done`` of ``total`` units asked for in this run."""

    source: str
    underlying: str
    kind: str  # "history" (candles + IV index) or "delivery"
    done: int
    total: int
    unit: str  # "bars" or "days"

    @property
    def message(self) -> str:
        """A one-line description."""
        return f"{self.source} {self.underlying} {self.kind}: {self.done}/{self.total} {self.unit}"


Progress = Callable[[DownloadStep], None]


class DownloadError(DeribitError):
    """A Deribit request failed for good (after the client's retries) during a download.

    The message names the source, the window or page, and the client's error (method, code,
    attempts); the original error is the ``__cause__``.
    """


def warm_deribit(
    store: Store,
    underlyings: Iterable[str] = UNDERLYINGS,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    timeframe: str = "1h",
    testnet: bool = False,
    *,
    client: DeribitClient | None = None,
    progress: Progress | None = None,
    window_bars: int = WINDOW_BARS,
    delivery_page: int = DELIVERY_PAGE,
    dvol_since: datetime = DVOL_SINCE,
    fallback: IvFallback = DEFAULT_FALLBACK,
) -> SourceMeta:
    """Download what is missing of ``[start, end)`` into source ``deribit`` (or ``-testnet``).

    Parameters
    ----------
    store : Store
        The data directory.
    underlyings : iterable of str
        ``"BTC"`` and/or ``"ETH"``.
    start, end : datetime, date or ISO string, optional
        UTC range of bar open times; ``end`` is exclusive. Default: 2019-01-01 (never before
        2018-08-13, when the first perpetual was listed) to now, floored to ``timeframe``.
    timeframe : str
        ``"1h"`` or ``"1d"``: the base resolution of candles and of the IV index.
    testnet : bool
        Download Deribit's test network into source ``deribit-testnet``.
    client : DeribitClient, optional
        Client to use (tests inject one); by default one is built for mainnet or testnet, at
        the API root in ``$THETADESK_DERIBIT_URL`` when that is set.
    progress : callable, optional
        Called with a :class:`DownloadStep` before each kind starts and after every committed
        window or page; by default a tqdm bar per underlying and kind (on a terminal only).
    window_bars : int
        Bars per request window and per commit to the store.
    delivery_page : int
        Settlement records per request, 1..1000.
    dvol_since : datetime
        DVOL is not asked for before this instant (Deribit has no prints before 2021).
    fallback : IvFallback
        The IV rule for bars without a DVOL print; fixed for the life of a source.

    Returns
    -------
    SourceMeta
        The source's metadata after the download, coverage included.

    Raises
    ------
    ValueError
        Bad arguments, or a source holding another timeframe or fallback rule.
    DownloadError
        A request that still failed after the client's retries.
    """
    if timeframe not in CHART_RESOLUTION:
        raise ValueError(f"timeframe {timeframe!r} is not one of {list(CHART_RESOLUTION)}")
    if isinstance(underlyings, str):
        underlyings = [underlyings]
    coins = tuple(dict.fromkeys(check_underlying(u) for u in underlyings))
    if not coins:
        raise ValueError("no underlying given; choose from BTC, ETH")
    if not (isinstance(window_bars, int) and window_bars >= 1):
        raise ValueError(f"window_bars must be an int >= 1: {window_bars!r}")
    if not 1 <= delivery_page <= 1000:
        raise ValueError(f"delivery_page must be in 1..1000: {delivery_page!r}")
    step_ms = TIMEFRAMES[timeframe] // _MS
    lo, hi = download_range(start, end, step_ms)
    name = SOURCE_TESTNET if testnet else SOURCE_MAINNET
    origin = "deribit-testnet" if testnet else "deribit-mainnet"
    rule = asdict(fallback)
    meta = store.ensure_source(name, origin, LABELS[name], details={"iv_fallback": rule})
    if meta.details.get("iv_fallback") != rule:
        raise ValueError(
            f"source {name!r} was filled with IV fallback {meta.details.get('iv_fallback')}, not "
            f"{rule}; use another --data-dir to keep both"
        )
    for coin in coins:
        held = meta.coverage[coin].candles.timeframe if coin in meta.coverage else None
        if held not in (None, timeframe):
            raise ValueError(f"source {name!r} holds {coin} candles at {held}, not {timeframe}")
    own_client = client is None
    if client is None:
        client = DeribitClient(os.environ.get(URL_ENV) or None, testnet=testnet)
    bars = _Bars() if progress is None else None
    since_ms = _to_ms(as_utc(dvol_since, "dvol_since"))
    job = _Download(
        store,
        name,
        client,
        timeframe,
        progress or bars,
        window_bars=window_bars,
        delivery_page=delivery_page,
        dvol_since_ms=-(-since_ms // step_ms) * step_ms,  # first bar at or after dvol_since
        fallback=fallback,
    )
    try:
        for coin in coins:
            job.history(coin, lo, hi)
            job.delivery(coin, lo, hi)
    finally:
        if own_client:
            client.close()
        if bars is not None:
            bars.close()
    return store.read_meta(name)


def download_range(
    start: datetime | date | str | None,
    end: datetime | date | str | None,
    step_ms: int,
    now: datetime | None = None,
) -> Span:
    """Return ``[start_ms, end_ms)`` on the bar grid: complete bars only, clamped to the listing.

    ``start`` (default 2019-01-01, never before 2018-08-13) is rounded up to the grid, ``end``
    (default ``now``) is rounded down and capped at ``now``, so every bar ends by ``end``.
    """
    now = datetime.now(UTC) if now is None else as_utc(now, "now")
    lo = max(as_utc(start, "start") if start is not None else DEFAULT_START, PERPETUAL_SINCE)
    lo_ms = -(-_to_ms(lo) // step_ms) * step_ms
    hi = now if end is None else min(as_utc(end, "end"), now)
    hi_ms = _to_ms(hi) // step_ms * step_ms
    if lo_ms >= hi_ms:
        raise ValueError(
            f"nothing to download: start {_iso(lo_ms)} is not before end {_iso(hi_ms)} "
            "(end is capped at now and both are rounded to whole bars)"
        )
    return lo_ms, hi_ms


# ---- the job ---------------------------------------------------------------------------------


class _Download:
    """One run: fetch, write and record the missing spans of each underlying."""

    def __init__(
        self,
        store: Store,
        source: str,
        client: DeribitClient,
        timeframe: str,
        progress: Progress | None,
        *,
        window_bars: int,
        delivery_page: int,
        dvol_since_ms: int,
        fallback: IvFallback,
    ) -> None:
        self.store, self.source, self.client = store, source, client
        self.timeframe, self.progress = timeframe, progress
        self.step_ms = TIMEFRAMES[timeframe] // _MS
        self.window_bars, self.delivery_page = window_bars, delivery_page
        self.dvol_since_ms, self.fallback = dvol_since_ms, fallback
        fetched = store.read_meta(source).details.get("fetched", {})
        self.fetched: dict[str, dict[str, list[list[str]]]] = {
            coin: dict(kinds) for coin, kinds in fetched.items()
        }

    # -- spans asked for -----------------------------------------------------------------------
    def _done(self, coin: str, key: str) -> list[Span]:
        spans = self.fetched.get(coin, {}).get(key, [])
        return [(_to_ms(as_utc(a, key)), _to_ms(as_utc(b, key))) for a, b in spans]

    def _record(self, coin: str, key: str, spans: list[Span]) -> None:
        self.fetched.setdefault(coin, {})[key] = [[_iso(a), _iso(b)] for a, b in spans]
        self.store.set_details(self.source, fetched=self.fetched)

    def _report(self, coin: str, kind: str, done: int, total: int, unit: str) -> None:
        if self.progress is not None:
            self.progress(DownloadStep(self.source, coin, kind, done, total, unit))

    # -- candles and IV ------------------------------------------------------------------------
    def history(self, coin: str, lo: int, hi: int) -> None:
        """Fetch the missing windows of candles and DVOL, writing the IV index as it goes."""
        key = f"history_{self.timeframe}"
        todo = subtract((lo, hi), self._done(coin, key))
        total = sum(b - a for a, b in todo) // self.step_ms
        if not total:
            return
        self._report(coin, "history", 0, total, "bars")
        handled = 0
        for seg_lo, seg_hi in todo:
            for b0 in range(seg_lo, seg_hi, self.window_bars * self.step_ms):
                b1 = min(b0 + self.window_bars * self.step_ms, seg_hi)
                self._history_window(coin, key, b0, b1, last=b1 == hi)
                handled += (b1 - b0) // self.step_ms
                self._report(coin, "history", handled, total, "bars")

    def _history_window(self, coin: str, key: str, b0: int, b1: int, *, last: bool) -> None:
        instrument = f"{coin}-PERPETUAL"
        what = f"{instrument} {self.timeframe} candles and {coin} DVOL {_iso(b0)} to {_iso(b1)}"
        try:
            bars = self._fetch_candles(instrument, b0, b1)
            dvol = self._fetch_dvol(coin, b0, b1, bars)
        except DeribitError as exc:
            raise DownloadError(None, f"{self.source}: fetching {what} failed: {exc}") from exc
        if not bars.is_empty():
            self.store.write_candles(self.source, coin, bars, self.timeframe)
        done_hi = b1
        if last:
            # The newest bars or prints may not be published yet: leave the empty tail to re-ask.
            ends = [max(_ms(bars), default=b0 - self.step_ms)]
            if not dvol.is_empty() or self._has_real_iv(coin):
                ends.append(max(_ms(dvol), default=b0 - self.step_ms))
            done_hi = min(b1, *(t + self.step_ms for t in ends))
        done = union([*self._done(coin, key), (b0, done_hi)])
        iv = self._iv_rows(coin, dvol, done)
        if not iv.is_empty():
            self.store.write_iv(self.source, coin, iv)
        self._record(coin, key, done)

    def _fetch_candles(self, instrument: str, b0: int, b1: int) -> pl.DataFrame:
        """Complete bars opening in ``[b0, b1)``; any missing bars are asked for once more."""
        resolution = CHART_RESOLUTION[self.timeframe]

        def fetch(a: int, b: int) -> pl.DataFrame:
            chunks = self.client.iter_chart_windows(
                instrument, a, b, resolution, window_candles=self.window_bars
            )
            return candles_from_chart(chunks, resolution, b1)

        return _fetch_twice(fetch, b0, b1 - 1, range(b0, b1, self.step_ms))

    def _fetch_dvol(self, coin: str, b0: int, b1: int, bars: pl.DataFrame) -> pl.DataFrame:
        """DVOL closes of ``[b0, b1)``; bar times without a print are asked for once more."""
        since = max(b0, self.dvol_since_ms)
        if since >= b1:
            return pl.DataFrame(schema=IV_SCHEMA)
        resolution = DVOL_RESOLUTION[self.timeframe]

        def fetch(a: int, b: int) -> pl.DataFrame:
            chunks = self.client.iter_volatility_index(
                coin, a, b, resolution, window_points=self.window_bars
            )
            return iv_from_dvol(chunks, resolution, b1)

        return _fetch_twice(fetch, since, b1 - 1, [t for t in _ms(bars) if t >= since])

    def _has_real_iv(self, coin: str) -> bool:
        meta = self.store.read_meta(self.source)
        return bool(coin in meta.coverage and meta.coverage[coin].iv.real_rows)

    def _iv_rows(self, coin: str, dvol: pl.DataFrame, done: list[Span]) -> pl.DataFrame:
        """New IV rows: the DVOL prints, plus the fallback for bars inside ``done`` lacking one."""
        path = self.store.candles_path(self.source, coin, self.timeframe)
        if not path.is_file():
            return dvol
        with reading(path):
            bars = pl.read_parquet(path, columns=["time", "close"])
        fallback = fallback_iv(bars, self.fallback)
        have = dvol.get_column("time")
        iv_path = self.store.iv_path(self.source, coin)
        if iv_path.is_file():
            with reading(iv_path):
                stored = pl.read_parquet(iv_path, columns=["time"]).get_column("time")
            have = pl.concat([have, stored])
        fallback = fallback.filter(_within(done) & ~pl.col("time").is_in(have.implode()))
        return pl.concat([dvol, fallback]).sort("time")

    # -- settlement prices ---------------------------------------------------------------------
    def delivery(self, coin: str, lo: int, hi: int) -> None:
        """Page newest-first through the settlement prices until the missing spans are covered."""
        todo = subtract((lo, hi), self._done(coin, "delivery"))
        if not todo:
            return
        total = _days(todo)
        self._report(coin, "delivery", 0, total, "days")
        index_name = f"{coin.lower()}_usd"
        offset, newest = 0, None
        while True:
            try:
                page = self.client.get_delivery_prices(index_name, offset, self.delivery_page)
            except DeribitError as exc:
                raise DownloadError(
                    None,
                    f"{self.source}: fetching {index_name} settlement prices at offset {offset} "
                    f"failed: {exc}",
                ) from exc
            settlements = settlements_from_delivery_prices(page)
            keep = settlements.filter(_within(todo))
            if not keep.is_empty():
                self.store.write_delivery(self.source, coin, keep)
            times = _ms(settlements)
            newest = max(times) if newest is None and times else newest
            offset += len(times)
            exhausted = not times or offset >= page["records_total"]
            known_lo = lo if exhausted else min(times)
            # Settlements after the newest one published are not known yet: re-ask next time.
            known_hi = lo if newest is None else min(hi, newest + _DAY_MS)
            if known_hi > known_lo:
                spans = union([*self._done(coin, "delivery"), (max(known_lo, lo), known_hi)])
                self._record(coin, "delivery", spans)
            left = _days([(a, min(b, known_lo)) for a, b in todo if a < known_lo])
            self._report(coin, "delivery", max(total - left, 0), total, "days")
            if exhausted or min(times) <= todo[0][0]:
                return


# ---- helpers ---------------------------------------------------------------------------------


class _Bars:
    """Default progress: one tqdm bar per underlying and kind, drawn only on a terminal."""

    def __init__(self) -> None:
        self.bars: dict[tuple[str, str], tqdm] = {}

    def __call__(self, step: DownloadStep) -> None:
        key = (step.underlying, step.kind)
        if key not in self.bars:
            desc = f"{step.source} {step.underlying} {step.kind}"
            self.bars[key] = tqdm(total=step.total, desc=desc, unit=step.unit, disable=None)
        bar = self.bars[key]
        bar.update(step.done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def union(spans: Iterable[Span]) -> list[Span]:
    """Merge overlapping or touching ``[a, b)`` spans; empty ones are dropped."""
    out: list[Span] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract(target: Span, spans: Iterable[Span]) -> list[Span]:
    """The parts of ``target`` not covered by ``spans``, in order."""
    out, cursor = [], target[0]
    for a, b in union(spans):
        if b <= cursor or a >= target[1]:
            continue
        if a > cursor:
            out.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < target[1]:
        out.append((cursor, target[1]))
    return out


def _fetch_twice(
    fetch: Callable[[int, int], pl.DataFrame], a: int, b: int, wanted: Iterable[int]
) -> pl.DataFrame:
    """Return ``fetch(a, b)`` plus what asking once more for the span of missing times adds.

    ``wanted`` are the times (ms, ascending) the frame should hold; Deribit occasionally answers
    a valid window with nothing, so the span from the first to the last missing one is asked for
    again, and rows already held keep their first value.
    """
    frame = fetch(a, b)
    have = set(_ms(frame))
    holes = [t for t in wanted if t not in have]
    if holes:
        again = fetch(holes[0], holes[-1])
        frame = pl.concat([frame, again]).unique("time", keep="first").sort("time")
    return frame


def _within(spans: Iterable[Span]) -> pl.Expr:
    """True where ``time`` lies in one of the ``[a, b)`` spans."""
    inside = pl.lit(False)
    for a, b in spans:
        inside = inside | pl.col("time").is_between(_dt(a), _dt(b), closed="left")
    return inside


def _ms(frame: pl.DataFrame) -> list[int]:
    """The ``time`` column as ms since the epoch."""
    return frame.get_column("time").dt.epoch("ms").to_list()


def _days(spans: list[Span]) -> int:
    return sum(-(-(b - a) // _DAY_MS) for a, b in spans)


def _to_ms(value: datetime) -> int:
    return (value - EPOCH) // _MS


def _dt(ms: int) -> datetime:
    return EPOCH + ms * _MS


def _iso(ms: int) -> str:
    return _dt(ms).isoformat()

"""Page through Deribit's history endpoints: candles by forward time windows, DVOL by continuation.

Both iterators walk forward in windows and yield one chunk per non-empty window, so a downloader can
write and report progress as it goes; across chunks every timestamp appears once, in increasing
order. Inside a window they cope with servers that cap a reply: candles missing at a window's edge
are fetched again for the uncovered sub-span (whichever end the server kept), and DVOL follows
``continuation`` backwards (pass it as the next ``end_timestamp`` until it is null). An empty window
is asked for a second time before it is accepted, because Deribit occasionally answers a valid
window with no data.
"""

from collections.abc import Iterator
from numbers import Integral
from typing import Any, Protocol

from cache.deribit.errors import ResponseFormatError

CHART_RESOLUTION_MINUTES = {
    "1": 1,
    "3": 3,
    "5": 5,
    "10": 10,
    "15": 15,
    "30": 30,
    "60": 60,
    "120": 120,
    "180": 180,
    "360": 360,
    "720": 720,
    "1D": 1440,
}
DVOL_RESOLUTION_SECONDS = {"1": 1, "60": 60, "3600": 3600, "43200": 43200, "1D": 86400}
DEFAULT_WINDOW = 1000  # candles or DVOL points per request: what Deribit is reported to serve


class HistorySource(Protocol):
    """The two client methods the iterators need (``DeribitClient`` provides them)."""

    def get_tradingview_chart_data(
        self, instrument_name: str, start_ms: int, end_ms: int, resolution: int | str
    ) -> dict[str, Any]: ...

    def get_volatility_index_data(
        self, currency: str, start_ms: int, end_ms: int, resolution: int | str
    ) -> dict[str, Any]: ...


def chart_resolution(resolution: int | str) -> tuple[str, int]:
    """Return Deribit's spelling of a candle resolution and its length in ms.

    ``resolution`` is minutes (``60``, ``"60"``) or ``"1D"``; 1440 minutes means ``"1D"``.
    """
    return _resolution(resolution, CHART_RESOLUTION_MINUTES, 60_000, "candle resolution (minutes)")


def dvol_resolution(resolution: int | str) -> tuple[str, int]:
    """Return Deribit's spelling of a DVOL resolution and its length in ms.

    ``resolution`` is seconds (``3600``, ``"3600"``) or ``"1D"``; 86400 seconds means ``"1D"``.
    """
    return _resolution(resolution, DVOL_RESOLUTION_SECONDS, 1000, "DVOL resolution (seconds)")


def check_window(start_ms: int, end_ms: int) -> tuple[int, int]:
    """Return ``(start_ms, end_ms)`` as ints; ValueError unless ``0 <= start_ms <= end_ms``.

    Any integral type is accepted (NumPy integers included); floats and bools are not, because a
    fractional millisecond timestamp is a unit mistake.
    """
    for name, value in (("start_ms", start_ms), ("end_ms", end_ms)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
            raise ValueError(f"{name} must be a non-negative int of ms since the epoch: {value!r}")
    if start_ms > end_ms:
        raise ValueError(f"start_ms {start_ms} is after end_ms {end_ms}")
    return int(start_ms), int(end_ms)


def iter_chart_windows(
    source: HistorySource,
    instrument_name: str,
    start_ms: int,
    end_ms: int,
    resolution: int | str,
    *,
    window_candles: int = DEFAULT_WINDOW,
) -> Iterator[dict[str, Any]]:
    """Yield candles of ``[start_ms, end_ms]`` (by open time) in forward windows.

    Each chunk has the shape of :meth:`DeribitClient.get_tradingview_chart_data` with
    ``status == "ok"``; windows with no candles yield nothing.
    """
    start_ms, end_ms = check_window(start_ms, end_ms)
    _, res_ms = chart_resolution(resolution)
    if window_candles < 1:
        raise ValueError(f"window_candles must be >= 1: {window_candles}")
    last_tick = -1
    for window_start, window_end in _windows(start_ms, end_ms, window_candles * res_ms):
        pieces = _chart_span(source, instrument_name, window_start, window_end, resolution, res_ms)
        chunk = _merge_candles(pieces, after=last_tick)
        if chunk["ticks"]:
            last_tick = chunk["ticks"][-1]
            yield chunk


def iter_volatility_index(
    source: HistorySource,
    currency: str,
    start_ms: int,
    end_ms: int,
    resolution: int | str,
    *,
    window_points: int = DEFAULT_WINDOW,
) -> Iterator[list[list[float]]]:
    """Yield DVOL rows ``[ts_ms, open, high, low, close]`` of ``[start_ms, end_ms]`` in windows.

    Inside each window ``continuation`` is followed backwards until null; rows are de-duplicated
    on their timestamp (pages may overlap by one point) and yielded in time order.
    """
    start_ms, end_ms = check_window(start_ms, end_ms)
    _, res_ms = dvol_resolution(resolution)
    if window_points < 1:
        raise ValueError(f"window_points must be >= 1: {window_points}")
    last_ts = -1
    for window_start, window_end in _windows(start_ms, end_ms, window_points * res_ms):
        rows = _dvol_span(source, currency, window_start, window_end, resolution)
        rows = [row for row in rows if row[0] > last_ts]
        if rows:
            last_ts = rows[-1][0]
            yield rows


def _resolution(resolution: int | str, table: dict[str, int], unit_ms: int, what: str):
    key = str(resolution).strip().upper()
    if key not in table:
        by_length = {length: name for name, length in table.items()}
        if key.isdigit() and int(key) in by_length:
            key = by_length[int(key)]
        else:
            raise ValueError(f"{what} must be one of {list(table)}: {resolution!r}")
    return key, table[key] * unit_ms


def _windows(start_ms: int, end_ms: int, span_ms: int) -> Iterator[tuple[int, int]]:
    """Split ``[start_ms, end_ms]`` into consecutive inclusive windows of ``span_ms``."""
    window_start = start_ms
    while window_start <= end_ms:
        window_end = min(window_start + span_ms - 1, end_ms)
        yield window_start, window_end
        window_start = window_end + 1


def _chart_span(source, instrument_name, start_ms, end_ms, resolution, res_ms) -> list[dict]:
    """Fetch every candle of one window, re-asking for sub-spans a capped reply left out."""
    pieces = []
    pending = [(start_ms, end_ms, True)]
    while pending:
        lo, hi, confirm_empty = pending.pop()
        reply = source.get_tradingview_chart_data(instrument_name, lo, hi, resolution)
        if not reply["ticks"] and confirm_empty:
            reply = source.get_tradingview_chart_data(instrument_name, lo, hi, resolution)
        keep = [i for i, tick in enumerate(reply["ticks"]) if lo <= tick <= hi]
        if not keep:
            continue
        pieces.append({k: [v[i] for i in keep] for k, v in reply.items() if k != "status"})
        first, last = reply["ticks"][keep[0]], reply["ticks"][keep[-1]]
        if first > -(-lo // res_ms) * res_ms:
            pending.append((lo, first - 1, False))
        if last < hi // res_ms * res_ms:
            pending.append((last + 1, hi, False))
    return pieces


def _merge_candles(pieces: list[dict], *, after: int) -> dict[str, Any]:
    """Merge candle pieces into one chunk sorted by tick, keeping ticks > ``after`` once."""
    columns = ("ticks", "open", "high", "low", "close", "volume", "cost")
    by_tick: dict[int, tuple] = {}
    for piece in pieces:
        for row in zip(*(piece[c] for c in columns), strict=True):
            if row[0] > after:
                by_tick.setdefault(row[0], row)
    rows = [by_tick[t] for t in sorted(by_tick)]
    chunk: dict[str, Any] = {c: [row[i] for row in rows] for i, c in enumerate(columns)}
    chunk["status"] = "ok" if rows else "no_data"
    return chunk


def _dvol_span(source, currency, start_ms, end_ms, resolution) -> list[list[float]]:
    """Fetch every DVOL point of one window by following ``continuation`` backwards."""
    by_ts: dict[int, list[float]] = {}
    page_end = end_ms
    page = source.get_volatility_index_data(currency, start_ms, page_end, resolution)
    if not page["data"]:
        page = source.get_volatility_index_data(currency, start_ms, page_end, resolution)
    while True:
        for row in page["data"]:
            if start_ms <= row[0] <= end_ms:
                by_ts.setdefault(row[0], row)
        continuation = page["continuation"]
        if continuation is None or continuation < start_ms:
            break
        if continuation >= page_end:
            raise ResponseFormatError(
                None,
                f"get_volatility_index_data: continuation {continuation} does not move back "
                f"from end_timestamp {page_end}",
            )
        page_end = continuation
        page = source.get_volatility_index_data(currency, start_ms, page_end, resolution)
    return [by_ts[ts] for ts in sorted(by_ts)]

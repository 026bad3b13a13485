"""Fit the spread model to real Deribit chain snapshots, and measure it out of sample.

The data are the snapshot frames of ``../shared/data/deribit_chain_snapshots`` (one row per
instrument per snapshot: mark, best bid and ask in coin, mark IV, forward, strike, expiry). For
each underlying and side:

1. **Rows**: calls quoted on both sides, with delta (Black-76 on the row's forward and mark IV)
   and days to expiry in the fitting band. Rows of the early recorder without ``strike`` or
   ``expiry_timestamp`` are skipped (they are 20 minutes of 2025-12-07, outside the usable days).
2. **Fit**: ``gap = mark − bid`` (or ``ask − mark``) on the terms of
   :data:`engine.enums.SpreadFeature`, by least absolute *relative* error: iteratively
   reweighted least squares of ``gap / mark`` on ``features / mark``, which minimises
   ``Σ |predicted − quoted| / mark``, the error measured below.
3. **Out of sample**: leave one UTC day out; for each day, fit on the others and predict that
   day. Reported per side: the median and 90th percentile of ``|predicted − quoted| / mark``,
   for the model's price (``model``) and for the price on the tick grid as the fills use it
   (``on_tick``), beside a constant ratio ``gap = c · mark`` fitted the same way (``baseline``).
"""

import numpy as np
import polars as pl

from cache.timeutil import SECONDS_PER_DAY
from engine.enums import N_SPREAD_FEATURES, N_SPREAD_PARAMS, SpreadParam
from engine.fills.nb import model_bid_ask_array_nb, spread_features_array_nb
from engine.instruments.contracts import OPTION_SPECS
from engine.pricing import delta_usd

DELTA_BAND = (0.05, 0.5)
DTE_BAND = (1.0, 30.0)  # days
IRLS_ITERATIONS = 100
SIDES = ("bid", "ask")
SHIFTS = np.linspace(-1.0, 1.0, 41)  # ticks


def chain_quotes(frame: pl.DataFrame) -> pl.DataFrame:
    """Calls of a snapshot frame quoted on both sides, with ``delta``, ``dte`` and ``day``.

    Rows without ``strike`` or ``expiry_timestamp`` (the early recorder) are skipped; the band
    filter is left to the caller.
    """
    df = frame.filter(
        (pl.col("option_type") == "C")
        & pl.col("strike").is_not_null()
        & pl.col("expiry_timestamp").is_not_null()
        & (pl.col("best_bid_price") > 0)
        & (pl.col("best_ask_price") > 0)
        & (pl.col("mark_price") > 0)
        & (pl.col("mark_iv") > 0)
        & (pl.col("underlying_price") > 0)
    )
    now_s = df.get_column("harvest_time").dt.epoch("us").to_numpy() / 1e6
    dte = (df.get_column("expiry_timestamp").to_numpy() - now_s) / SECONDS_PER_DAY
    delta = delta_usd(
        df.get_column("underlying_price").to_numpy(),
        df.get_column("strike").to_numpy(),
        np.maximum(dte, 0.0) / 365.0,
        df.get_column("mark_iv").to_numpy() / 100.0,
        True,
    )
    return df.with_columns(
        delta=pl.Series(delta, dtype=pl.Float64),
        dte=pl.Series(dte, dtype=pl.Float64),
        day=pl.col("harvest_time").dt.date(),
    ).filter(pl.col("dte") > 0)


def in_band(quotes: pl.DataFrame, delta=DELTA_BAND, dte=DTE_BAND) -> pl.DataFrame:
    """The quotes whose delta and days to expiry lie in the bands (inclusive)."""
    return quotes.filter(pl.col("delta").is_between(*delta) & pl.col("dte").is_between(*dte))


def features(underlying: str, mark, delta, dte) -> np.ndarray:
    """The spread terms (n × ``N_SPREAD_FEATURES``) of calls, as the kernels compute them."""
    mark, delta, dte = (np.ascontiguousarray(a, dtype=np.float64) for a in (mark, delta, dte))
    out = np.empty((mark.size, N_SPREAD_FEATURES))
    spread_features_array_nb(mark, delta, dte, OPTION_SPECS[underlying].tick_params(), out)
    return out


def l1_relative_fit(x: np.ndarray, gap: np.ndarray, mark: np.ndarray) -> np.ndarray:
    """Coefficients minimising ``Σ |x·β − gap| / mark`` (iteratively reweighted least squares)."""
    a, y = x / mark[:, None], gap / mark
    w = np.ones(y.size)
    beta = np.zeros(x.shape[1])
    for _ in range(IRLS_ITERATIONS):
        beta = np.linalg.lstsq(a * w[:, None], y * w, rcond=None)[0]
        w = 1.0 / np.sqrt(np.maximum(np.abs(y - a @ beta), 1e-6))
    return beta


def _side_arrays(q: pl.DataFrame, side: str):
    mark = q.get_column("mark_price").to_numpy()
    quoted = q.get_column(f"best_{side}_price").to_numpy()
    gap = mark - quoted if side == "bid" else quoted - mark
    return mark, quoted, gap, q.get_column("delta").to_numpy(), q.get_column("dte").to_numpy()


def _params(coefs: dict[str, np.ndarray], shifts=(0.0, 0.0)) -> np.ndarray:
    p = np.zeros(N_SPREAD_PARAMS)
    p[SpreadParam.delta_lo], p[SpreadParam.delta_hi] = DELTA_BAND
    p[SpreadParam.dte_lo], p[SpreadParam.dte_hi] = DTE_BAND
    p[SpreadParam.bid_tick_shift], p[SpreadParam.ask_tick_shift] = shifts
    p[SpreadParam.bid : SpreadParam.bid + N_SPREAD_FEATURES] = coefs["bid"]
    p[SpreadParam.ask : SpreadParam.ask + N_SPREAD_FEATURES] = coefs["ask"]
    return p


def quote_model(underlying: str, quotes: pl.DataFrame, params: np.ndarray):
    """``(bid, ask)`` the model gives the quotes' calls, on the tick grid (as fills use them)."""
    m = quotes.get_column("mark_price").to_numpy()
    bid, ask = np.empty(m.size), np.empty(m.size)
    model_bid_ask_array_nb(
        m,
        quotes.get_column("delta").to_numpy(),
        quotes.get_column("dte").to_numpy(),
        OPTION_SPECS[underlying].tick_params(),
        params,
        bid,
        ask,
    )
    return bid, ask


def fit_params(underlying: str, quotes: pl.DataFrame) -> np.ndarray:
    """One underlying's parameters (slots of ``SpreadParam``) fitted on in-band quotes.

    The coefficients first (least relative error of the unrounded gap), then each side's tick
    shift: the one of ``SHIFTS`` whose prices on the grid are nearest the quotes on average.
    """
    coefs = {}
    for side in SIDES:
        m, _, gap, d, dte = _side_arrays(quotes, side)
        coefs[side] = l1_relative_fit(features(underlying, m, d, dte), gap, m)
    m = quotes.get_column("mark_price").to_numpy()
    best = []
    for k, side in enumerate(SIDES):
        quoted = quotes.get_column(f"best_{side}_price").to_numpy()
        cost = []
        for shift in SHIFTS:
            both = [0.0, 0.0]
            both[k] = shift
            priced = quote_model(underlying, quotes, _params(coefs, both))[k]
            cost.append(float(np.mean(_errors(priced, quoted, m))))
        best.append(float(SHIFTS[int(np.argmin(cost))]))
    return _params(coefs, tuple(best))


def _errors(pred: np.ndarray, quoted: np.ndarray, mark: np.ndarray) -> np.ndarray:
    return np.abs(pred - quoted) / mark


def _summary(err: np.ndarray) -> dict:
    return {
        "median": round(float(np.median(err)), 5),
        "p90": round(float(np.quantile(err, 0.9)), 5),
    }


def leave_one_day_out(underlying: str, quotes: pl.DataFrame) -> dict[str, dict]:
    """Out-of-sample errors per side (shares of the mark): model, on the tick grid, baseline."""
    days = sorted(quotes.get_column("day").unique().to_list())
    errs = {s: {"model": [], "on_tick": [], "baseline": []} for s in SIDES}
    for day in days:
        train, test = quotes.filter(pl.col("day") != day), quotes.filter(pl.col("day") == day)
        if train.is_empty() or test.is_empty():
            continue
        params = fit_params(underlying, train)
        on_tick = quote_model(underlying, test, params)
        for k, side in enumerate(SIDES):
            m, _, gap, _, _ = _side_arrays(train, side)
            ratio = l1_relative_fit(m[:, None], gap, m)[0]
            first = SpreadParam.bid if side == "bid" else SpreadParam.ask
            coefs = params[first : first + N_SPREAD_FEATURES]
            mt, qt, _, dt, dtet = _side_arrays(test, side)
            g = np.maximum(features(underlying, mt, dt, dtet) @ coefs, 0.0)
            sign = -1.0 if side == "bid" else 1.0
            errs[side]["model"].append(_errors(mt + sign * g, qt, mt))
            errs[side]["baseline"].append(_errors(mt + sign * ratio * mt, qt, mt))
            errs[side]["on_tick"].append(_errors(on_tick[k], qt, mt))
    return {
        side: {kind: _summary(np.concatenate(v)) for kind, v in by_kind.items()}
        | {"days": len(days)}
        for side, by_kind in errs.items()
    }


def fit_spread(quotes: pl.DataFrame, underlying: str) -> tuple[np.ndarray, dict]:
    """Parameters fitted on all in-band quotes of one underlying, and their out-of-sample errors."""
    if quotes.is_empty():
        raise ValueError(f"no {underlying} call quoted on both sides in the fitting band")
    return fit_params(underlying, quotes), leave_one_day_out(underlying, quotes)

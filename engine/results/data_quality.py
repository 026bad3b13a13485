"""How far a run's numbers can be trusted: the facts and warnings of its summary's ``data`` block.

The replay itself cannot tell a reader that its IV was partly estimated, that it filled at the
mark or that its fee schedule stands for dates it may not have been in force: these functions
say it, in plain sentences, from the run's market, config and trades. They are pure; the
simulator calls them and the dashboard and the CLI show what they return.
"""

import math

import numpy as np
import polars as pl

from engine.config import CallSimulationConfig
from engine.fees import fee_schedule_facts
from engine.market import RunMarket

OPTIMISTIC_FILL_MODEL = "mark"  # fills at the model mark pay no spread
FILL_MODEL_LABELS = {  # how the dashboard and the CLI name each fill model
    "bid_ask": "bid/ask (sales at the bid, buy-backs at the ask)",
    OPTIMISTIC_FILL_MODEL: "mark: optimistic (no bid/ask spread paid)",
}
STALE_SETTLEMENT_COLUMN = "settlement_stale"  # trades: the settlement price is over a bar old


def iv_real_share(iv_is_real: np.ndarray, is_decision: np.ndarray) -> float:
    """Share (0..1) of the decision instants whose IV index is a real DVOL print; NaN if none."""
    decided = np.asarray(iv_is_real, dtype=bool)[np.asarray(is_decision, dtype=bool)]
    return float(decided.mean()) if len(decided) else math.nan


def stale_settlements(trades: pl.DataFrame) -> int:
    """Trades settled at a price older than one base bar (0 when the table does not flag them)."""
    if STALE_SETTLEMENT_COLUMN not in trades.columns:
        return 0
    return int(trades.get_column(STALE_SETTLEMENT_COLUMN).sum())


def _percent(share: float) -> str:
    """A share as a whole percentage that never rounds a part to none or to all of it."""
    pct = share * 100.0
    if 0.0 < pct < 1.0:
        return "less than 1 %"
    if 99.0 < pct < 100.0:
        return "more than 99 %"
    return f"{pct:.0f} %"


def chain_facts(market: RunMarket, counts: dict[str, int]) -> dict | None:
    """The ``chains`` block of a run on real chains (None on a model chain).

    Snapshots read and stored, the staleness limit, bars without any data, gaps (instants and
    decision instants without a snapshot within the limit), and the replay's ``counts``
    (:meth:`engine.replay.Replayer.chain_counts`).
    """
    ch = market.chains
    if ch is None:
        return None
    bar_ns = int(np.median(np.diff(market.t_ns))) if len(market.t_ns) > 1 else 1
    expected = int((market.t_ns[-1] - market.t_ns[0]) // bar_ns) + 1
    return {
        "source": ch.source,
        "snapshots_read": len(ch.snap_ns),
        "snapshots_stored": ch.snapshots_stored,
        "max_age_minutes": ch.max_age_ns // 60_000_000_000,
        "instants": len(market.t_ns),
        "missing_instants": expected - len(market.t_ns),
        "gap_instants": ch.gaps(),
        "decisions": int(market.is_decision.sum()),
        "gap_decisions": ch.gaps(market.is_decision),
        **counts,
    }


def market_statements(market: RunMarket, fill_model: str) -> dict[str, list[str]]:
    """What the run took from recorded data and what it modelled, in plain sentences."""
    settlement = "settlement prices: Deribit delivery prices where the source has them, else the "
    settlement += "index rule (the last hourly close by 08:00 UTC)"
    if market.chains is not None:
        fills = "the recorded mark" if fill_model == OPTIMISTIC_FILL_MODEL else (
            "the recorded best bid (sales) and best ask (buy-backs)"
        )  # fmt: skip
        return {
            "recorded": [
                f"option quotes: the calls listed in source {market.chains.source!r}'s snapshots, "
                "with their mark, mark IV, forward, bid and ask",
                f"fills at {fills}",
                "spot: the source's candles",
            ],
            "modelled": [
                "delta: Black-76 from the recorded mark IV and forward (Deribit publishes its own)",
                settlement,
                "fill sizes: the whole order fills at the top of book (its size is not checked)",
            ],
        }
    recorded = [] if market.data_is_synthetic else ["spot and the IV index: the source's data"]
    return {
        "recorded": recorded,
        "modelled": [
            "option quotes: calls Deribit would list, priced on the calibrated vol surface from "
            "the IV index",
            "fills: at the mark (optimistic)"
            if fill_model == OPTIMISTIC_FILL_MODEL
            else "fills: bid and ask from the spread model calibrated on real chains",
            settlement,
        ]
        + (["the whole market: synthetic"] if market.data_is_synthetic else []),
    }


def _chain_warnings(chains: dict) -> list[str]:
    out = []
    if chains["missing_instants"]:
        out.append(
            f"real chains: {chains['missing_instants']} bars of the run hold no data at all (the "
            "recording has holes): the run has no instant there"
        )
    if chains["gap_decisions"]:
        out.append(
            f"real chains: {chains['gap_decisions']} of {chains['decisions']} decision instants "
            f"had no snapshot within {chains['max_age_minutes']} min (gaps: nothing sold there)"
        )
    if chains["no_ask_instants"]:
        out.append(
            f"real chains: a take-profit found no ask to buy back at on "
            f"{chains['no_ask_instants']} instant(s) and held the call"
        )
    if chains["unquoted_instants"]:
        out.append(
            f"real chains: the open call was not quoted at {chains['unquoted_instants']} "
            "instant(s) and kept its last recorded mark"
        )
    return out


def _iv_warning(origin: str, synthetic: bool, real_share: float) -> str | None:
    if synthetic:
        return "SYNTHETIC market: prices, IV and settlement prices are generated, not Deribit data"
    if math.isnan(real_share) or real_share >= 1.0:
        return None
    estimated = _percent(1.0 - real_share)
    if origin.startswith("deribit"):
        return f"{estimated} of IV estimated from realized vol (no DVOL print)"
    return f"{estimated} of IV not a Deribit DVOL print ({origin} data)"


def data_warnings(
    *,
    origin: str,
    synthetic: bool,
    iv_real_share: float,
    fill_model: str,
    stale_settlements: int,
    fee_statement: str,
    chains: dict | None = None,
) -> list[str]:
    """The warnings a run's summary shows, most serious first, each a plain sentence.

    Parameters
    ----------
    origin, synthetic
        The data source's origin (``deribit-mainnet``, ``import``, …) and synthetic flag.
    iv_real_share
        :func:`iv_real_share` of the run (NaN without decisions).
    fill_model
        ``bid_ask`` or ``mark`` (the latter is optimistic: no spread is paid).
    stale_settlements
        Trades whose settlement price is older than one base bar.
    fee_statement
        The fee schedule's sentence (:func:`engine.fees.fee_schedule_facts`), always shown.
    chains
        The run's :func:`chain_facts` on real chains: its gaps and unfilled take-profits are
        warned of, and the IV index (context only there) is not.
    """
    out = []
    iv = None if chains is not None else _iv_warning(origin, synthetic, iv_real_share)
    if iv:
        out.append(iv)
    if chains is not None:
        out.extend(_chain_warnings(chains))
    if fill_model == OPTIMISTIC_FILL_MODEL:
        out.append(f"fills at {FILL_MODEL_LABELS[OPTIMISTIC_FILL_MODEL]}")
    if stale_settlements:
        noun = "price" if stale_settlements == 1 else "prices"
        out.append(f"{stale_settlements} settlement {noun} older than one bar")
    out.append(fee_statement)
    return out


def quality_facts(
    market: RunMarket,
    cfg: CallSimulationConfig,
    trades: pl.DataFrame,
    *,
    origin: str,
    calibration_id: str | None,
    chain_counts: dict[str, int] | None = None,
) -> dict:
    """The data block's facts about trust: the option market, fill model, calibration, IV, fees,
    what was recorded and what modelled, and the warnings.

    ``origin`` is the data source's (``deribit-mainnet``, ``synthetic``, ``import``, …).
    ``iv_real_share`` is None (JSON ``null``) for a run without decision instants.
    ``chain_counts`` are the replay's counts on real chains (see :func:`chain_facts`).
    """
    fill_model = cfg.fill_model
    real = iv_real_share(market.iv_is_real, market.is_decision)
    fees = fee_schedule_facts(cfg.fees, cfg.start)
    chains = chain_facts(market, chain_counts or {"no_ask_instants": 0, "unquoted_instants": 0})
    return {
        "option_market": "model" if chains is None else "chains",
        "chains": chains,
        **market_statements(market, fill_model),
        "fill_model": fill_model,
        "calibration_id": calibration_id,
        "iv_real_share": None if math.isnan(real) else real,
        "fee_schedule": fees,
        "warnings": data_warnings(
            origin=origin,
            synthetic=market.data_is_synthetic,
            iv_real_share=real,
            fill_model=fill_model,
            stale_settlements=stale_settlements(trades),
            fee_statement=fees["statement"],
            chains=chains,
        ),
    }

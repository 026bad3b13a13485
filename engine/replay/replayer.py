"""Replayer: drive the replay kernel chunk by chunk and turn its records into tables.

The kernel (:mod:`engine.replay.nb`) runs chunk by chunk, so the driver can publish steps and
progress and honour a cancel flag between chunks. Outputs are polars tables whose columns are
documented in ``docs/data.md``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from cache.timeutil import NS_PER_DAY, from_ns
from engine.chains import replay_arrays
from engine.config import CallSimulationConfig
from engine.enums import N_CAND_FIELDS, Cand, book_dt, step_dt, trade_dt
from engine.fills import SpreadModel
from engine.instruments import format_instrument, option_names_expr
from engine.instruments.contracts import OPTION_SPECS
from engine.market import RunMarket
from engine.policy.actions import ACTIONS, CLOSE_REASONS, reason_texts
from engine.policy.decide import policy_params
from engine.policy.execution import fee_params
from engine.prepare import CancelledError, PreparedData, score_instants
from engine.replay import nb
from engine.results.schema import TRADES
from engine.volsurface import surface_args

CHUNK = 8192
ACTION_NAMES = [a.name for a in ACTIONS]
CLOSE_REASON_NAMES = [r.name for r in CLOSE_REASONS]
TRADE_NAMES = [c.name for c in TRADES]  # the order of trades.parquet

UTC_US = pl.Datetime("us", "UTC")


def _ns_to_time(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Datetime("ns", "UTC")).cast(UTC_US)


@dataclass
class ReplayOutput:
    """Trades, per-instant equity and per-decision steps of one replay."""

    trades: pl.DataFrame
    equity: pl.DataFrame
    steps: pl.DataFrame


StepsCallback = Callable[[pl.DataFrame, int, int], None]


class Replayer:
    """Replay one run; :meth:`run` may be called once.

    ``qty`` is the coins held; calls are sold on the contracts they cover
    (:meth:`engine.config.StrategyConfig.contracts`), filled as ``spread`` (a
    :class:`engine.fills.SpreadModel`, the shipped calibration by default) and ``cfg.fill_model``
    say.

    ``scored`` (optional) keeps the instants scored on demand, instant -> ``(top_f, top_exp_ns,
    n_candidates)``, for other replays of the same candidate set (equal prepare key, so equal
    scores): a sweep's replays of one group share it and score each instant once.
    """

    def __init__(
        self,
        market: RunMarket,
        prepared: PreparedData,
        cfg: CallSimulationConfig,
        qty: float,
        spread: SpreadModel | None = None,
        scored: dict[int, tuple[np.ndarray, np.ndarray, int]] | None = None,
    ) -> None:
        self.market, self.prepared, self.cfg, self.qty = market, prepared, cfg, qty
        self.scored = scored
        self.contracts = cfg.contracts(qty)
        self.spread = (spread or SpreadModel.default()).spread_params(
            cfg.underlying, cfg.fill_model
        )
        self.ticks = OPTION_SPECS[cfg.underlying].tick_params()
        m = len(market.t_ns)
        self.prep_row = np.full(m, -1, np.int64)
        self.prep_row[prepared.instant_index] = np.arange(len(prepared.instant_index))
        self.spot = np.ascontiguousarray(market.spot)
        self.iv_index = np.ascontiguousarray(market.iv_index)
        self.book = np.zeros(1, book_dt)
        self.book[0]["coins"] = qty
        self.trades = np.zeros(m + 1, trade_dt)  # at most one sale per instant
        self.steps = np.zeros(int(market.is_decision.sum()), step_dt)
        self.eq_coin = np.full(m, np.nan)
        self.call_mark = np.full(m, np.nan)
        self.fees = fee_params(cfg.fees)
        self.policy = policy_params(cfg)
        self.chain_args = replay_arrays(market.chains)
        self.surface = surface_args(cfg.vol_surface)
        self.extra_at = -1  # the instant scored on demand (a take-profit that may roll), if any
        self.extra_rows = np.full((cfg.top_k, N_CAND_FIELDS), np.nan)
        self.extra_exps = np.zeros(cfg.top_k, np.int64)
        self.extra_n = 0
        self.on_demand = 0  # instants scored on demand

    def run(
        self,
        on_steps: StepsCallback | None = None,
        cancel: Callable[[], bool] | None = None,
        chunk: int = CHUNK,
        progress: Callable[[int, int], None] | None = None,
    ) -> ReplayOutput:
        """Replay every instant; ``on_steps(new_steps, done, total)`` and ``progress(done,
        total)`` follow each chunk (the steps' frame is built only for ``on_steps``)."""
        self.replay(on_steps, cancel, chunk, progress)
        return ReplayOutput(self.trades_frame(), self.equity_frame(), self.steps_frame(0))

    def replay(
        self,
        on_steps: StepsCallback | None = None,
        cancel: Callable[[], bool] | None = None,
        chunk: int = CHUNK,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Replay every instant and close an open call at the end, building no table: a sweep
        reads only :meth:`trades_frame` and :meth:`equity_frame` after it."""
        m = len(self.market.t_ns)
        for a in range(0, m, chunk):
            if cancel is not None and cancel():
                raise CancelledError("stopped by user during replay")
            before = int(self.book[0]["n_steps"])
            self._replay(a, min(a + chunk, m))
            if on_steps is not None:
                on_steps(self.steps_frame(before), min(a + chunk, m), m)
            if progress is not None:
                progress(min(a + chunk, m), m)
        nb.close_at_end_nb(
            self.book, self.trades, self.market.t_ns[-1], self.spot[-1], self.call_mark[-1],
            self.contracts,
        )  # fmt: skip

    def _replay(self, a: int, b: int) -> None:
        """Replay instants ``[a, b)``, scoring on demand the instants the kernel stops at."""
        while a < b:
            a = nb.replay_chunk_nb(
                a, b, self.market.t_ns, self.spot, self.iv_index, self.prep_row,
                self.market.is_decision, self.prepared.n_candidates, self.prepared.top_f,
                self.prepared.top_exp_ns, self.market.settle_day0_ns, self.market.settle_price,
                self.market.settle_stale, self.contracts, self.policy, self.fees, self.ticks,
                self.spread, *self.chain_args, self.surface, self.cfg.vol_surface.basis_annual,
                self.book, self.trades, self.steps, self.eq_coin, self.call_mark, self.extra_at,
                self.extra_rows, self.extra_exps, self.extra_n,
            )  # fmt: skip
            if a < b:
                self._score_on_demand(a)

    def _score_on_demand(self, i: int) -> None:
        """Give the kernel instant ``i``'s candidates; the last instant closes the run and has
        none (nothing is sold there, as at a decision it would not be)."""
        self.extra_at = i
        if i == len(self.market.t_ns) - 1:
            self.extra_n = 0
            self.extra_rows[:], self.extra_exps[:] = np.nan, 0
            return
        hit = None if self.scored is None else self.scored.get(i)
        if hit is None:
            top_f, top_exp, n_cand = score_instants(self.market, self.cfg, np.array([i]))
            hit = (top_f[0], top_exp[0], int(n_cand[0]))
            if self.scored is not None:
                self.scored[i] = hit
        self.extra_rows[:], self.extra_exps[:], self.extra_n = hit
        self.on_demand += 1

    def chain_counts(self) -> dict[str, int]:
        """Real chains: instants a take-profit found no ask, and instants the open call was not
        quoted (a gap or missing from its snapshot); zeros on a model chain."""
        b = self.book[0]
        return {"no_ask_instants": int(b["n_no_ask"]), "unquoted_instants": int(b["n_unquoted"])}

    def _best_names(self, prep: np.ndarray) -> pl.Series:
        """Instrument names of the best candidate at prepared rows ``prep`` (-1 or none: null)."""
        has = prep >= 0
        p = np.where(has, prep, 0)
        exp_ns = np.where(has, self.prepared.top_exp_ns[p, 0], 0)
        strike = np.where(has, self.prepared.top_f[p, 0, Cand.strike], np.nan)
        frame = pl.DataFrame({"exp_ns": exp_ns, "strike": strike}).select(
            pl.when(pl.col("exp_ns") > 0).then(_ns_to_time("exp_ns")).alias("expiry"),
            pl.col("strike").fill_nan(None),
        )
        names = option_names_expr(self.cfg.underlying, "expiry", "strike", "C")
        return frame.select(names.alias("best_instrument")).to_series()

    def _sold(self, prep: int, rank: int) -> tuple[str | None, float]:
        """Name and score of the candidate sold at a step (``rank`` -1: none)."""
        if prep < 0 or rank < 0:
            return None, np.nan
        row = self.prepared.top_f[prep, rank]
        expiry = from_ns(int(self.prepared.top_exp_ns[prep, rank]))
        name = format_instrument(self.cfg.underlying, expiry, float(row[Cand.strike]), "C")
        return name, float(row[Cand.score])

    def steps_frame(self, first: int = 0) -> pl.DataFrame:
        """Steps ``first ..`` recorded so far, one row per decision instant."""
        st = self.steps[first : int(self.book[0]["n_steps"])]
        prep = self.prep_row[st["instant"]]
        best = self._best_names(prep)
        cfg = self.cfg

        def columns_at(rows: np.ndarray) -> dict:
            sold = [self._sold(int(prep[i]), int(st["sold_rank"][i])) for i in rows]
            return {
                "best_instrument": best.gather(rows).to_list(),
                "best_score": st["best_score"][rows],
                "sold_instrument": [name for name, _ in sold],
                "sold_score": [score for _, score in sold],
                "min_score": [cfg.min_score_to_trade] * len(rows),
                "captured_share": st["captured_share"][rows],
                "tp_threshold_pct": [cfg.tp_threshold_pct] * len(rows),
                "no_roll": st["no_roll"][rows],
            }

        return pl.DataFrame(
            {
                "time": pl.Series(self.market.t_ns[st["instant"]]).cast(pl.Datetime("ns", "UTC")),
                "candidates": st["n_candidates"].astype(np.int32),
                "best_score": st["best_score"],
                "best_instrument": best,
                "traded": st["sold_rank"] >= 0,
                "exit_style": pl.Series([cfg.exit_style] * len(st), dtype=pl.String),
                "action": pl.Series(ACTION_NAMES, dtype=pl.String).gather(st["action"]),
                "reason": reason_texts(st["action"], columns_at),
            }
        ).with_columns(pl.col("time").cast(UTC_US), pl.col("best_score").fill_nan(None))

    def trades_frame(self) -> pl.DataFrame:
        """Closed trades (a call still open at the end is closed at its mark)."""
        tr = self.trades[: int(self.book[0]["n_trades"])]
        df = pl.DataFrame({name: tr[name] for name in trade_dt.names})
        return (
            df.with_columns(
                _ns_to_time("open_ns").alias("open_time"),
                _ns_to_time("close_ns").alias("close_time"),
                _ns_to_time("expiry_ns").alias("expiry"),
                ((pl.col("expiry_ns") - pl.col("open_ns")) / NS_PER_DAY).alias("dte_at_open"),
                pl.col("iv_at_open") * 100,
                pl.col("settlement_price").fill_nan(None),
                pl.col("settlement_stale").cast(pl.Boolean),
                pl.lit(self.contracts).alias("quantity_coin"),
                pl.Series(CLOSE_REASON_NAMES, dtype=pl.String)
                .gather(tr["close_reason"])
                .alias("close_reason"),
                pl.col("roll_index").cast(pl.Int16),
            )
            .select(
                option_names_expr(self.cfg.underlying, "expiry", "strike", "C").alias(
                    "instrument_name"
                ),
                pl.exclude("instrument_name"),
            )
            .select(TRADE_NAMES)
        )

    def equity_frame(self) -> pl.DataFrame:
        """Equity at every instant, coin and USD, with the HODL benchmark."""
        return (
            pl.DataFrame(
                {
                    "time_ns": self.market.t_ns,
                    "spot": self.spot,
                    "equity_coin": self.eq_coin,
                    "equity_usd": self.eq_coin * self.spot,
                    "hodl_coin": np.full(len(self.spot), self.qty),
                    "hodl_usd": self.qty * self.spot,
                    "call_mark_coin": self.call_mark,
                }
            )
            .select(
                _ns_to_time("time_ns").alias("time"),
                pl.exclude("time_ns"),
                pl.col("call_mark_coin").is_not_nan().alias("call_open"),
            )
            .with_columns(pl.col("call_mark_coin").fill_nan(None))
        )

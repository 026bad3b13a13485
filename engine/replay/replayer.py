"""Replay stepper: walk the prepared scores through time and simulate the covered call.

The numba kernel (:mod:`engine.replay.nb`) runs chunk by chunk, so the driver can publish steps
and progress and honour a cancel flag between chunks. Outputs are polars tables whose columns are
documented in ``docs/data.md``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from cache.timeutil import NS_PER_DAY
from engine.config import CallSimulationConfig
from engine.instruments import option_names_expr
from engine.market import RunMarket
from engine.prepare import CancelledError, PreparedData
from engine.prepare.nb import F_STRIKE
from engine.replay import nb
from engine.volsurface import surface_args

ACTION_NAMES = {
    nb.A_SELL: "sell",
    nb.A_POSITION_OPEN: "position_open",
    nb.A_NO_CANDIDATE: "no_candidate",
    nb.A_BELOW_THRESHOLD: "below_threshold",
    nb.A_ROLLED: "roll",
    nb.A_TOOK_PROFIT: "take_profit",
}
REASON_NAMES = {
    nb.R_EXPIRY: "expiry",
    nb.R_TAKE_PROFIT: "take_profit",
    nb.R_END_OF_DATA: "end_of_data",
}
CHUNK = 8192

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
    """Replay one run; :meth:`run` may be called once."""

    def __init__(
        self, market: RunMarket, prepared: PreparedData, cfg: CallSimulationConfig, qty: float
    ) -> None:
        self.market, self.prepared, self.cfg, self.qty = market, prepared, cfg, qty
        m = len(market.t_ns)
        self.prep_row = np.full(m, -1, np.int64)
        self.prep_row[prepared.instant_index] = np.arange(len(prepared.instant_index))
        self.spot = np.ascontiguousarray(market.spot)
        self.iv_index = np.ascontiguousarray(market.iv_index)
        self.state_f = np.zeros(nb.N_STATE_F)
        self.state_f[nb.S_COINS] = qty
        self.state_i = np.zeros(nb.N_STATE_I, np.int64)
        max_trades = len(prepared.instant_index) + 1
        self.trade_i = np.zeros((max_trades, nb.N_TI), np.int64)
        self.trade_f = np.full((max_trades, nb.N_TF), np.nan)
        n_dec = int(market.is_decision.sum())
        self.step_i = np.zeros((n_dec, 3), np.int64)
        self.step_f = np.full(n_dec, np.nan)
        self.eq_coin = np.full(m, np.nan)
        self.call_mark = np.full(m, np.nan)
        fee = cfg.fees
        self.fees = np.array(
            [
                fee.option_fee_rate,
                fee.option_fee_cap_pct / 100,
                fee.settlement_fee_rate,
                fee.settlement_fee_cap_pct / 100,
                float(fee.settlement_fee_on_dailies),
            ]
        )
        self.policy = np.array(
            [
                1.0 if cfg.exit_style == "tp_and_roll" else 0.0,
                cfg.min_score_to_trade,
                cfg.tp_threshold_pct / 100,
                cfg.max_rolls_per_chain,
                cfg.min_dte_to_roll,
                qty,
            ]
        )

    def run(
        self,
        on_steps: StepsCallback | None = None,
        cancel: Callable[[], bool] | None = None,
        chunk: int = CHUNK,
    ) -> ReplayOutput:
        """Replay every instant; ``on_steps(new_steps, done, total)`` follows each chunk."""
        m = len(self.market.t_ns)
        for a in range(0, m, chunk):
            if cancel is not None and cancel():
                raise CancelledError("stopped by user during replay")
            before = int(self.state_i[nb.I_N_STEPS])
            nb.replay_chunk_nb(
                a, min(a + chunk, m), self.market.t_ns, self.spot, self.iv_index, self.prep_row,
                self.market.is_decision, self.prepared.n_candidates, self.prepared.top_f,
                self.prepared.top_exp_ns, self.market.settle_day0_ns, self.market.settle_price,
                self.policy, self.fees, surface_args(self.cfg.vol_surface),
                self.cfg.vol_surface.basis_annual, self.state_f, self.state_i, self.trade_i,
                self.trade_f, self.step_i, self.step_f, self.eq_coin, self.call_mark,
            )  # fmt: skip
            if on_steps is not None:
                on_steps(self.steps_frame(before), min(a + chunk, m), m)
        nb.close_at_end_nb(
            self.market.t_ns[-1], self.spot[-1], self.call_mark[-1], self.qty,
            self.state_f, self.state_i, self.trade_i, self.trade_f,
        )  # fmt: skip
        return ReplayOutput(self.trades_frame(), self.equity_frame(), self.steps_frame(0))

    def steps_frame(self, first: int = 0) -> pl.DataFrame:
        """Steps ``first ..`` recorded so far, one row per decision instant."""
        last = int(self.state_i[nb.I_N_STEPS])
        rows = self.step_i[first:last]
        inst = rows[:, 0]
        prep = self.prep_row[inst]
        top = self.prepared.top_f
        has = prep >= 0
        safe = np.where(has, prep, 0)
        frame = pl.DataFrame(
            {
                "time_ns": self.market.t_ns[inst],
                "candidates": rows[:, 1].astype(np.int32),
                "best_score": self.step_f[first:last],
                "best_expiry_ns": np.where(has, self.prepared.top_exp_ns[safe, 0], 0),
                "best_strike": np.where(has, top[safe, 0, F_STRIKE], np.nan),
                "action_code": rows[:, 2].astype(np.int8),
            }
        )
        frame = frame.with_columns(
            pl.when(pl.col("best_expiry_ns") > 0).then(_ns_to_time("best_expiry_ns")).alias("e")
        )
        return frame.select(
            _ns_to_time("time_ns").alias("time"),
            "candidates",
            pl.col("best_score").fill_nan(None),
            option_names_expr(self.cfg.underlying, "e", "best_strike", "C").alias(
                "best_instrument"
            ),
            pl.col("action_code").is_in([nb.A_SELL, nb.A_ROLLED]).alias("traded"),
            pl.lit(self.cfg.exit_style).alias("exit_style"),
            pl.col("action_code")
            .replace_strict(ACTION_NAMES, return_dtype=pl.String)
            .alias("action"),
        ).with_columns(_reason_expr(self.cfg.min_score_to_trade).alias("reason"))

    def trades_frame(self) -> pl.DataFrame:
        """Closed trades (a call still open at the end is closed at its mark)."""
        n = int(self.state_i[nb.I_N_TRADES])
        ti, tf = self.trade_i[:n], self.trade_f[:n]
        df = pl.DataFrame(
            {
                "open_ns": ti[:, nb.TI_OPEN_NS],
                "close_ns": ti[:, nb.TI_CLOSE_NS],
                "expiry_ns": ti[:, nb.TI_EXPIRY_NS],
                "strike": tf[:, nb.TF_STRIKE],
                "forward_at_open": tf[:, nb.TF_FORWARD],
                "iv_at_open": tf[:, nb.TF_IV] * 100,
                "delta_at_open": tf[:, nb.TF_DELTA],
                "spot_at_open": tf[:, nb.TF_SPOT_OPEN],
                "score_at_open": tf[:, nb.TF_SCORE],
                "premium_coin": tf[:, nb.TF_PREMIUM],
                "close_price_coin": tf[:, nb.TF_CLOSE_PRICE],
                "reason_code": tf[:, nb.TF_REASON].astype(np.int8),
                "settlement_price": tf[:, nb.TF_SETTLEMENT],
                "spot_at_close": tf[:, nb.TF_SPOT_CLOSE],
                "quantity_coin": np.full(n, self.qty),
                "fees_coin": tf[:, nb.TF_FEES],
                "pnl_coin": tf[:, nb.TF_PNL_COIN],
                "pnl_usd": tf[:, nb.TF_PNL_USD],
                "chain_id": ti[:, nb.TI_CHAIN],
                "roll_index": ti[:, nb.TI_ROLL_INDEX].astype(np.int16),
            }
        )
        return df.with_columns(
            _ns_to_time("open_ns").alias("open_time"),
            _ns_to_time("close_ns").alias("close_time"),
            _ns_to_time("expiry_ns").alias("expiry"),
            pl.col("settlement_price").fill_nan(None),
            pl.col("reason_code")
            .replace_strict(REASON_NAMES, return_dtype=pl.String)
            .alias("close_reason"),
        ).select(
            "open_time",
            "close_time",
            option_names_expr(self.cfg.underlying, "expiry", "strike", "C").alias(
                "instrument_name"
            ),
            "strike",
            "expiry",
            ((pl.col("expiry_ns") - pl.col("open_ns")) / NS_PER_DAY).alias("dte_at_open"),
            "forward_at_open",
            "spot_at_open",
            "iv_at_open",
            "delta_at_open",
            "score_at_open",
            "quantity_coin",
            "premium_coin",
            "close_price_coin",
            "close_reason",
            "settlement_price",
            "spot_at_close",
            "fees_coin",
            "pnl_coin",
            "pnl_usd",
            "chain_id",
            "roll_index",
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


def _reason_expr(min_score: float) -> pl.Expr:
    a, s, inst = (
        pl.col("action"),
        pl.col("best_score").round(2).cast(pl.String),
        pl.col("best_instrument"),
    )
    return (
        pl.when(a == "sell")
        .then(pl.format("sold {} (score {} >= {})", inst, s, pl.lit(f"{min_score:g}")))
        .when(a == "position_open")
        .then(pl.lit("covered call already open: no new sale"))
        .when(a == "no_candidate")
        .then(pl.lit("no call within the DTE and delta bands"))
        .when(a == "below_threshold")
        .then(pl.format("best score {} < {}", s, pl.lit(f"{min_score:g}")))
        .when(a == "roll")
        .then(pl.format("took profit and rolled into {}", inst))
        .otherwise(pl.lit("took profit; no roll (roll limit or too close to expiry)"))
    )

"""The same strategy backtested on the recorded chains and on the model chain, side by side.

Both runs take one :class:`~engine.config.CallSimulationConfig` that differs only in
``option_market``; the model run prices calls on the calibration's surface and quotes them
with its spread model. A run the data cannot support (the model chain needs an IV index over
the window) is reported as unavailable with the reason, not raised.
"""

from typing import Literal

from cache.datasource import DataNotCoveredError
from engine.config import CallSimulationConfig, FieldValueError
from engine.fills import SpreadModel
from engine.modelcheck.report import BacktestDifference, BacktestSide, SideBySide
from engine.simulator import CoveredCallSimulator, SimulationResult

MATCH_TOLERANCE_COIN = 1e-9  # option PnLs closer than this are the same


def _side(
    market: Literal["chains", "model"], res: SimulationResult | None, reason: str | None = None
) -> BacktestSide:
    if res is None:
        return BacktestSide(option_market=market, available=False, reason=reason)
    m, trades = res.metrics, res.trades
    return BacktestSide(
        option_market=market,
        available=True,
        run_id=res.run_id,
        trades=m["num_trades"],
        premium_collected_coin=m["premium_collected_coin"],
        premium_collected_usd=m["premium_collected_usd"],
        fees_paid_coin=m["fees_paid_coin"],
        pnl_coin=float(trades.get_column("pnl_coin").sum()),
        pnl_usd=float(trades.get_column("pnl_usd").sum()),
        final_equity_coin=m["final_equity_coin"],
        final_equity_usd=m["final_equity_usd"],
        win_rate_pct=m["win_rate_pct"] if trades.height else None,
        warnings=res.data["warnings"],
    )


def run_side(
    ds, cfg: CallSimulationConfig, spread: SpreadModel
) -> tuple[BacktestSide, SimulationResult | None]:
    """Backtest ``cfg``; a config the data cannot run comes back unavailable, with the reason."""
    market = "chains" if cfg.option_market == "chains" else "model"
    try:
        res = CoveredCallSimulator(ds, cfg, spread=spread).simulate_policy()
    except (DataNotCoveredError, FieldValueError) as exc:
        return _side(market, None, str(exc)), None
    return _side(market, res), res


def difference(
    chains: BacktestSide, model: BacktestSide, quantity_coin: float, underlying: str
) -> BacktestDifference | None:
    """Model minus real chains, with the verdict in a sentence; None unless both ran."""
    if not (chains.available and model.available):
        return None
    fields = (
        "trades",
        "premium_collected_coin",
        "premium_collected_usd",
        "fees_paid_coin",
        "pnl_coin",
        "pnl_usd",
        "final_equity_coin",
        "final_equity_usd",
    )
    diff = {f: getattr(model, f) - getattr(chains, f) for f in fields}
    both_traded = model.win_rate_pct is not None and chains.win_rate_pct is not None
    diff["win_rate_pct"] = model.win_rate_pct - chains.win_rate_pct if both_traded else None
    d = diff["pnl_coin"]
    verdict = "matches" if abs(d) < MATCH_TOLERANCE_COIN else "flatters" if d > 0 else "penalises"
    pct = 100.0 * d / quantity_coin
    if verdict == "matches":
        sentence = "the model matches the recorded chains: the same option PnL"
    else:
        sentence = (
            f"the model {verdict} the strategy by {abs(d):.6f} {underlying} of option PnL "
            f"({abs(pct):.3f} % of the {quantity_coin:g} {underlying} held, "
            f"{abs(diff['pnl_usd']):,.2f} USD) against the recorded chains"
        )
    return BacktestDifference(**diff, pnl_pct_of_holding=pct, verdict=verdict, sentence=sentence)


def side_by_side(
    ds, cfg: CallSimulationConfig, spread: SpreadModel, model_unavailable: str | None = None
) -> SideBySide:
    """``cfg`` run on the recorded chains and on the model chain (its ``option_market`` is
    replaced by each in turn); the model run is skipped, saying ``model_unavailable``, when
    that is given."""
    chains, res = run_side(ds, cfg.model_copy(update={"option_market": "chains"}), spread)
    if model_unavailable is None:
        model, _ = run_side(ds, cfg.model_copy(update={"option_market": "model"}), spread)
    else:
        model = _side("model", None, model_unavailable)
    quantity = res.quantity_coin if res is not None else None
    diff = None if quantity is None else difference(chains, model, quantity, cfg.underlying)
    return SideBySide(quantity_coin=quantity, chains=chains, model=model, difference=diff)
